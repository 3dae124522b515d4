"""VICReg: variance-invariance-covariance regularisation of two views' embeddings.

Bardes, Ponce & LeCun, 2022, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning", arXiv 2105.04906.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.distributed import is_distributed
from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._pairs import gather_views_with_grad
from contrastlearn.objectives.base import LossOutput, stack_views


def variance_term(z: Tensor, epsilon: float) -> Tensor:
    """mean_d relu(1 - sqrt(Var_batch(z_d) + epsilon)), unbiased variance."""
    std = torch.sqrt(z.var(dim=0) + epsilon)
    return F.relu(1.0 - std).mean()


def covariance_term(z: Tensor) -> Tensor:
    """Sum of squared off-diagonal entries of the (unbiased) covariance, divided by D."""
    batch_size, dim = z.shape
    centred = z - z.mean(dim=0)
    covariance = centred.T @ centred / (batch_size - 1)
    return (covariance.pow(2).sum() - torch.diagonal(covariance).pow(2).sum()) / dim


@OBJECTIVES.register("vicreg")
class VICReg(nn.Module):
    """invariance_weight * MSE(z_a, z_b) + variance_weight * (v(z_a) + v(z_b)) / 2
    + covariance_weight * (c(z_a) + c(z_b)), as in the official code of Bardes et al., 2022
    (arXiv 2105.04906). With gather=True the invariance term stays on the local pairs and the
    variance and covariance terms use the global batch (as the official code)."""

    def __init__(
        self,
        invariance_weight: float = 25.0,
        variance_weight: float = 25.0,
        covariance_weight: float = 1.0,
        epsilon: float = 1e-4,
        gather: bool = False,
    ) -> None:
        super().__init__()
        self.invariance_weight = invariance_weight
        self.variance_weight = variance_weight
        self.covariance_weight = covariance_weight
        self.epsilon = epsilon
        self.gather = gather

    def forward(
        self,
        z_views: Sequence[Tensor],
        *,
        labels: Tensor | None = None,
        ids: Tensor | None = None,
    ) -> LossOutput:
        """z_views: exactly 2 tensors (B, D), B >= 2; `labels` and `ids` are unused."""
        stacked = stack_views(z_views)
        if stacked.shape[0] != 2:
            raise ValueError(f"VICReg needs exactly 2 views; got {stacked.shape[0]}")
        if stacked.dtype in (torch.float16, torch.bfloat16):
            stacked = stacked.float()
        invariance = F.mse_loss(stacked[0], stacked[1])
        if self.gather and is_distributed():
            stacked = gather_views_with_grad(stacked)
        if stacked.shape[1] < 2:
            raise ValueError("VICReg needs a batch of at least 2 for its variance terms")
        variance_a = variance_term(stacked[0], self.epsilon)
        variance = (variance_a + variance_term(stacked[1], self.epsilon)) / 2
        covariance = covariance_term(stacked[0]) + covariance_term(stacked[1])
        loss = (
            self.invariance_weight * invariance
            + self.variance_weight * variance
            + self.covariance_weight * covariance
        )
        metrics = {
            "invariance": invariance.detach(),
            "variance": variance.detach(),
            "covariance": covariance.detach(),
        }
        return LossOutput(loss, metrics)
