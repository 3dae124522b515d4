"""Feature-space positives: new or harder positives made from the view embeddings themselves,
as `FeatureView`s a method applies just before its loss (registered in `METHOD_OPTIONS`).

- `positive_extrapolation`: the two views pushed apart along their difference (Zhu et al.
  2021, "Improving Contrastive Learning by Visualizing Feature Transformation", arXiv
  2108.02982).
- `halp`: a latent positive hallucinated by moving a view toward a prototype of another
  cluster, as far as it stays in its own (Shah et al. 2023, HaLP, arXiv 2304.00387).
- `hallucinator`: an extra positive extrapolated from one view and smoothed by a small learned
  MLP (Wu et al. 2023, "Hallucination Improves the Performance of Unsupervised Visual
  Representation Learning", arXiv 2307.12168).
- `adversarial_positives`: a view turned far along the direction that most lowers its agreement
  with the other view, within a cosine bound of where it was (Lee et al. 2021, CLAPS, arXiv
  2012.07280).

The loss L2-normalises every view, so these work on directions: a view's norm never matters.
Each acts on the first two views (the pair a positive is made from) and keeps any further ones.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.augment.feature_views import FeatureView
from contrastlearn.core.registry import METHOD_OPTIONS

Granularity = Literal["batch", "item", "dimension"]
GRANULARITIES = ("batch", "item", "dimension")


def _first_two(z_views: list[Tensor], name: str) -> tuple[Tensor, Tensor]:
    if len(z_views) < 2:
        raise ValueError(f"{name} makes positives from a pair of views and got "
                         f"{len(z_views)}: use it with a method that compares two views or more")
    return z_views[0], z_views[1]


def _check_dim(z: Tensor, dim: int, name: str) -> None:
    if z.shape[-1] != dim:
        raise ValueError(f"{name} was built for {dim}-dimensional embeddings and got "
                         f"{z.shape[-1]}: set its `dim` to the method's projection_dim")


def _check_cosine(name: str, value: float) -> None:
    if not -1.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [-1, 1) (a cosine below 1); got {value}")


def _beta(alpha: float, shape: tuple[int, ...], device: torch.device) -> Tensor:
    """Beta(alpha, alpha) draws (float32) from the default generator of `device`."""
    concentration = torch.tensor(alpha, device=device)
    return torch.distributions.Beta(concentration, concentration).sample(shape)


def _tangent_direction(base: Tensor, vector: Tensor) -> Tensor:
    """The unit part of `vector`'s rows tangent to the sphere at the unit rows `base` (zero
    where a row of `vector` is parallel to its `base` row)."""
    tangent = vector - (vector * base).sum(-1, keepdim=True) * base
    return F.normalize(tangent, dim=-1)


def _working_dtype(z: Tensor) -> torch.dtype:
    """float32, or float64 for float64 embeddings (half precision is too coarse here)."""
    return torch.promote_types(z.dtype, torch.float32)


@METHOD_OPTIONS.register("positive_extrapolation")
class PositiveExtrapolation(FeatureView):
    """Harder positives: the first two views extrapolated away from each other (Zhu et al.
    2021, arXiv 2108.02982).

    With the unit directions u1, u2 of the two views and lam = 1 + strength * Beta(alpha,
    alpha), in [1, 1 + strength],

        z1' = |z1| (lam u1 + (1 - lam) u2),    z2' = |z2| (lam u2 + (1 - lam) u1),

    the paper's extrapolation of unit-norm embeddings, each kept at its own norm (the loss
    normalises anyway), so that `strength=0` (lam = 1) returns the views unchanged. The
    defaults are the paper's released ImageNet run: alpha = 2.0 for positives (`pos_alpha`; its
    negatives use 1.6, see `negative_interpolation`) and one lam for the whole batch
    (`granularity="batch"`); `"item"` draws one per row, `"dimension"` one per coordinate (the
    paper's dimension-wise ablation). Gradients flow through both views. Views after the
    second are kept as they are.
    """

    def __init__(self, alpha: float = 2.0, strength: float = 1.0,
                 granularity: Granularity = "batch") -> None:
        super().__init__()
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0 (the Beta concentration); got {alpha}")
        if strength < 0:
            raise ValueError(f"strength must be >= 0 (0 leaves the views unchanged); "
                             f"got {strength}")
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}; "
                             f"got {granularity!r}")
        self.alpha = alpha
        self.strength = strength
        self.granularity = granularity

    def forward(self, z_views: list[Tensor]) -> list[Tensor]:
        z1, z2 = _first_two(z_views, "positive_extrapolation")
        batch, dim = z1.shape
        shape = {"batch": (1, 1), "item": (batch, 1), "dimension": (batch, dim)}
        lam = 1.0 + self.strength * _beta(self.alpha, shape[self.granularity], z1.device)
        lam = lam.to(z1.dtype)
        tiny = torch.finfo(z1.dtype).tiny
        norm1 = z1.norm(dim=-1, keepdim=True).clamp_min(tiny)
        norm2 = z2.norm(dim=-1, keepdim=True).clamp_min(tiny)
        # lam z1 + (1 - lam) |z1| u2: exactly z1 when lam = 1
        first = lam * z1 + (1 - lam) * (norm1 / norm2) * z2
        second = lam * z2 + (1 - lam) * (norm2 / norm1) * z1
        return [first, second, *z_views[2:]]


@METHOD_OPTIONS.register("halp")
class HaLP(FeatureView):
    """Hallucinated latent positives (Shah et al. 2023, arXiv 2304.00387): the second view
    moved on the sphere toward another cluster's prototype, appended as a further view.

    The second view's direction s moves toward the prototype of another cluster as far as it
    stays at least as close to its own prototype.

    Prototypes: `num_prototypes` unit centroids of the last `buffer_size` detached second-view
    directions (a ring buffer), refined online by one spherical k-means step per training
    forward (assign each buffered row to its most similar prototype, move each prototype to
    the normalised mean of its rows; a prototype without rows stays). They start as random
    buffered rows once `num_prototypes` rows are in. The paper re-runs a full Riemannian
    k-means on its last 256 queue keys periodically; the buffer of 256 and 20 prototypes
    are its defaults.

    Generation, for s with own prototype p0 (most similar) and a target pt drawn uniformly
    among the others (the paper's default with 20 prototypes): along the great circle from s
    to pt, cos(w) = s.pt, the point at angle theta is x = cos(theta) s + sin(theta) d (d the
    unit tangent toward pt). It stays at least as close to p0 as to pt, x.(p0 - pt) >= 0, for
    theta <= theta_max with, in closed form (a = s.(p0 - pt) >= 0, b = 1 - p0.pt),

        theta_max = atan2(a sin w, b + a cos w),

    the paper's t_max = (1/w) atan(sin w / (K + cos w)), K = b / a, written as an angle.
    `min_cosine` (None: off, the paper's setting) also caps theta at acos(min_cosine), so the
    positive keeps cosine >= min_cosine to the second view. The step is
    theta = (1 - u) theta_max with u ~ U(0, lambda_max) (the paper's `lambda_pos` = 0.8).
    Until the prototypes exist theta = 0: the appended view is s itself.

    As in the paper (its keys come from the momentum encoder), the positive is detached: no
    gradient flows through it, only into the views it is compared with. The paper adds it as
    an extra positive term of the query's loss; here it is a further view of the items, so the
    loss also contrasts it against the negatives. Under DDP the buffers follow rank 0 (DDP
    broadcasts buffers); the generation uses each rank's own rows.
    """

    def __init__(self, dim: int = 128, num_prototypes: int = 20, buffer_size: int = 256,
                 lambda_max: float = 0.8, min_cosine: float | None = None) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be >= 1 (the embedding size); got {dim}")
        if num_prototypes < 2:
            raise ValueError(f"num_prototypes must be >= 2 (a positive moves toward another "
                             f"cluster's prototype); got {num_prototypes}")
        if buffer_size < num_prototypes:
            raise ValueError(f"buffer_size ({buffer_size}) must be >= num_prototypes "
                             f"({num_prototypes}): the prototypes are centroids of its rows")
        if not 0.0 <= lambda_max <= 1.0:
            raise ValueError(f"lambda_max must be in [0, 1]; got {lambda_max}")
        if min_cosine is not None:
            _check_cosine("min_cosine", min_cosine)
        self.dim = dim
        self.num_prototypes = num_prototypes
        self.buffer_size = buffer_size
        self.lambda_max = lambda_max
        self.min_cosine = min_cosine
        self.register_buffer("memory", torch.zeros(buffer_size, dim))
        self.register_buffer("memory_count", torch.zeros((), dtype=torch.long))
        self.register_buffer("memory_pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("prototypes", torch.zeros(num_prototypes, dim))
        self.register_buffer("prototypes_ready", torch.zeros((), dtype=torch.bool))

    def forward(self, z_views: list[Tensor]) -> list[Tensor]:
        _, z2 = _first_two(z_views, "halp")
        _check_dim(z2, self.dim, "halp")
        start = F.normalize(z2.detach().to(self.prototypes.dtype), dim=-1)
        positive = self.hallucinate(start)
        if self.training:
            self.update_prototypes(start)
        return [*z_views, positive.to(z2.dtype)]

    @torch.no_grad()
    def hallucinate(self, start: Tensor) -> Tensor:
        """The positives of the unit rows `start` (see the class docstring)."""
        if not bool(self.prototypes_ready):
            return start.clone()
        prototypes = self.prototypes
        own = (start @ prototypes.T).argmax(dim=1)
        offset = torch.randint(0, self.num_prototypes - 1, own.shape, device=start.device)
        target = offset + (offset >= own).long()  # uniform among the other prototypes
        p0, pt = prototypes[own], prototypes[target]
        cos_w = (start * pt).sum(-1).clamp(-1.0, 1.0)
        sin_w = (1 - cos_w * cos_w).clamp_min(0).sqrt()
        a = (start * (p0 - pt)).sum(-1).clamp_min(0)
        b = (1 - (p0 * pt).sum(-1)).clamp_min(0)
        limit = torch.minimum(torch.atan2(a * sin_w, b + a * cos_w), torch.acos(cos_w))
        if self.min_cosine is not None:
            limit = limit.clamp_max(math.acos(self.min_cosine))
        u = torch.rand(own.shape, device=start.device) * self.lambda_max
        theta = ((1 - u) * limit)[:, None]
        return torch.cos(theta) * start + torch.sin(theta) * _tangent_direction(start, pt)

    @torch.no_grad()
    def update_prototypes(self, start: Tensor) -> None:
        """Push the unit rows `start` into the ring buffer and refine the prototypes."""
        rows = start[-self.buffer_size:]
        count = rows.shape[0]
        slots = (self.memory_pointer + torch.arange(count, device=rows.device)) % self.buffer_size
        self.memory[slots] = rows.to(self.memory.dtype)
        self.memory_pointer.copy_((self.memory_pointer + count) % self.buffer_size)
        self.memory_count.clamp_(max=self.buffer_size - count).add_(count)
        filled = int(self.memory_count)
        if filled < self.num_prototypes:
            return
        data = self.memory[:filled]
        if not bool(self.prototypes_ready):
            first = torch.randperm(filled, device=data.device)[: self.num_prototypes]
            self.prototypes.copy_(data[first])
            self.prototypes_ready.fill_(True)
        assignment = (data @ self.prototypes.T).argmax(dim=1)
        sums = torch.zeros_like(self.prototypes).index_add_(0, assignment, data)
        sizes = torch.bincount(assignment, minlength=self.num_prototypes)
        self.prototypes.copy_(torch.where(sizes[:, None] > 0, F.normalize(sums, dim=-1),
                                          self.prototypes))


@METHOD_OPTIONS.register("hallucinator")
class Hallucinator(FeatureView):
    """An extra positive hallucinated in feature space (Wu et al. 2023, arXiv 2307.12168): the
    first view's direction extrapolated away from the second's, then smoothed by a small
    learned non-linear map, appended as a further view.

        e = u1 + lam (u1 - u2),  lam ~ U(0, strength) per row;   h = e + MLP(e),

    u1, u2 the unit directions of the first two views. Extrapolating one view only, away from
    the other (asymmetric, unlike `positive_extrapolation`), lowers the information the new
    positive shares with the second view; the MLP (Linear(dim, hidden_dim), ReLU,
    Linear(hidden_dim, dim), trained jointly with the method since it sits in the method's
    feature views) smooths it. Its last layer starts at zero, so the hallucinator starts as the
    plain extrapolation and learns the smoothing; with `strength=0` an untrained hallucinator
    appends u1. `dim` (default 128) must be the method's projection_dim. Gradients flow through
    h into both views and the MLP. Defaults follow the paper's setting as we read it (one
    hallucinated positive per pair, extrapolation of at most the pair's own difference); the
    exact lam range is our choice.
    """

    def __init__(self, dim: int = 128, hidden_dim: int | None = None,
                 strength: float = 1.0) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be >= 1 (the embedding size); got {dim}")
        hidden_dim = dim if hidden_dim is None else hidden_dim
        if hidden_dim < 1:
            raise ValueError(f"hidden_dim must be >= 1; got {hidden_dim}")
        if strength < 0:
            raise ValueError(f"strength must be >= 0 (the largest extrapolation); got {strength}")
        self.dim = dim
        self.strength = strength
        self.smooth = nn.Sequential(nn.Linear(dim, hidden_dim), nn.ReLU(),
                                    nn.Linear(hidden_dim, dim))
        nn.init.zeros_(self.smooth[2].weight)
        nn.init.zeros_(self.smooth[2].bias)

    def forward(self, z_views: list[Tensor]) -> list[Tensor]:
        z1, z2 = _first_two(z_views, "hallucinator")
        _check_dim(z1, self.dim, "hallucinator")
        u1, u2 = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
        lam = torch.rand(z1.shape[0], 1, device=z1.device).to(z1.dtype) * self.strength
        extrapolated = u1 + lam * (u1 - u2)
        hallucinated = extrapolated + self.smooth(extrapolated)
        return [*z_views, hallucinated.to(z1.dtype)]


@METHOD_OPTIONS.register("adversarial_positives")
class AdversarialPositives(FeatureView):
    """A hard positive (Lee et al. 2021, CLAPS, arXiv 2012.07280): the first view turned far
    along the gradient that most lowers its agreement with the second, within a cosine bound,
    appended as a further view.

    The first view's direction u turns along the gradient g of the batch's InfoNCE of the
    first view against the second (temperature `temperature`; rows are items, the diagonal
    their positives) and stays within a cosine bound of u.

    CLAPS adds eps g/|g| (eps = 3.0, its `pos_eps`) to a decoder state, then steps back along
    the gradient of a KL term to keep the target likely. On unit vectors the step
    u + eps g_t/|g_t| (g_t: g's tangent part), renormalised, turns u by atan(eps); we replace
    the step back by a projection onto the cap cos(., u) >= `min_cosine` (default 0.8), so the
    positive is

        u' = cos(theta) u + sin(theta) g_t/|g_t|,   theta = min(atan(eps), acos(min_cosine)):

    with the defaults the bound binds (36.9 degrees; atan(3) is 71.6). `epsilon=0` appends u.
    The gradient is taken with `torch.autograd.grad` on a detached copy (no graph kept) and the
    positive is detached, as CLAPS's perturbed states are: no gradient flows through it. It
    sees the local batch only and treats its rows as distinct items.
    """

    def __init__(self, epsilon: float = 3.0, min_cosine: float = 0.8,
                 temperature: float = 0.1) -> None:
        super().__init__()
        if epsilon < 0:
            raise ValueError(f"epsilon must be >= 0 (the step before the bound); got {epsilon}")
        _check_cosine("min_cosine", min_cosine)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0; got {temperature}")
        self.epsilon = epsilon
        self.min_cosine = min_cosine
        self.temperature = temperature

    def forward(self, z_views: list[Tensor]) -> list[Tensor]:
        z1, z2 = _first_two(z_views, "adversarial_positives")
        dtype = _working_dtype(z1)
        other = F.normalize(z2.detach().to(dtype), dim=-1)
        with torch.enable_grad():
            start = F.normalize(z1.detach().to(dtype), dim=-1).requires_grad_()
            logits = F.normalize(start, dim=-1) @ other.T / self.temperature
            targets = torch.arange(start.shape[0], device=start.device)
            (gradient,) = torch.autograd.grad(F.cross_entropy(logits, targets), start)
        start = start.detach()
        theta = min(math.atan(self.epsilon), math.acos(self.min_cosine))
        direction = _tangent_direction(start, gradient)
        positive = math.cos(theta) * start + math.sin(theta) * direction
        return [*z_views, positive.to(z1.dtype)]
