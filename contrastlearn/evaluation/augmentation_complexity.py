"""Augmentation complexity: an empirical estimate of kappa from the RKHS view of augmentation
(Zhai, Liu, Risteski, Kolter & Ravikumar 2023, "Understanding Augmentation-based
Self-Supervised Representation Learning via RKHS Approximation and Regression", arXiv
2306.00788).

An augmentation A(a | x) ties inputs together through the views they share. Its kernel on the
inputs is

    K(x, x') = integral A(a | x) A(a | x') / p_A(a) da,      p_A(a) = E_x A(a | x),

and the paper's augmentation complexity is the bound of that kernel on its diagonal,

    kappa^2 = ess sup_x K(x, x)       (K(x, x) = 1 + chi^2(A(. | x) || p_A) >= 1),

the constant that the estimation error of a linear probe (RKHS regression) grows with. The
operator f -> E_x' K(., x') f(x') has eigenvalues 1 = lambda_1 >= lambda_2 >= ...; the encoder
that pretraining approximates spans the top-d eigenfunctions, and how fast the eigenvalues
decay says how much of the augmentation's structure d dimensions keep.

What is computed. On the empirical distribution of N inputs, with the Bayes rule
A(a | x_j) / p_A(a) = N P(j | a) (P(j | a): the posterior that view a came from input j),

    G_ij = K(x_i, x_j) / N = E_{a ~ A(. | x_i)} P(j | a),

a symmetric, doubly stochastic matrix whose eigenvalues are the lambda's above, and
kappa^2 = N max_i G_ii: N times the best chance that a view is traced back to its own input.
The densities are unknown, so P(j | a) is estimated from M views per input embedded by a fixed
feature map phi (an encoder, or the raw inputs): each input's views are modelled as an
isotropic Gaussian around their mean, with one pooled variance s^2 per dimension, and each view
is softly assigned to the input centres (a soft nearest-centre assignment), leaving its own
view index out of every centre so the query never sees itself:

    mu_j^(-m) = mean_{m' != m} phi(a_jm'),
    s^2 = sum_{i, m} ||phi(a_im) - mean_m' phi(a_im')||^2 / (N (M - 1) D),
    P^(j | a_im) = softmax_j( -||phi(a_im) - mu_j^(-m)||^2 / (2 s^2 M / (M - 1)) ),
    G^_ij = mean_m P^(j | a_im),      G^ <- (G^ + G^T) / 2,
    kappa^ = sqrt(N max_i G^_ii),     kappa_mean = sqrt(N mean_i G^_ii) = sqrt(trace G^).

(s^2 M / (M - 1) is the variance of a fresh view around a centre of M - 1 others.) Views that
never vary (s = 0) are assigned to the nearest centre, ties shared equally. Known cases: views
equal to their input give G = I, every eigenvalue 1 and kappa = sqrt(N), the largest possible;
views that forget the input give G = 11^T / N and kappa = 1, the smallest; views that only keep
which of k equal clusters an input is in give a block matrix with k eigenvalues 1, the rest 0,
and kappa = sqrt(k). So a stronger augmentation gives a smaller kappa.

kappa^2 is relative to the sample (it lies in [1, N]); compare values on the same sample, e.g.
across the strengths of one sweep. The max over N noisy self-assignments errs upwards;
`kappa_mean` is the steadier average.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from contrastlearn.evaluation.features import extract_embeddings

MAX_RAW_DIM = 256
"""Raw inputs with more features than this are mapped to this many by one seeded Gaussian
random projection (distances kept up to a few percent, Johnson-Lindenstrauss), so the estimate
stays cheap for large inputs."""


@dataclass(frozen=True)
class AugmentationComplexity:
    """The estimate of `augmentation_complexity` (see the module docstring for the formulas).

    `kernel` is the (N, N) normalised augmentation kernel G^ (float64), `eigenvalues` its top-d
    eigenvalues in decreasing order, `bandwidth` the pooled per-dimension standard deviation s
    of the views around their input's centre in feature space."""

    kappa: float
    kappa_mean: float
    eigenvalues: tuple[float, ...]
    kernel: Tensor
    bandwidth: float
    num_samples: int
    num_views: int

    def to_dict(self) -> dict[str, Any]:
        """Everything but the kernel matrix, JSON-ready."""
        return {"kappa": self.kappa, "kappa_mean": self.kappa_mean,
                "eigenvalues": list(self.eigenvalues), "bandwidth": self.bandwidth,
                "num_samples": self.num_samples, "num_views": self.num_views}


def _draw_views(views: Callable[[Any, torch.Generator], Any], x: Any, num_views: int,
                generator: torch.Generator) -> list[Any]:
    """`num_views` views of `x`: `views` is called until it has made enough (a Views object
    makes several per call, a single augmentation one)."""
    drawn: list[Any] = []
    while len(drawn) < num_views:
        made = views(x, generator)
        made = [made] if isinstance(made, Tensor) else list(made)
        if not made:
            raise ValueError("the view policy returned no views; give it at least one pipeline")
        drawn += made
    return drawn[:num_views]


