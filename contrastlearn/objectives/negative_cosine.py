"""Negative cosine similarity between predictions and stop-gradient targets (BYOL, SimSiam).

Grill et al., 2020, "Bootstrap Your Own Latent", arXiv 2006.07733; Chen & He, 2020,
"Exploring Simple Siamese Representation Learning", arXiv 2011.10566.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives.base import LossOutput, stack_views


@OBJECTIVES.register("negative_cosine")
class NegativeCosine(nn.Module):
    """loss = mean over ordered view pairs a != b and items of -cos(p_a, stopgrad(t_b)).

    This is SimSiam's symmetrised D exactly (two views: (D(p1, z2) + D(p2, z1)) / 2). BYOL's
    per-pair ||p - t||^2 = 2 - 2 cos for normalised vectors, so BYOL's symmetrised loss equals
    4 + 4 * this loss: same minimiser and gradients up to a factor 4. `targets` may hold fewer
    views than `predictions` (targets from the global crops only); view indices are shared.
    """

    def forward(
        self,
        predictions: Sequence[Tensor],
        *,
        targets: Sequence[Tensor],
        labels: Tensor | None = None,
        ids: Tensor | None = None,
    ) -> LossOutput:
        """predictions: V tensors (B, D); targets: W <= V tensors (B, D), W >= 1, V >= 2."""
        stacked_predictions = stack_views(predictions)
        stacked_targets = stack_views(targets)
        num_predictions, num_targets = len(predictions), len(targets)
        if num_predictions < 2 or num_targets > num_predictions:
            raise ValueError(
                "NegativeCosine needs >= 2 prediction views and at most as many target views; "
                f"got {num_predictions} predictions and {num_targets} targets"
            )
        if stacked_targets.shape[1:] != stacked_predictions.shape[1:]:
            raise ValueError(
                f"targets are {tuple(stacked_targets.shape[1:])} per view, predictions are "
                f"{tuple(stacked_predictions.shape[1:])}"
            )
        normalised_predictions = F.normalize(stacked_predictions, dim=-1)  # (V, B, D)
        normalised_targets = F.normalize(stacked_targets.detach(), dim=-1)  # (W, B, D)
        cosine = torch.einsum("vbd,wbd->vwb", normalised_predictions, normalised_targets)
        pair_mask = ~torch.eye(num_predictions, num_targets, dtype=torch.bool, device=cosine.device)
        mean_cosine = cosine[pair_mask].mean()
        with torch.no_grad():
            target_std = normalised_targets.std(dim=1, correction=0).mean()
        metrics = {"prediction_target_cosine": mean_cosine.detach(), "target_std": target_std}
        return LossOutput(-mean_cosine, metrics)
