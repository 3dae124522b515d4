"""AutoTCL's parametric augmentation (Zheng et al., ICLR 2024, "Parametric Augmentation for
Time Series Contrastive Learning", arXiv 2402.10434) for series: the time-series network of
the modality-free `contrastlearn.augment.learned.LearnedAugmentation`.

A small dilated-convolution network reads each series and outputs, per timestamp, an
informativeness score h(x) in (0, 1) and a transformation weight g(x) in (0, 1) per channel.
The view is g(x) * m * x, where m is the hard-concrete mask sample located at h(x); NaN
padding is kept, and the mask-size and smoothness terms of the objective count valid
timestamps only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastlearn.augment.learned import LearnedAugmentation, gaussian_mmd
from contrastlearn.core.registry import VIEW_GENERATORS
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder

__all__ = ["ParametricAugmentation", "gaussian_mmd"]


@VIEW_GENERATORS.register("autotcl")
class ParametricAugmentation(LearnedAugmentation):
    """AutoTCL's view generator for series: view = g(x) * hard_concrete(h(x)) * x, NaN padding
    kept. The objective's settings are `LearnedAugmentation`'s."""

    def __init__(self, in_channels: int = 1, hidden_dim: int = 64, feature_dim: int = 16,
                 depth: int = 3, temperature: float = 1.0, stretch: float = 0.05,
                 keep_target: float = 0.4, size_weight: float = 1e-3,
                 smooth_weight: float = 1e-3, lr_scale: float = 10.0) -> None:
        super().__init__(temperature, stretch, keep_target, size_weight, smooth_weight,
                         lr_scale)
        self.in_channels = int(in_channels)
        self.network = TS2VecEncoder(in_channels, hidden_dim, feature_dim, depth, dropout=0.0)
        self.mask_head = nn.Linear(feature_dim, 1)
        self.transform_head = nn.Linear(feature_dim, self.in_channels)

    def parameters_of(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B, T) informativeness h in (0, 1), (B, C, T) transformation weights g in (0, 1),
        and the (B, T) mask of valid timestamps."""
        features, valid = self.network.timestamps(x)
        informative = torch.sigmoid(self.mask_head(features).squeeze(-1))
        weights = torch.sigmoid(self.transform_head(features)).transpose(1, 2)
        return informative, weights, valid

    def make_view(self, x: Tensor, mask: Tensor, weights: Tensor, valid: Tensor) -> Tensor:
        """g * m * x per timestamp and channel, NaN where x is padding."""
        view = weights * mask[:, None, :] * torch.nan_to_num(x)
        return view.masked_fill(~valid[:, None, :], float("nan"))
