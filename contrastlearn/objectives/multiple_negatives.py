"""Multiple negatives ranking: each anchor must rank its own positive first among every
positive (and hard negative) of the batch.

Henderson et al., 2017, "Efficient Natural Language Response Suggestion for Smart Reply",
arXiv 1705.00652 (the loss of sentence-transformers' MultipleNegativesRankingLoss); the
hard-negative weight of supervised SimCSE (Gao et al., 2021, arXiv 2104.08821).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.distributed import gather_with_grad, global_ids, is_distributed, rank
from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._pairs import check_ids, cosine_matrix, pair_metrics
from contrastlearn.objectives.base import LossOutput


@OBJECTIVES.register("multiple_negatives_ranking")
class MultipleNegativesRanking(nn.Module):
    """Cross-entropy over cosine scores: anchor i against the candidates [positives (B), hard
    negatives (B*m)], target its own positive i, scores = cosine * `scale`.

    Id masks: a positive j != i with the anchor's item id (a duplicate text) is left out of
    anchor i's denominator, so duplicates are never negatives of each other; hard negatives are
    taken to be other items. `hard_negative_weight` (log alpha of supervised SimCSE) is added to
    the logits of each anchor's own hard negatives. `symmetric=True` averages the loss with the
    positive -> anchor direction (each positive against the anchors, without hard negatives).

    With `gather=True` in a multi-process run the local anchors rank the positives and hard
    negatives of every process, laid out as [all positives in rank order, then all hard
    negatives in rank order], so anchor i of rank r targets column r * B + i (the column-order
    mix-up that peers shipped cannot happen: the two blocks are gathered separately).
    """

    def __init__(
        self, scale: float = 20.0, symmetric: bool = False, hard_negative_weight: float = 0.0,
        gather: bool = False,
    ) -> None:
        super().__init__()
        if scale <= 0:
            raise ValueError(f"scale (1 / temperature) must be > 0; got {scale}")
        self.scale = float(scale)
        self.symmetric = symmetric
        self.hard_negative_weight = float(hard_negative_weight)
        self.gather = gather

    def forward(
        self,
        anchors: Tensor,
        positives: Tensor,
        hard_negatives: Tensor | None = None,
        *,
        ids: Tensor | None = None,
        labels: Tensor | None = None,
    ) -> LossOutput:
        """anchors, positives: (B, D); hard_negatives: (B, D) or (B, m, D), row i belonging to
        anchor i; ids: (B,) item ids of the anchors. `labels` is accepted and unused."""
        if anchors.dim() != 2 or positives.shape != anchors.shape:
            raise ValueError(
                "anchors and positives must both be (batch, dim); got "
                f"{tuple(anchors.shape)} and {tuple(positives.shape)}"
            )
        batch = anchors.shape[0]
        gathering = self.gather and is_distributed()
        offset = rank() * batch if gathering else 0
        ids = (check_ids(ids, batch, anchors.device) if ids is not None
               else torch.arange(offset, offset + batch, device=anchors.device))
        hard = _hard_negative_rows(hard_negatives, anchors.shape)
        anchors = F.normalize(anchors, dim=-1)
        positives = F.normalize(positives, dim=-1)
        every = gather_with_grad if gathering else (lambda tensor: tensor)
        all_positives = every(positives)  # (N, D), N the global batch
        all_ids = global_ids(ids) if gathering else ids
        total = all_positives.shape[0]
        candidates = (all_positives if hard is None
                      else torch.cat([all_positives, every(hard).flatten(0, 1)]))
        similarity = cosine_matrix(anchors, candidates)  # (B, N + N*m)
        targets = torch.arange(offset, offset + batch, device=anchors.device)
        own = F.one_hot(targets, total).bool()  # (B, N)
        duplicate = (ids[:, None] == all_ids[None, :]) & ~own
        excluded = F.pad(duplicate, (0, candidates.shape[0] - total))
        logits = similarity * self.scale
        if hard is not None and self.hard_negative_weight != 0.0:
            own_hard = F.pad(own.repeat_interleave(hard.shape[1], dim=1), (total, 0))
            logits = logits + own_hard.to(logits.dtype) * self.hard_negative_weight
        logits = logits.masked_fill(excluded, torch.finfo(logits.dtype).min)
        loss = F.cross_entropy(logits, targets)
        if self.symmetric:
            backward = (cosine_matrix(positives, every(anchors)) * self.scale).masked_fill(
                duplicate, torch.finfo(logits.dtype).min
            )
            loss = (loss + F.cross_entropy(backward, targets)) / 2
        positive_mask = F.pad(own, (0, candidates.shape[0] - total))
        metrics: dict[str, Tensor | float] = pair_metrics(
            similarity, positive_mask, ~positive_mask & ~excluded
        )
        if hard is not None:
            metrics["hard_negative_similarity"] = (
                (anchors[:, None, :] * hard.detach()).sum(-1).mean().detach()
            )
        return LossOutput(loss, metrics)

    def extra_repr(self) -> str:
        return (f"scale={self.scale}, symmetric={self.symmetric}, "
                f"hard_negative_weight={self.hard_negative_weight}, gather={self.gather}")


def _hard_negative_rows(hard_negatives: Tensor | None, shape: torch.Size) -> Tensor | None:
    """Hard negatives as (B, m, D) normalised rows, or None."""
    if hard_negatives is None:
        return None
    if hard_negatives.dim() == 2:
        hard_negatives = hard_negatives[:, None, :]
    batch, dim = shape
    if hard_negatives.dim() != 3 or hard_negatives.shape[0] != batch or (
        hard_negatives.shape[2] != dim
    ):
        raise ValueError(
            f"hard_negatives must be ({batch}, {dim}) or ({batch}, m, {dim}), one row (or m) "
            f"per anchor; got {tuple(hard_negatives.shape)}"
        )
    return F.normalize(hard_negatives, dim=-1)
