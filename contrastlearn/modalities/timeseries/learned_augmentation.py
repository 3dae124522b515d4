"""AutoTCL's parametric augmentation (Zheng et al., ICLR 2024, "Parametric Augmentation for
Time Series Contrastive Learning"), as a view generator any method can train with.

A small dilated-convolution network reads each series and outputs, per timestamp, an
informativeness score h(x) in (0, 1) and a transformation weight g(x) in (0, 1) per channel.
The view is g(x) * m * x, where m is a hard-concrete mask sample located at h(x)
(straight-through gradients). As in the authors' code, h is squashed to (0, 1) before it sets
the concrete's location, which keeps the mask stochastic (about 50-73% kept) instead of letting
it saturate to keep-everything.
The generator is trained by the paper's principle-of-relevant-information objective: stay
close to the data in the encoder's representation (an MMD between the embeddings of series
and views), keep the mask sparse (a penalty on the mean keep probability above a target) and
smooth in time.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import VIEW_GENERATORS
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder
from contrastlearn.objectives.base import LossOutput


def gaussian_mmd(first: Tensor, second: Tensor, kernels: int = 5,
                 multiplier: float = 2.0) -> Tensor:
    """Squared MMD between two batches of vectors with a sum of `kernels` Gaussian kernels whose
    bandwidths are the mean pairwise squared distance times multiplier^(k - kernels // 2)."""
    points = torch.cat([first, second])
    distances = torch.cdist(points, points).pow(2)
    count = len(points)
    bandwidth = distances.detach().sum() / max(count * count - count, 1)
    bandwidth = bandwidth.clamp(min=1e-12)
    kernel = sum(torch.exp(-distances / (bandwidth * multiplier ** (k - kernels // 2)))
                 for k in range(kernels))
    size = len(first)
    within = kernel[:size, :size].mean() + kernel[size:, size:].mean()
    return within - 2 * kernel[:size, size:].mean()


@VIEW_GENERATORS.register("autotcl")
class ParametricAugmentation(nn.Module):
    """AutoTCL's view generator: view = g(x) * hard_concrete(h(x)) * x, NaN padding kept.

    `keep_target`, `size_weight`, `smooth_weight` follow the paper's code (0.4, 0.001, 0.001);
    `lr_scale` = 10 gives the generator the paper's 10x learning rate (0.01 vs 0.001)."""

    def __init__(self, in_channels: int = 1, hidden_dim: int = 64, feature_dim: int = 16,
                 depth: int = 3, temperature: float = 1.0, stretch: float = 0.05,
                 keep_target: float = 0.4, size_weight: float = 1e-3,
                 smooth_weight: float = 1e-3, lr_scale: float = 10.0) -> None:
        super().__init__()
        if temperature <= 0 or stretch < 0 or not 0 <= keep_target <= 1:
            raise ValueError("need temperature > 0, stretch >= 0 and keep_target in [0, 1]")
        self.in_channels = int(in_channels)
        self.network = TS2VecEncoder(in_channels, hidden_dim, feature_dim, depth, dropout=0.0)
        self.mask_head = nn.Linear(feature_dim, 1)
        self.transform_head = nn.Linear(feature_dim, self.in_channels)
        self.temperature, self.stretch = float(temperature), float(stretch)
        self.keep_target = float(keep_target)
        self.size_weight, self.smooth_weight = float(size_weight), float(smooth_weight)
        self.lr_scale = float(lr_scale)

    def parameters_of(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B, T) informativeness h in (0, 1), (B, C, T) transformation weights g in (0, 1),
        and the (B, T) mask of valid timestamps."""
        features, valid = self.network.timestamps(x)
        informative = torch.sigmoid(self.mask_head(features).squeeze(-1))
        weights = torch.sigmoid(self.transform_head(features)).transpose(1, 2)
        return informative, weights, valid

    def sample_mask(self, location: Tensor, generator: torch.Generator) -> Tensor:
        """A hard 0/1 mask whose gradient is that of the stretched concrete relaxation located
        at `location`."""
        uniform = torch.rand(location.shape, generator=generator).to(location.device)
        uniform = uniform.clamp(1e-6, 1 - 1e-6)
        noise = torch.log(uniform) - torch.log1p(-uniform)
        soft = torch.sigmoid((location + noise) / self.temperature)
        soft = (soft * (1 + self.stretch) - self.stretch).clamp(0.0, 1.0)
        hard = (soft > 0.5).to(soft.dtype)
        return hard + (soft - soft.detach())

    def forward(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, dict[str, Tensor]]:
        """The view of x, and what `loss` needs about how it was made."""
        informative, weights, valid = self.parameters_of(x)
        mask = self.sample_mask(informative, generator)
        view = weights * mask[:, None, :] * torch.nan_to_num(x)
        made = {"informative": informative, "mask": mask.detach(), "valid": valid}
        return view.masked_fill(~valid[:, None, :], float("nan")), made

    def loss(self, encode: Callable[[Tensor], Tensor], source: Tensor, view: Tensor,
             made: dict[str, Tensor]) -> LossOutput:
        """The generator's objective for `view`, made from `source` (`made`: forward's extras)."""
        informative, valid = made["informative"], made["valid"]
        fidelity = gaussian_mmd(encode(source), encode(view))
        size_now = informative[valid].mean()
        size = F.relu(size_now - self.keep_target)
        both = valid[:, 1:] & valid[:, :-1]
        steps = (informative[:, 1:] - informative[:, :-1]).abs()
        smooth = steps[both].mean() if bool(both.any()) else steps.sum() * 0
        loss = fidelity + self.size_weight * size + self.smooth_weight * smooth
        return LossOutput(loss, {"mmd": fidelity.detach(), "informative": size_now.detach(),
                                 "kept_fraction": made["mask"][valid].mean(),
                                 "smoothness": smooth.detach()})