def _raw_features(batches: list[Any], max_dim: int, seed: int) -> list[Tensor]:
    if not all(isinstance(batch, Tensor) for batch in batches):
        raise ValueError("raw features need tensor views; pass feature_map (an encoder) for "
                         "structured batches")
    shapes = {tuple(batch.shape) for batch in batches}
    if len(shapes) != 1:
        raise ValueError(f"raw features need views of one shape, got {sorted(shapes)}; pass "
                         "feature_map (an encoder) for multi-crop views")
    flat = [batch.detach().flatten(1).double().cpu() for batch in batches]
    dim = flat[0].shape[1]
    if dim <= max_dim:
        return flat
    generator = torch.Generator().manual_seed(seed)
    projection = torch.randn(dim, max_dim, generator=generator, dtype=torch.float64)
    projection /= math.sqrt(max_dim)
    return [features @ projection for features in flat]


def _embed(batches: list[Any], feature_map: nn.Module | Callable[[Any], Tensor] | None,
           device: str | torch.device | None, seed: int) -> Tensor:
    """(M, N, D) float64 features of the M view batches."""
    if feature_map is None:
        embedded = _raw_features(batches, MAX_RAW_DIM, seed)
    elif isinstance(feature_map, nn.Module):
        embedded = [extract_embeddings(feature_map, batch, device=device).double()
                    for batch in batches]
    else:
        with torch.no_grad():
            embedded = [feature_map(batch) for batch in batches]
        for features in embedded:
            if not isinstance(features, Tensor) or features.dim() != 2:
                shape = tuple(features.shape) if isinstance(features, Tensor) else type(features)
                raise ValueError(f"feature_map must return (batch, dim) tensors, got {shape}")
        embedded = [features.detach().double().cpu() for features in embedded]
    shapes = {tuple(features.shape) for features in embedded}
    if len(shapes) != 1:
        raise ValueError(f"every view must embed to one (N, D) shape, got {sorted(shapes)}")
    return torch.stack(embedded)


def _soft_assignment(queries: Tensor, centres: Tensor, temperature: float) -> Tensor:
    """(N, N) posterior over the centres of each query row: softmax of -distance^2 / temperature,
    or, with temperature 0, the nearest centre(s), ties shared equally."""
    squared = (queries.pow(2).sum(1, keepdim=True) - 2 * queries @ centres.T
               + centres.pow(2).sum(1)).clamp_min(0)
    if temperature > 0:
        return torch.softmax(-squared / temperature, dim=1)
    nearest = (squared == squared.min(dim=1, keepdim=True).values).double()
    return nearest / nearest.sum(dim=1, keepdim=True)


@torch.no_grad()
def augmentation_complexity(
    views: Callable[[Any, torch.Generator], Any], x: Any, *, num_views: int = 8,
    feature_map: nn.Module | Callable[[Any], Tensor] | None = None, top_d: int = 10,
    seed: int = 0, device: str | torch.device | None = None,
) -> AugmentationComplexity:
    """Estimate the augmentation complexity kappa of the view policy `views` on the inputs `x`
    (Zhai et al. 2023, arXiv 2306.00788), and the top-`top_d` eigenvalues of its normalised
    augmentation kernel; the module docstring gives the formulas.

    `views(batch, generator)` is a Views object (a list of views per call) or one augmentation
    (a batch per call); it is called with one generator seeded with `seed` until `num_views`
    (M >= 2) views per input exist. `feature_map` embeds each view batch to (N, D): an
    `nn.Module` (run frozen in eval mode on `device`), any callable, or None for the flattened
    raw inputs (projected to 256 dimensions when larger). Deterministic for a given seed."""
    if int(num_views) < 2:
        raise ValueError(f"num_views must be >= 2 (each view is compared with the others of "
                         f"its input), got {num_views}")
    if int(top_d) < 1:
        raise ValueError(f"top_d must be >= 1, got {top_d}")
    if isinstance(x, Tensor) and (x.dim() == 0 or x.shape[0] < 2):
        count = 0 if x.dim() == 0 else x.shape[0]
        raise ValueError(f"augmentation complexity needs at least 2 samples, got {count}")
    generator_device = x.device if isinstance(x, Tensor) else torch.device("cpu")
    generator = torch.Generator(device=generator_device).manual_seed(int(seed))
    features = _embed(_draw_views(views, x, int(num_views), generator), feature_map, device,
                      int(seed))
    num_views, num_samples, dim = features.shape
    if num_samples < 2:
        raise ValueError(f"augmentation complexity needs at least 2 samples, got {num_samples}")
    centres = features.mean(dim=0)
    variance = float((features - centres).pow(2).sum()) / (num_samples * (num_views - 1) * dim)
    temperature = 2 * variance * num_views / (num_views - 1)
    kernel = torch.zeros(num_samples, num_samples, dtype=torch.float64)
    for view in range(num_views):
        held_out = (num_views * centres - features[view]) / (num_views - 1)
        kernel += _soft_assignment(features[view], held_out, temperature)
    kernel /= num_views
    kernel = (kernel + kernel.T) / 2
    self_match = kernel.diagonal()
    eigenvalues = torch.linalg.eigvalsh(kernel).flip(0)[:int(top_d)]
    return AugmentationComplexity(
        kappa=math.sqrt(num_samples * float(self_match.max())),
        kappa_mean=math.sqrt(num_samples * float(self_match.mean())),
        eigenvalues=tuple(float(value) for value in eigenvalues), kernel=kernel,
        bandwidth=math.sqrt(variance), num_samples=num_samples, num_views=num_views)
