"""Feature-space negatives: synthetic negatives made from the pair table's own embeddings and
appended to each anchor's `extra_negatives` (pair options, registered in `METHOD_OPTIONS`).

- `negative_interpolation`: mixes of two of the anchor's negatives (Zhu et al. 2021,
  "Improving Contrastive Learning by Visualizing Feature Transformation", arXiv 2108.02982).
- `adversarial_negatives`: the anchor's positive moved a small step in the direction that
  lowers its likelihood most (Lee et al. 2021, CLAPS, arXiv 2012.07280).

Both are detached and L2-normalised, as the table's contract asks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from contrastlearn.core.registry import METHOD_OPTIONS
from contrastlearn.objectives.pair_options import MixedNegatives, PairOption, PairTable


@METHOD_OPTIONS.register("negative_interpolation")
class NegativeInterpolation(PairOption):
    """Diversified negatives: `num_negatives` mixes lam n_a + (1 - lam) n_b per anchor of two
    of its negatives (Zhu et al. 2021, arXiv 2108.02982), normalised, detached, appended to the
    table's synthetic negatives.

    The pairs (n_a, n_b) are drawn uniformly, with replacement, among the anchor's current
    negatives (every candidate whose negative log-weight is not -inf, queue rows included), and
    lam ~ Beta(alpha, alpha) once per synthetic negative. The paper mixes its whole queue with a
    shuffled copy of itself, one lam per batch, with alpha = 1.6 (`neg_alpha` of its released
    run; alpha = 1 is U(0, 1)), and contrasts the mixes instead of the queue; here the mixes are
    added to the anchor's own negatives, so no mix ever involves one of its positives.
    `num_negatives` = 256 is about half the negatives of a 256-item, two-view batch; 0 leaves
    the loss plain. An anchor without any negative gets zero vectors (logit 0), which only
    happens when the whole batch is one item (or one class, for SupCon). The mixes are kept as
    indices and coefficients (`MixedNegatives`): the loss scores them from the table's
    similarities without building the (A, K, D) vectors.
    """

    def __init__(self, num_negatives: int = 256, alpha: float = 1.6) -> None:
        super().__init__()
        if num_negatives < 0:
            raise ValueError(f"num_negatives must be >= 0 (synthetic negatives per anchor); "
                             f"got {num_negatives}")
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0 (the Beta concentration); got {alpha}")
        self.num_negatives = num_negatives
        self.alpha = alpha

    def forward(self, table: PairTable) -> PairTable:
        if self.num_negatives == 0:
            return table
        candidates = table.candidates.detach()
        is_negative = table.current_negatives()
        has_negative = is_negative.any(dim=1)
        weights = (is_negative | ~has_negative[:, None]).to(torch.float32)
        count = self.num_negatives
        picks = torch.multinomial(weights, 2 * count, replacement=True)
        concentration = torch.tensor(self.alpha, device=candidates.device)
        lam = torch.distributions.Beta(concentration, concentration).sample(
            (picks.shape[0], count, 1)).to(candidates.dtype)
        # kept as indices: the loss scores the mixes from the table's similarities
        table.extra_negatives.append(MixedNegatives(
            candidates, table.anchors.detach(), picks[:, :count], picks[:, count:],
            lam.squeeze(-1), keep=has_negative))
        return table


@METHOD_OPTIONS.register("adversarial_negatives")
class AdversarialNegatives(PairOption):
    """A hard negative per anchor (Lee et al. 2021, CLAPS, arXiv 2012.07280): its positive
    turned a small step away from the anchor, the direction that lowers its likelihood most.

    CLAPS adds eps g/|g| (eps = 1.0, its `neg_eps`) to the target's states, g the gradient of
    its negative log-likelihood, so the target becomes unlikely while staying close.

    Here the target is the anchor's most similar positive p (positive weight > 0; a unit
    candidate) and its likelihood is its softmax score against the anchor a. The loss's
    gradient with respect to p is parallel to a (p enters only through s_ap = a.p / t), so the
    steepest likelihood-lowering direction on the sphere is the tangent part of -a at p, in
    closed form (no autograd needed):

        n = normalise(p + eps g),   g = -(a - (a.p) p) / |a - (a.p) p|,

    a turn of atan(eps) away from the anchor (45 degrees for eps = 1, just outside the
    36.9-degree cap of `adversarial_positives`' defaults, so no hard negative lies where a
    hard positive may). The anchor is asked to tell its positive from a slightly less aligned
    copy of it. n is detached and appended as one synthetic negative per anchor; where a is
    parallel to p, n = p.
    """

    def __init__(self, epsilon: float = 1.0) -> None:
        super().__init__()
        if epsilon < 0:
            raise ValueError(f"epsilon must be >= 0 (the step away from the anchor); "
                             f"got {epsilon}")
        self.epsilon = epsilon

    def forward(self, table: PairTable) -> PairTable:
        similarity = table.similarity.detach()
        count, width = similarity.shape
        rows, columns, _ = table.positive_entries()
        cosines = similarity[rows, columns]
        best = torch.full((count,), float("-inf"), dtype=cosines.dtype, device=rows.device)
        best = best.scatter_reduce(0, rows, cosines, "amax")
        # the first column of the largest cosine, as argmax; column 0 without any positive
        first = torch.full((count,), width, device=rows.device).scatter_reduce(
            0, rows, torch.where(cosines == best[rows], columns, width), "amin")
        closest = first.masked_fill(first == width, 0)
        positive = table.candidates.detach()[closest]
        anchor = table.anchors.detach()
        toward_anchor = anchor - (anchor * positive).sum(-1, keepdim=True) * positive
        negative = positive - self.epsilon * F.normalize(toward_anchor, dim=-1)
        table.extra_negatives.append(F.normalize(negative, dim=-1)[:, None, :])
        return table
