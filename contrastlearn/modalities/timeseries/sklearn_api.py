"""The time-series parts of the scikit-learn transformer `contrastlearn.TimeSeriesEncoder`: the
methods it trains (`RECIPES`) and its poolings (`series_embeddings`).

The class itself is the thin `ContrastiveEncoder` subclass in `contrastlearn.estimator`: the
face layer imports rooms, never the reverse, so the room holds only what knows series.

    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC
    model = make_pipeline(TimeSeriesEncoder(steps=200), SVC()).fit(x_train, y_train)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from contrastlearn.data.arrays import DataError
from contrastlearn.modalities.timeseries.data import to_series_batch
from contrastlearn.modalities.timeseries.encoders import (
    check_pyramid_levels,
    max_over_valid,
    pyramid_max_over_valid,
)
from contrastlearn.modalities.timeseries.long_series import encode_in_windows

RECIPES = {"ts2vec": "ts2vec", "ts_tcc": "ts-tcc", "instance": "ts-instance",
           "learned_aug": "ts-learned-aug", "softclt": "ts-softclt", "ts2vec_recon": "ts2vec-recon",
           "ts2vec_recon_unit": "ts2vec-recon-unit"}
"""Methods this transformer can train, and the shipped recipe each starts from."""

Pooling = Literal["max", "timestamps", "sliding", "pyramid"]


def method_recipe(method: str) -> str:
    """The shipped recipe of `method`, or a ValueError listing the methods."""
    if method not in RECIPES:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(RECIPES)}")
    return RECIPES[method]


@torch.no_grad()
def series_embeddings(encoder: nn.Module, X: Any, n_channels: int, pooling: Pooling = "max",
                      window: int | None = None, stride: int | None = None,
                      chunk: int | None = None, levels: Sequence[int] = (1, 2),
                      layers: Sequence[int] | None = None) -> np.ndarray:
    """Embeddings of the series X by a fitted series encoder with `timestamps` (see
    `contrastlearn.TimeSeriesEncoder` for `pooling`, `levels`, `layers` and `chunk`)."""
    series = to_series_batch(X, "X")
    if series.shape[1] != n_channels:
        raise DataError(f"X has {series.shape[1]} channel(s); the encoder was fitted on "
                        f"{n_channels}")
    options = _layer_options(encoder, layers)
    device = next(encoder.parameters()).device
    parts = []
    for batch in series.split(256):
        if chunk is None:
            features, valid = encoder.timestamps(batch.to(device), **options)
        else:
            features, valid = encode_in_windows(encoder, batch.to(device), chunk, **options)
        parts.append((features.cpu(), valid.cpu()))
    features = torch.cat([f for f, _ in parts])
    valid = torch.cat([v for _, v in parts])
    if pooling == "max":
        return _readout(encoder, max_over_valid(features, valid))
    if pooling == "timestamps":
        return features.masked_fill(~valid[:, :, None], float("nan")).numpy()
    if pooling == "sliding":
        return _sliding(features, valid, window, stride)
    if pooling == "pyramid":
        levels = check_pyramid_levels(levels, "pyramid pooling")
        return _readout(encoder, pyramid_max_over_valid(features, valid, levels))
    raise ValueError(f"unknown pooling {pooling!r}; use 'max', 'timestamps', 'sliding' or "
                     f"'pyramid'")


def _readout(encoder: nn.Module, pooled: torch.Tensor) -> np.ndarray:
    """The pooled embedding as the encoder's own forward gives it (unit norm if asked)."""
    finish = getattr(encoder, "finish_readout", None)
    return (finish(pooled) if finish else pooled).numpy()


def _layer_options(encoder: nn.Module,
                   layers: Sequence[int] | None) -> dict[str, tuple[int, ...]]:
    """Keyword arguments for `timestamps`: the hidden blocks to append, if any."""
    own = tuple(getattr(encoder, "readout_layers", ()))
    layers = own if layers is None else tuple(layers)
    if not layers:
        return {}
    if not hasattr(encoder, "readout_layers"):
        raise ValueError(f"layers needs TS2Vec's encoder (ts2vec_encoder); this one is "
                         f"{type(encoder).__name__}")
    return {"layers": layers}


def _sliding(features: torch.Tensor, valid: torch.Tensor, window: int | None,
             stride: int | None) -> np.ndarray:
    length = features.shape[1]
    if window is None or not 1 <= window <= length:
        raise ValueError(f"sliding pooling needs 1 <= window <= {length}, got {window}")
    stride = window if stride is None else stride
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    windows = features.unfold(1, window, stride)  # (n, windows, D, window)
    masks = valid.unfold(1, window, stride)  # (n, windows, window)
    masked = windows.masked_fill(~masks[:, :, None, :], float("-inf")).amax(dim=-1)
    return torch.where(torch.isfinite(masked), masked, torch.full_like(masked, float("nan"))
                       ).numpy()
