"""Time-series encoders: per-timestamp features and a pooled instance embedding.

Every encoder here maps a (B, C, T) batch, NaN-padded at the end, to (B, out_dim) instance
embeddings (max over the valid timestamps) in `forward`, and to (B, T, out_dim) per-timestamp
features in `timestamps`. Padded timestamps enter as zeros and never win the max.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import ENCODERS


def _check(x: Tensor, in_channels: int, owner: str) -> None:
    if x.dim() != 3 or x.shape[1] != in_channels:
        raise ValueError(
            f"{owner} expects series of shape (batch, {in_channels}, length); got "
            f"{tuple(x.shape)}. The encoder was built for {in_channels} channel(s)."
        )


def max_over_valid(features: Tensor, valid: Tensor) -> Tensor:
    """(B, T, D) features -> (B, D): the max over each series' valid timestamps."""
    masked = features.masked_fill(~valid[:, :, None], float("-inf"))
    pooled = masked.amax(dim=1)
    return torch.where(torch.isfinite(pooled), pooled, torch.zeros_like(pooled))


def pyramid_max_over_valid(features: Tensor, valid: Tensor, levels: Sequence[int]) -> Tensor:
    """(B, T, D) features -> (B, D * sum(levels)): for each level k, each series' valid
    timestamps are cut into k consecutive parts of (nearly) equal count and each part is
    max-pooled. Level 1 is `max_over_valid`; finer levels keep where in the series a feature
    fired, which one max over the whole series discards. A part with no valid timestamp
    (a series shorter than k) pools to zeros."""
    rank = valid.long().cumsum(dim=1) - 1
    count = valid.sum(dim=1, keepdim=True).clamp(min=1)
    pooled = []
    for level in levels:
        part = rank * level // count
        pooled += [max_over_valid(features, valid & (part == index)) for index in range(level)]
    return torch.cat(pooled, dim=-1)


def check_pyramid_levels(levels: Sequence[int], owner: str) -> tuple[int, ...]:
    """`levels` as a tuple of ints, or a ValueError naming `owner` if any is not an integer
    >= 1 (or there is none)."""
    levels = tuple(levels)
    if not levels or not all(isinstance(level, Integral) and not isinstance(level, bool)
                             and level >= 1 for level in levels):
        raise ValueError(f"{owner} pyramid must be a non-empty list of integers >= 1 (parts "
                         f"per level, e.g. [1, 2]); got {list(levels)}")
    return tuple(int(level) for level in levels)


def check_readout_layers(layers: Sequence[int], depth: int, owner: str) -> tuple[int, ...]:
    """`layers` as a sorted tuple of distinct hidden-block indices, or a ValueError naming
    `owner` if any is not an integer in [0, depth)."""
    layers = tuple(layers)
    if not all(isinstance(layer, Integral) and not isinstance(layer, bool)
               and 0 <= layer < depth for layer in layers) or len(set(layers)) != len(layers):
        raise ValueError(f"{owner} readout_layers must be distinct hidden-block indices in "
                         f"[0, {depth}) (the encoder's depth); got {list(layers)}")
    return tuple(sorted(int(layer) for layer in layers))


class _SamePadConv(nn.Conv1d):
    """A dilated convolution whose output has the input's length."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 dilation: int) -> None:
        receptive = (kernel_size - 1) * dilation + 1
        super().__init__(in_channels, out_channels, kernel_size, padding=receptive // 2,
                         dilation=dilation)
        self.trim = 1 if receptive % 2 == 0 else 0

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        return out[..., : out.shape[-1] - self.trim] if self.trim else out


class _DilatedBlock(nn.Module):
    """GELU -> dilated conv -> GELU -> dilated conv, plus a residual (projected when the
    channel count changes or the block is the last one)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int,
                 final: bool) -> None:
        super().__init__()
        self.first = _SamePadConv(in_channels, out_channels, kernel_size, dilation)
        self.second = _SamePadConv(out_channels, out_channels, kernel_size, dilation)
        project = in_channels != out_channels or final
        self.residual = nn.Conv1d(in_channels, out_channels, 1) if project else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.second(F.gelu(self.first(F.gelu(x))))
        return out + self.residual(x)


