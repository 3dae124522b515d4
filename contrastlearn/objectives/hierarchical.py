"""TS2Vec's hierarchical contrastive loss (Yue et al. 2022, arXiv 2106.10466).

Two views' per-timestamp representations of the same time span, (B, T, D) each, are
contrasted at every scale of a max-pooling pyramid (pool by 2 along time until one step is
left):
- instance-wise: at each timestamp, a series' other view is the positive among all 2B
  representations of that timestamp (the rest of the batch are negatives);
- temporal: within each series, the same timestamp of the other view is the positive among
  all 2T timestamps of both views.
Scores are plain dot products (no normalisation, no temperature), as in the paper. The loss
is alpha * instance + (1 - alpha) * temporal, averaged over scales; the temporal term starts
at scale `temporal_unit`, and the final one-step scale has only the instance term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.objectives.base import LossOutput
from contrastlearn.registry import OBJECTIVES


def _pairwise_cross_entropy(first: Tensor, second: Tensor) -> Tensor:
    """Groups (G, N, D) of N items per view: for each of the 2N items of a group, cross-entropy
    of finding its counterpart in the other view among the other 2N - 1 items."""
    items = first.shape[1]
    both = torch.cat([first, second], dim=1)  # (G, 2N, D)
    scores = both @ both.transpose(1, 2)
    eye = torch.eye(2 * items, dtype=torch.bool, device=both.device)
    scores = scores.masked_fill(eye, float("-inf"))
    rows = torch.arange(2 * items, device=both.device)
    targets = torch.where(rows < items, rows + items, rows - items)
    return F.cross_entropy(scores.reshape(-1, 2 * items), targets.repeat(both.shape[0]))


def instance_contrastive(first: Tensor, second: Tensor) -> Tensor:
    """Per timestamp, contrast the B series of two views (B, T, D); 0 for B == 1."""
    if first.shape[0] == 1:
        return first.new_zeros(())
    return _pairwise_cross_entropy(first.transpose(0, 1), second.transpose(0, 1))


def temporal_contrastive(first: Tensor, second: Tensor) -> Tensor:
    """Per series, contrast the T timestamps of two views (B, T, D); 0 for T == 1."""
    if first.shape[1] == 1:
        return first.new_zeros(())
    return _pairwise_cross_entropy(first, second)


@OBJECTIVES.register("hierarchical_contrastive")
class HierarchicalContrastive(nn.Module):
    """TS2Vec's loss over a max-pooling pyramid of two (B, T, D) views (see module docstring)."""

    def __init__(self, alpha: float = 0.5, temporal_unit: int = 0) -> None:
        super().__init__()
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if temporal_unit < 0:
            raise ValueError(f"temporal_unit must be >= 0, got {temporal_unit}")
        self.alpha, self.temporal_unit = float(alpha), int(temporal_unit)

    def forward(self, first: Tensor, second: Tensor) -> LossOutput:
        if first.dim() != 3 or first.shape != second.shape:
            raise ValueError(f"views must be (B, T, D) of one shape; got {tuple(first.shape)} "
                             f"and {tuple(second.shape)}")
        total, scales = first.new_zeros(()), 0
        instance_terms, temporal_terms = [], []
        while first.shape[1] > 1:
            if self.alpha > 0:
                term = instance_contrastive(first, second)
                instance_terms.append(term.detach())
                total = total + self.alpha * term
            if scales >= self.temporal_unit and self.alpha < 1:
                term = temporal_contrastive(first, second)
                temporal_terms.append(term.detach())
                total = total + (1 - self.alpha) * term
            scales += 1
            first = F.max_pool1d(first.transpose(1, 2), 2).transpose(1, 2)
            second = F.max_pool1d(second.transpose(1, 2), 2).transpose(1, 2)
        if self.alpha > 0:
            term = instance_contrastive(first, second)
            instance_terms.append(term.detach())
            total = total + self.alpha * term
        scales += 1
        metrics = {"scales": float(scales)}
        if instance_terms:
            metrics["instance_loss"] = torch.stack(instance_terms).mean()
        if temporal_terms:
            metrics["temporal_loss"] = torch.stack(temporal_terms).mean()
        return LossOutput(total / scales, metrics)
