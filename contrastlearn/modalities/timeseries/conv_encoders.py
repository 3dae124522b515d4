"""The fully convolutional baselines of Wang et al. 2017, "Time Series Classification from
Scratch with Deep Neural Networks: A Strong Baseline" (arXiv:1611.06455): FCN and ResNet.

Both keep the series length ("same" padding) and follow TS2VecEncoder's contract: a NaN-padded
(B, C, T) batch in, per-timestamp features from `timestamps`, and a max over the valid
timestamps from `forward` (the paper's global average pooling would let padding in).

An even kernel cannot be centred: it sees one timestamp more on one side. Its extra tap
alternates between the past and the future from one even-kernel layer to the next, so a stack
stays centred within one timestamp and `receptive_field // 2` timestamps of context on each
side are enough for exact windowed encoding (`long_series.encode_in_windows`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.timeseries.encoders import _check, max_over_valid


class _SameConv(nn.Conv1d):
    """A bias-free convolution (BatchNorm follows) whose output has the input's length; an even
    kernel's extra tap looks into the past when `extra_past`, else into the future."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 extra_past: bool) -> None:
        super().__init__(in_channels, out_channels, kernel_size, bias=False)
        total = kernel_size - 1
        self.past = total - total // 2 if extra_past else total // 2
        self.future = total - self.past

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, (self.past, self.future)))


def _conv_norm(in_channels: int, out_channels: int, kernel_size: int,
               sides: Iterator[bool]) -> list[nn.Module]:
    """Same-padded convolution + BatchNorm; even kernels take the next side from `sides`."""
    extra_past = next(sides) if kernel_size % 2 == 0 else True
    return [_SameConv(in_channels, out_channels, kernel_size, extra_past),
            nn.BatchNorm1d(out_channels)]


def _check_sizes(owner: str, in_channels: int, widths: Sequence[int],
                 kernel_sizes: Sequence[int], out_dim: int | None) -> None:
    sizes = [in_channels, *widths, *kernel_sizes] + ([] if out_dim is None else [out_dim])
    if not widths or not kernel_sizes or min(sizes) < 1:
        raise ValueError(
            f"{owner} needs in_channels, widths, kernel_sizes (and out_dim if given) to be "
            f"positive and non-empty; got in_channels={in_channels}, widths={list(widths)}, "
            f"kernel_sizes={list(kernel_sizes)}, out_dim={out_dim}"
        )


class _ConvSeriesEncoder(nn.Module):
    """The shared contract: NaN -> 0 at the input, `keep` zeroes input timestamps, `body`
    maps (B, C, T) to (B, out_dim, T), and the instance embedding is a max over valid ones."""

    modality = "timeseries"
    """The kind of data it reads (`evaluate` and `embed` read it from the module)."""

    in_channels: int
    out_dim: int
    body: nn.Module

    @property
    def receptive_field(self) -> int:
        """Timestamps one output feature sees (every same-padded convolution is on the
        longest path; 1x1 shortcuts add nothing)."""
        return 1 + sum(module.kernel_size[0] - 1 for module in self.modules()
                       if isinstance(module, _SameConv))

    def timestamps(self, x: Tensor, keep: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Per-timestamp features (B, T, out_dim) and the (B, T) mask of valid timestamps.
        `keep` (B, T) zeroes the input where False (timestamp masking, as in TS2Vec)."""
        _check(x, self.in_channels, type(self).__name__)
        valid = torch.isfinite(x).all(dim=1)
        drop = ~valid if keep is None else ~(valid & keep)
        inputs = torch.nan_to_num(x).masked_fill(drop[:, None, :], 0.0)
        return self.body(inputs).transpose(1, 2), valid

    def forward(self, x: Tensor) -> Tensor:
        features, valid = self.timestamps(x)
        return max_over_valid(features, valid)


@ENCODERS.register("fcn_encoder")
class FCNEncoder(_ConvSeriesEncoder):
    """Wang et al. 2017's FCN (arXiv:1611.06455): convolution -> BatchNorm -> ReLU blocks,
    by default 128/256/128 channels with kernels 8/5/3. `out_dim` adds a final 1x1
    convolution to that width; without it `out_dim` is the last block's width."""

    def __init__(self, in_channels: int = 1, widths: Sequence[int] = (128, 256, 128),
                 kernel_sizes: Sequence[int] = (8, 5, 3), out_dim: int | None = None) -> None:
        super().__init__()
        _check_sizes("FCNEncoder", in_channels, widths, kernel_sizes, out_dim)
        if len(widths) != len(kernel_sizes):
            raise ValueError(
                f"FCNEncoder needs one kernel size per block: got widths={list(widths)} and "
                f"kernel_sizes={list(kernel_sizes)}"
            )
        self.in_channels = int(in_channels)
        sides = itertools.cycle((True, False))
        layers: list[nn.Module] = []
        previous = self.in_channels
        for width, kernel_size in zip(widths, kernel_sizes):
            layers += [*_conv_norm(previous, width, kernel_size, sides), nn.ReLU()]
            previous = width
        if out_dim is not None:
            layers.append(nn.Conv1d(previous, out_dim, 1))
        self.out_dim = int(previous if out_dim is None else out_dim)
        self.body = nn.Sequential(*layers)


class _ResidualBlock(nn.Module):
    """Convolutions (BatchNorm, ReLU between them) plus a shortcut -- a 1x1 convolution and
    BatchNorm when the width changes, else the identity -- then ReLU."""

    def __init__(self, in_channels: int, width: int, kernel_sizes: Sequence[int],
                 sides: Iterator[bool]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = in_channels
        for kernel_size in kernel_sizes:
            layers += [*_conv_norm(previous, width, kernel_size, sides), nn.ReLU()]
            previous = width
        self.path = nn.Sequential(*layers[:-1])  # the last ReLU comes after the sum
        self.shortcut: nn.Module = nn.Identity() if in_channels == width else nn.Sequential(
            nn.Conv1d(in_channels, width, 1, bias=False), nn.BatchNorm1d(width))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.path(x) + self.shortcut(x))


@ENCODERS.register("resnet1d_encoder")
class ResNet1dEncoder(_ConvSeriesEncoder):
    """Wang et al. 2017's ResNet (arXiv:1611.06455): residual blocks of convolutions with
    kernels 8/5/3 each, by default three blocks of widths 64/128/128. `out_dim` adds a final
    1x1 convolution to that width; without it `out_dim` is the last block's width."""

    def __init__(self, in_channels: int = 1, widths: Sequence[int] = (64, 128, 128),
                 kernel_sizes: Sequence[int] = (8, 5, 3), out_dim: int | None = None) -> None:
        super().__init__()
        _check_sizes("ResNet1dEncoder", in_channels, widths, kernel_sizes, out_dim)
        self.in_channels = int(in_channels)
        sides = itertools.cycle((True, False))
        layers: list[nn.Module] = []
        previous = self.in_channels
        for width in widths:
            layers.append(_ResidualBlock(previous, width, kernel_sizes, sides))
            previous = width
        if out_dim is not None:
            layers.append(nn.Conv1d(previous, out_dim, 1))
        self.out_dim = int(previous if out_dim is None else out_dim)
        self.body = nn.Sequential(*layers)
