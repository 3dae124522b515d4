"""Barlow Twins: make the cross-correlation of two views' embeddings the identity.

Zbontar et al., 2021, "Barlow Twins: Self-Supervised Learning via Redundancy Reduction",
arXiv 2103.03230.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from contrastlearn.core.distributed import is_distributed
from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._pairs import gather_views_with_grad
from contrastlearn.objectives.base import LossOutput, stack_views


def standardise(z: Tensor, epsilon: float) -> Tensor:
    """Per-dimension zero mean and unit (biased) variance over the batch, like BatchNorm1d
    without affine parameters (the official code)."""
    centred = z - z.mean(dim=0)
    return centred / torch.sqrt(centred.pow(2).mean(dim=0) + epsilon)


@OBJECTIVES.register("barlow_twins")
class BarlowTwins(nn.Module):
    """sum_i (1 - C_ii)^2 + lambda_offdiag * sum_{i != j} C_ij^2, with C the (D, D)
    cross-correlation of the two views standardised over the (global when gather=True) batch
    (Zbontar et al., 2021, arXiv 2103.03230). Not divided by D, as in the paper."""

    def __init__(self, lambda_offdiag: float = 5e-3, gather: bool = False, epsilon: float = 1e-5):
        super().__init__()
        self.lambda_offdiag = lambda_offdiag
        self.gather = gather
        self.epsilon = epsilon

    def forward(
        self,
        z_views: Sequence[Tensor],
        *,
        labels: Tensor | None = None,
        ids: Tensor | None = None,
    ) -> LossOutput:
        """z_views: exactly 2 tensors (B, D); `labels` and `ids` are unused."""
        stacked = stack_views(z_views)
        if stacked.shape[0] != 2:
            raise ValueError(f"BarlowTwins needs exactly 2 views; got {stacked.shape[0]}")
        if self.gather and is_distributed():
            stacked = gather_views_with_grad(stacked)
        if stacked.dtype in (torch.float16, torch.bfloat16):
            stacked = stacked.float()
        batch_size = stacked.shape[1]
        if batch_size < 2:
            raise ValueError("BarlowTwins needs a batch of at least 2 to standardise over")
        view_a = standardise(stacked[0], self.epsilon)
        view_b = standardise(stacked[1], self.epsilon)
        correlation = view_a.T @ view_b / batch_size  # (D, D)
        diagonal = torch.diagonal(correlation)
        on_diagonal = (1.0 - diagonal).pow(2).sum()
        off_diagonal = correlation.pow(2).sum() - diagonal.pow(2).sum()
        loss = on_diagonal + self.lambda_offdiag * off_diagonal
        metrics = {
            "on_diagonal": on_diagonal.detach(),
            "off_diagonal": off_diagonal.detach(),
            "mean_diagonal_correlation": diagonal.detach().mean(),
        }
        return LossOutput(loss, metrics)
