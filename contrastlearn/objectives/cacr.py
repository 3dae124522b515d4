"""CACR: contrastive attraction and contrastive repulsion, a doubly contrastive loss that
compares positives among themselves and negatives among themselves instead of one positive
against many negatives.

Zheng et al., 2021, "Contrastive Attraction and Contrastive Repulsion for Representation
Learning", arXiv 2105.03746 (TMLR 2023). With unit-norm embeddings and the squared distance
c(i, j) = ||z_i - z_j||^2 = 2 - 2 cos_ij, every anchor i is pulled towards its positives P(i)
and pushed from its negatives N(i) under two conditional distributions:

    pi+(j | i) = exp(+t_pos * c(i, j)) / sum_{p in P(i)} exp(+t_pos * c(i, p))   j in P(i)
    pi-(j | i) = exp(-t_neg * c(i, j)) / sum_{n in N(i)} exp(-t_neg * c(i, n))   j in N(i)

    loss = mean_i sum_{p in P(i)} pi+(p | i) c(i, p)  -  mean_i sum_{n in N(i)} pi-(n | i) c(i, n)

so distant positives attract more (contrastive attraction) and close negatives repel more
(contrastive repulsion); t_pos = t_neg = 0 gives the mean attraction minus the mean repulsion.
The loss lies in [-4, 4]. The weights pi are the paper's sampling distributions of positives
and negatives given the anchor, so by default they are computed without gradients (an
importance weight, not a path for the encoder to move the loss through); the authors' code was
not at hand to confirm that convention, and `detach_weights=False` differentiates through
the weights too.

P(i) and N(i) come from item ids as in InfoNCE: the other views of the same item are
positives (several with more than two views), rows of other items are negatives. Defaults
t_pos = 1 and t_neg = 2, not checked against the paper's tables (with two views each anchor
has one positive, and t_pos has no effect).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._pairs import (
    build_view_pairs,
    cosine_matrix,
    masked_mean,
    pair_metrics,
)
from contrastlearn.objectives.base import LossOutput

__all__ = ["CACR", "conditional_weights"]


def conditional_weights(scores: Tensor, mask: Tensor) -> Tensor:
    """softmax of `scores` over the entries where `mask` is True, row by row; 0 elsewhere and
    on rows without any such entry."""
    lowest = torch.finfo(scores.dtype).min
    weights = torch.softmax(scores.masked_fill(~mask, lowest), dim=1)
    return weights * mask


@OBJECTIVES.register("cacr")
class CACR(nn.Module):
    """Contrastive attraction and contrastive repulsion (Zheng et al. 2021, arXiv 2105.03746):
    distance-weighted attraction of positives minus distance-weighted repulsion of negatives,
    on unit-norm embeddings, with `gather=True` taking negatives from every process."""

    def __init__(self, pos_temperature: float = 1.0, neg_temperature: float = 2.0,
                 detach_weights: bool = True, gather: bool = False) -> None:
        super().__init__()
        if pos_temperature < 0 or neg_temperature < 0:
            raise ValueError("cacr pos_temperature and neg_temperature must be >= 0; got "
                             f"{pos_temperature} and {neg_temperature}")
        self.pos_temperature = float(pos_temperature)
        self.neg_temperature = float(neg_temperature)
        self.detach_weights = detach_weights
        self.gather = gather

    def forward(self, z_views: Sequence[Tensor], *, labels: Tensor | None = None,
                ids: Tensor | None = None) -> LossOutput:
        """z_views: V >= 2 tensors (B, D); ids: (B,) item ids. `labels` is accepted for a
        uniform interface and unused."""
        pairs = build_view_pairs(z_views, ids, gather=self.gather, objective="CACR")
        similarity = cosine_matrix(pairs.anchors, pairs.candidates)
        distance = (2.0 - 2.0 * similarity).clamp_min(0.0)
        same_id = pairs.same_id_mask()
        positive_mask = same_id & ~pairs.self_mask()
        negative_mask = ~same_id
        source = distance.detach() if self.detach_weights else distance
        attract = conditional_weights(self.pos_temperature * source, positive_mask)
        repel = conditional_weights(-self.neg_temperature * source, negative_mask)
        attraction = (attract * distance).sum(dim=1)
        repulsion = (repel * distance).sum(dim=1)
        attraction = masked_mean(attraction, positive_mask.any(dim=1))
        repulsion = masked_mean(repulsion, negative_mask.any(dim=1))
        metrics = pair_metrics(similarity, positive_mask, negative_mask)
        metrics.update(attraction=attraction.detach(), repulsion=repulsion.detach())
        return LossOutput(attraction - repulsion, metrics)