@ENCODERS.register("ts2vec_encoder")
class TS2VecEncoder(nn.Module):
    """TS2Vec's encoder (Yue et al. 2022): a per-timestamp linear input projection, optional
    timestamp masking of the projected features, then `depth` residual blocks of dilated
    convolutions (dilation 2^i, kernel 3) and a final block to `out_dim`, with dropout on the
    output. Defaults are the paper's: hidden 64, depth 10, 320-d output, dropout 0.1.

    The instance embedding (`forward`) is the max over valid timestamps, as in the paper. With
    `pyramid` (parts per level, e.g. [1, 2]) it is `pyramid_max_over_valid` instead: the whole
    series' max, then each half's, so `out_dim` (the embedding's width) becomes the
    per-timestamp width `feature_dim` times sum(pyramid). With `readout_layers` (indices of
    hidden blocks, 0 to depth - 1) the outputs of those blocks (`hidden_dim` each) are pooled
    alongside the final features, so the embedding also carries what the earlier, less
    task-specialised layers saw. With `unit_norm` the pooled embedding is divided by its
    Euclidean norm, so an RBF kernel on it compares directions (a function of cosine
    similarity) rather than magnitudes. Training methods that contrast timestamps (TS2Vec)
    are unaffected by any of these; only the pooled embedding changes."""

    modality = "timeseries"
    """The kind of data it reads (`evaluate` and `embed` read it from the module)."""

    def __init__(self, in_channels: int = 1, hidden_dim: int = 64, out_dim: int = 320,
                 depth: int = 10, kernel_size: int = 3, dropout: float = 0.1,
                 pyramid: Sequence[int] = (1,), readout_layers: Sequence[int] = (),
                 unit_norm: bool = False) -> None:
        super().__init__()
        if not isinstance(unit_norm, bool):
            raise ValueError(f"TS2VecEncoder unit_norm must be true or false; got {unit_norm!r}")
        self.unit_norm = unit_norm
        if min(in_channels, hidden_dim, out_dim, kernel_size) < 1 or depth < 0:
            raise ValueError("TS2VecEncoder needs positive sizes and depth >= 0")
        self.pyramid = check_pyramid_levels(pyramid, type(self).__name__)
        self.readout_layers = check_readout_layers(readout_layers, depth, type(self).__name__)
        self.in_channels, self.feature_dim = int(in_channels), int(out_dim)
        pooled_width = self.feature_dim + int(hidden_dim) * len(self.readout_layers)
        self.out_dim = pooled_width * sum(self.pyramid)
        self.input_projection = nn.Linear(self.in_channels, hidden_dim)
        widths = [hidden_dim] * depth + [self.feature_dim]
        blocks, previous = [], hidden_dim
        for index, width in enumerate(widths):
            blocks.append(_DilatedBlock(previous, width, kernel_size, 2**index,
                                        final=index == len(widths) - 1))
            previous = width
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)

    @property
    def receptive_field(self) -> int:
        """Timestamps one output feature sees."""
        return 1 + sum(2 * (block.first.kernel_size[0] - 1) * block.first.dilation[0]
                       for block in self.blocks)

    def timestamps(self, x: Tensor, keep: Tensor | None = None,
                   layers: Sequence[int] = ()) -> tuple[Tensor, Tensor]:
        """Per-timestamp features (B, T, feature_dim) and the (B, T) mask of valid timestamps.
        `keep` (B, T) zeroes the projected features where False (latent timestamp masking).
        `layers` (hidden block indices) appends those blocks' outputs to the features, giving
        (B, T, feature_dim + hidden_dim * len(layers))."""
        _check(x, self.in_channels, type(self).__name__)
        layers = check_readout_layers(layers, len(self.blocks) - 1, "timestamps")
        valid = torch.isfinite(x).all(dim=1)
        hidden = self.input_projection(torch.nan_to_num(x).transpose(1, 2))
        drop = ~valid if keep is None else ~(valid & keep)
        out = hidden.masked_fill(drop[:, :, None], 0.0).transpose(1, 2)
        taps = []
        for index, block in enumerate(self.blocks):
            out = block(out)
            if index in layers:
                taps.append(out)
        features = torch.cat([self.dropout(out), *taps], dim=1).transpose(1, 2)
        return features, valid

    def forward(self, x: Tensor) -> Tensor:
        features, valid = self.timestamps(x, layers=self.readout_layers)
        return self.finish_readout(pyramid_max_over_valid(features, valid, self.pyramid))

    def finish_readout(self, pooled: Tensor) -> Tensor:
        """The pooled embedding as this encoder hands it out: unit norm when `unit_norm`."""
        return F.normalize(pooled, dim=-1) if self.unit_norm else pooled
