"""TS2Vec's max-pooling pyramid walked by hand, for loop references of the hierarchical loss."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

Term = Callable[[Tensor, Tensor, int], float]


def pyramid_loss(first: Tensor, second: Tensor, instance_term: Term, temporal_term: Term,
                 alpha: float = 0.5, temporal_unit: int = 0) -> float:
    """At each scale (pooling by 2 along time while more than one step is left): alpha times
    `instance_term` on groups over the batch (T, B, D), then 1 - alpha times `temporal_term`
    on groups over time (B, T, D) from scale `temporal_unit` on; the one-step scale adds the
    instance term only. Terms get the scale index; the sum is averaged over scales."""
    total, scale = 0.0, 0
    while first.shape[1] > 1:
        total += alpha * instance_term(first.transpose(0, 1), second.transpose(0, 1), scale)
        if scale >= temporal_unit:
            total += (1 - alpha) * temporal_term(first, second, scale)
        scale += 1
        first = F.max_pool1d(first.transpose(1, 2), 2).transpose(1, 2)
        second = F.max_pool1d(second.transpose(1, 2), 2).transpose(1, 2)
    total += alpha * instance_term(first.transpose(0, 1), second.transpose(0, 1), scale)
    return total / (scale + 1)
