"""A small Transformer time-series encoder (Vaswani et al. 2017, arXiv:1706.03762) under
TS2VecEncoder's contract: NaN-padded (B, C, T) batches in, per-timestamp features out.

Padded timestamps are left out of attention (`src_key_padding_mask`) and positions are counted
from each series' start, so appending padding never changes the features of valid timestamps.
Sinusoidal positions are computed for the length at hand, so any length works.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.timeseries.encoders import _check, max_over_valid


def sinusoidal_positions(length: int, dim: int, *, device: torch.device | None = None,
                         dtype: torch.dtype = torch.float32) -> Tensor:
    """(length, dim) sine/cosine position encodings of Vaswani et al. 2017 (any `dim`)."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32)
                          * (-math.log(10000.0) / dim))
    angles = position * frequency
    table = torch.zeros(length, dim, device=device, dtype=torch.float32)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles[:, : dim // 2])
    return table.to(dtype)


@ENCODERS.register("transformer_encoder")
class TimeSeriesTransformerEncoder(nn.Module):
    """Per-timestamp linear projection of the channels to `d_model`, optional timestamp masking
    of the projected features (as in TS2Vec), sinusoidal positions, `num_layers` Transformer
    encoder layers attending only to valid timestamps, and a linear map to `out_dim`."""

    modality = "timeseries"
    """The kind of data it reads (`evaluate` and `embed` read it from the module)."""

    def __init__(self, in_channels: int = 1, d_model: int = 64, num_layers: int = 2,
                 num_heads: int = 4, dim_feedforward: int = 128, dropout: float = 0.1,
                 out_dim: int = 128) -> None:
        super().__init__()
        if min(in_channels, d_model, num_heads, dim_feedforward, out_dim) < 1 or num_layers < 0:
            raise ValueError("TimeSeriesTransformerEncoder needs positive sizes and "
                             "num_layers >= 0")
        if d_model % num_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
        self.in_channels, self.out_dim = int(in_channels), int(out_dim)
        self.input_projection = nn.Linear(self.in_channels, d_model)
        layer = nn.TransformerEncoderLayer(d_model, num_heads, dim_feedforward, dropout,
                                           batch_first=True)
        # no nested tensors: the same code path (and numbers) in training and inference
        self.transformer = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.output_projection = nn.Linear(d_model, self.out_dim)

    def timestamps(self, x: Tensor, keep: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Per-timestamp features (B, T, out_dim) and the (B, T) mask of valid timestamps.
        `keep` (B, T) zeroes the projected features where False (latent timestamp masking);
        a masked timestamp keeps its position encoding, so it acts as a mask token."""
        _check(x, self.in_channels, type(self).__name__)
        valid = torch.isfinite(x).all(dim=1)
        hidden = self.input_projection(torch.nan_to_num(x).transpose(1, 2))
        drop = ~valid if keep is None else ~(valid & keep)
        hidden = hidden.masked_fill(drop[:, :, None], 0.0) + sinusoidal_positions(
            x.shape[-1], hidden.shape[-1], device=x.device, dtype=hidden.dtype)
        # a series with no valid timestamp would attend to nothing (NaN): let it see all
        padding_mask = ~valid & valid.any(dim=1, keepdim=True)
        hidden = self.transformer(hidden, src_key_padding_mask=padding_mask)
        return self.output_projection(hidden), valid

    def forward(self, x: Tensor) -> Tensor:
        features, valid = self.timestamps(x)
        return max_over_valid(features, valid)
