"""Learned views for any room: the modality-free half of AutoTCL's parametric augmentation
(Zheng et al., ICLR 2024, "Parametric Augmentation for Time Series Contrastive Learning",
arXiv 2402.10434).

AutoTCL factorises a view as v = g(x) * m(h(x)) * x: a network reads the input and outputs,
per position (a timestamp, a pixel, a token), an informativeness score h(x) in (0, 1) and a
transformation weight g(x); m is a hard-concrete mask sample located at h(x) (0/1 values,
straight-through gradients of the stretched concrete relaxation). As in the authors' code, h
is squashed to (0, 1) before it sets the concrete's location, which keeps the mask stochastic
(about 50-73% kept) instead of letting it saturate to keep-everything.

The generator is trained by the paper's principle-of-relevant-information objective, which
knows no modality: stay close to the data in the encoder's representation (an MMD between the
embeddings of inputs and views: keep the task-relevant information), keep the mask sparse (a
penalty on the mean keep probability above a target) and smooth between neighbouring
positions (along every position axis: time for series, height and width for images, token
order for text).

`LearnedAugmentation` holds that objective and the mask; each room plugs in its network by
subclassing it with `parameters_of(x)` (the scores, the weights and which positions are
valid) and `make_view(x, mask, weights, valid)` (how they act on its data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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


def neighbour_smoothness(scores: Tensor, valid: Tensor) -> Tensor:
    """Mean absolute difference of `scores` (B, *positions) between neighbours along every
    position axis, over the pairs whose two positions are both `valid`; 0 (with a gradient)
    when there is no such pair."""
    steps = []
    for axis in range(1, scores.dim()):
        pairs = scores.shape[axis] - 1
        both = valid.narrow(axis, 1, pairs) & valid.narrow(axis, 0, pairs)
        steps.append(torch.diff(scores, dim=axis).abs()[both])
    differences = torch.cat(steps)
    return differences.mean() if differences.numel() else scores.sum() * 0


class LearnedAugmentation(nn.Module):
    """AutoTCL's view generator without its network: view = make_view(x, hard_concrete(h(x)),
    g(x)), trained by `loss`. Subclasses implement `parameters_of` and `make_view`.

    `keep_target`, `size_weight`, `smooth_weight` follow the paper's code (0.4, 0.001, 0.001);
    `lr_scale` = 10 gives the generator the paper's 10x learning rate (0.01 vs 0.001)."""

    def __init__(self, temperature: float = 1.0, stretch: float = 0.05,
                 keep_target: float = 0.4, size_weight: float = 1e-3,
                 smooth_weight: float = 1e-3, lr_scale: float = 10.0) -> None:
        super().__init__()
        if temperature <= 0 or stretch < 0 or not 0 <= keep_target <= 1:
            raise ValueError("need temperature > 0, stretch >= 0 and keep_target in [0, 1]")
        self.temperature, self.stretch = float(temperature), float(stretch)
        self.keep_target = float(keep_target)
        self.size_weight, self.smooth_weight = float(size_weight), float(smooth_weight)
        self.lr_scale = float(lr_scale)

    def parameters_of(self, x: Any) -> tuple[Tensor, Any, Tensor]:
        """(B, *positions) informativeness h in (0, 1), the transformation weights g (whatever
        `make_view` reads), and the (B, *positions) bool mask of the positions the view may
        change."""
        raise NotImplementedError

    def make_view(self, x: Any, mask: Tensor, weights: Any, valid: Tensor) -> Any:
        """The view of `x` from a (B, *positions) 0/1 `mask` and the weights g."""
        raise NotImplementedError

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

    def forward(self, x: Any, generator: torch.Generator) -> tuple[Any, dict[str, Tensor]]:
        """The view of x, and what `loss` needs about how it was made."""
        informative, weights, valid = self.parameters_of(x)
        mask = self.sample_mask(informative, generator)
        view = self.make_view(x, mask, weights, valid)
        return view, {"informative": informative, "mask": mask.detach(), "valid": valid}

    def loss(self, encode: Callable[[Any], Tensor], source: Any, view: Any,
             made: dict[str, Tensor]) -> LossOutput:
        """The generator's objective for `view`, made from `source` (`made`: forward's extras)."""
        informative, valid = made["informative"], made["valid"]
        fidelity = gaussian_mmd(encode(source), encode(view))
        size_now = informative[valid].mean()
        size = F.relu(size_now - self.keep_target)
        smooth = neighbour_smoothness(informative, valid)
        loss = fidelity + self.size_weight * size + self.smooth_weight * smooth
        return LossOutput(loss, {"mmd": fidelity.detach(), "informative": size_now.detach(),
                                 "kept_fraction": made["mask"][valid].mean(),
                                 "smoothness": smooth.detach()})
