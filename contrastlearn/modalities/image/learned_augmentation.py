"""AutoTCL's parametric augmentation (Zheng et al., ICLR 2024, arXiv 2402.10434) for images:
the image network of the modality-free `contrastlearn.augment.learned.LearnedAugmentation`.

A small dilated 2-D convolution network reads each image and outputs, per pixel, an
informativeness score h(x) in (0, 1) (where the hard-concrete mask is located, one mask for
all channels) and a gain g(x) in (0, 1) per channel, plus, from the pooled features, a small
affine warp. The view is warp(x * (1 - strength * (1 - g * m))): masked pixels go to black
(like a learned cutout), kept pixels are dimmed by g, so values stay in [0, 1]; the warp's
matrix is the identity plus `strength * max_affine * tanh(a(x))`, each entry bounded. The
affine head starts at zero (the first views are unwarped). `strength = 0` gives the images
back unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastlearn.augment.learned import LearnedAugmentation
from contrastlearn.core.registry import VIEW_GENERATORS
from contrastlearn.modalities.image.augment import check_image_batch, warp_affine


class _DilatedBlock(nn.Module):
    """A residual 3x3 convolution with dilation `dilation`, then GELU."""

    def __init__(self, width: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation)

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.gelu(x + self.conv(x))


@VIEW_GENERATORS.register("autotcl_image")
class ImageParametricAugmentation(LearnedAugmentation):
    """AutoTCL's view generator for (B, C, H, W) images in [0, 1]: a per-pixel hard-concrete
    mask and per-pixel, per-channel gain, then a bounded affine warp (see the module
    docstring). `strength` in [0, 1] scales all three (0: identity); `max_affine` bounds each
    entry of the warp's change from the identity (0: no warp). The objective's settings are
    `LearnedAugmentation`'s."""

    def __init__(self, in_channels: int = 3, hidden_dim: int = 16, depth: int = 3,
                 strength: float = 1.0, max_affine: float = 0.1, temperature: float = 1.0,
                 stretch: float = 0.05, keep_target: float = 0.4, size_weight: float = 1e-3,
                 smooth_weight: float = 1e-3, lr_scale: float = 10.0) -> None:
        super().__init__(temperature, stretch, keep_target, size_weight, smooth_weight,
                         lr_scale)
        if min(in_channels, hidden_dim, depth) < 1:
            raise ValueError(f"autotcl_image needs in_channels, hidden_dim and depth >= 1; got "
                             f"{in_channels}, {hidden_dim}, {depth}")
        if not 0 <= strength <= 1 or max_affine < 0:
            raise ValueError(f"autotcl_image needs strength in [0, 1] and max_affine >= 0; got "
                             f"strength={strength}, max_affine={max_affine}")
        self.in_channels = int(in_channels)
        self.strength, self.max_affine = float(strength), float(max_affine)
        self.stem = nn.Conv2d(self.in_channels, hidden_dim, 3, padding=1)
        self.blocks = nn.Sequential(*(_DilatedBlock(hidden_dim, 2 ** i)
                                      for i in range(int(depth) - 1)))
        self.mask_head = nn.Conv2d(hidden_dim, 1, 1)
        self.transform_head = nn.Conv2d(hidden_dim, self.in_channels, 1)
        self.affine_head = nn.Linear(hidden_dim, 6)
        nn.init.zeros_(self.affine_head.weight)
        nn.init.zeros_(self.affine_head.bias)

    def parameters_of(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B, H, W) informativeness h in (0, 1); the (B, C, H, W) gains g in (0, 1) and the
        (B, 6) warp change in [-1, 1] (before `strength * max_affine`), as a pair; every pixel
        valid."""
        check_image_batch(x, "autotcl_image")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"autotcl_image was built for {self.in_channels} channel(s); got "
                             f"images of shape {tuple(x.shape)} (set in_channels, or leave it "
                             "to the recipe, which fills it in from the data)")
        features = self.blocks(nn.functional.gelu(self.stem(x)))
        informative = torch.sigmoid(self.mask_head(features).squeeze(1))
        gains = torch.sigmoid(self.transform_head(features))
        affine = torch.tanh(self.affine_head(features.mean(dim=(2, 3))))
        valid = torch.ones_like(informative, dtype=torch.bool)
        return informative, (gains, affine), valid

    def make_view(self, x: Tensor, mask: Tensor, weights: tuple[Tensor, Tensor],
                  valid: Tensor) -> Tensor:
        """x scaled per pixel by 1 - strength * (1 - g * m), then warped."""
        gains, affine = weights
        view = x * (1 - self.strength * (1 - gains * mask[:, None]))
        bound = self.strength * self.max_affine
        if bound == 0:
            return view
        theta = torch.eye(2, 3, dtype=x.dtype, device=x.device) + bound * affine.view(-1, 2, 3)
        last_row = torch.tensor([0.0, 0.0, 1.0], dtype=x.dtype, device=x.device)
        matrix = torch.cat([theta, last_row.expand(len(x), 1, 3)], dim=1)
        return warp_affine(view, matrix, (x.shape[2], x.shape[3]))
