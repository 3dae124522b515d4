"""A scikit-learn transformer around time-series pre-training, for use inside a `Pipeline`:

    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC
    model = make_pipeline(TimeSeriesEncoder(steps=200), SVC()).fit(x_train, y_train)
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin

from contrastlearn.data.arrays import ArrayDataset, DataError, DatasetSplits
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


class TimeSeriesEncoder(TransformerMixin, BaseEstimator):
    """Pre-train a time-series encoder on X (labels are ignored: the training is
    self-supervised), then map series to embeddings.

    `fit` trains on all of X for `steps` steps with the method's shipped recipe (`batch_size`
    and `lr` default to the recipe's; other hyper-parameters as `recipe_overrides`, dotted
    keys). The run directory is `run_dir`, or a temporary one.
    `transform(X, pooling=...)` returns "max": (n, out_dim) instance embeddings; "timestamps":
    (n, length, out_dim) per-timestamp features (NaN where the series is padding); "sliding":
    (n, windows, out_dim) max-pooled embeddings of windows of `window` steps every `stride` steps;
    "pyramid": (n, out_dim * sum(levels)) maxima over the whole series, then over each of k
    equal parts for every k in `levels` (`pyramid_max_over_valid`). "max" and "pyramid"
    embeddings have unit norm when the encoder was built with `unit_norm` (ts2vec_recon_unit).
    `layers` (TS2Vec's encoder only) appends the outputs of those hidden blocks to the
    per-timestamp features before pooling (out_dim grows by hidden_dim per layer); None uses
    the encoder's own `readout_layers` (none unless the recipe sets them).
    `chunk` encodes long series `chunk` timestamps at a time (with enough context on both sides
    to give the same features for convolutional encoders), so memory stays bounded.
    """

    def __init__(self, method: str = "ts2vec", steps: int = 200, batch_size: int | None = None,
                 lr: float | None = None, out_dim: int = 320, seed: int = 0, device: str = "cpu",
                 run_dir: str | None = None, recipe_overrides: dict[str, Any] | None = None,
                 progress: bool = False) -> None:
        self.method = method
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.out_dim = out_dim
        self.seed = seed
        self.device = device
        self.run_dir = run_dir
        self.recipe_overrides = recipe_overrides
        self.progress = progress

    def fit(self, X: Any, y: Any = None) -> TimeSeriesEncoder:
        """Pre-train on the series X (n, channels, length) or (n, length)."""
        from contrastlearn.api import pretrain

        if self.method not in RECIPES:
            raise ValueError(f"unknown method {self.method!r}; choose from {sorted(RECIPES)}")
        series = to_series_batch(X, "X")
        chosen = {"train.batch_size": self.batch_size, "train.lr": self.lr}
        overrides = {"train.steps": self.steps, "encoder.kwargs.out_dim": self.out_dim,
                     **{key: value for key, value in chosen.items() if value is not None},
                     "seed": self.seed, "eval.raw_baseline": False,
                     "train.accelerator": "cuda" if str(self.device).startswith("cuda") else "cpu",
                     **(self.recipe_overrides or {})}
        splits = DatasetSplits(ArrayDataset(series, None, name="X"), None, "timeseries",
                               {"name": "X", "num_train": len(series),
                                "sample_shape": list(series.shape[1:])})
        out = Path(self.run_dir) if self.run_dir else Path(tempfile.mkdtemp(prefix="tsenc-"))
        run = pretrain(RECIPES[self.method], dataset=splits, out=out, overwrite=True,
                       overrides=overrides, progress=self.progress, evaluate_after=False)
        self.encoder_ = run.encoder.eval()
        self.run_dir_ = run.run_dir
        self.n_channels_ = int(series.shape[1])
        return self

    @torch.no_grad()
    def transform(self, X: Any,
                  pooling: Literal["max", "timestamps", "sliding", "pyramid"] = "max",
                  window: int | None = None, stride: int | None = None,
                  chunk: int | None = None, levels: Sequence[int] = (1, 2),
                  layers: Sequence[int] | None = None) -> np.ndarray:
        """Embeddings of the series X (see the class docstring for `pooling`)."""
        if not hasattr(self, "encoder_"):
            raise RuntimeError("call fit before transform")
        series = to_series_batch(X, "X")
        if series.shape[1] != self.n_channels_:
            raise DataError(f"X has {series.shape[1]} channel(s); the encoder was fitted on "
                            f"{self.n_channels_}")
        options = self._layer_options(layers)
        device = next(self.encoder_.parameters()).device
        parts = []
        for batch in series.split(256):
            if chunk is None:
                features, valid = self.encoder_.timestamps(batch.to(device), **options)
            else:
                features, valid = encode_in_windows(self.encoder_, batch.to(device), chunk,
                                                    **options)
            parts.append((features.cpu(), valid.cpu()))
        features = torch.cat([f for f, _ in parts])
        valid = torch.cat([v for _, v in parts])
        if pooling == "max":
            return self._readout(max_over_valid(features, valid))
        if pooling == "timestamps":
            return features.masked_fill(~valid[:, :, None], float("nan")).numpy()
        if pooling == "sliding":
            return self._sliding(features, valid, window, stride)
        if pooling == "pyramid":
            levels = check_pyramid_levels(levels, "pyramid pooling")
            return self._readout(pyramid_max_over_valid(features, valid, levels))
        raise ValueError(f"unknown pooling {pooling!r}; use 'max', 'timestamps', 'sliding' or "
                         f"'pyramid'")

    def _readout(self, pooled: torch.Tensor) -> np.ndarray:
        """The pooled embedding as the encoder's own forward gives it (unit norm if asked)."""
        finish = getattr(self.encoder_, "finish_readout", None)
        return (finish(pooled) if finish else pooled).numpy()

    def _layer_options(self, layers: Sequence[int] | None) -> dict[str, tuple[int, ...]]:
        """Keyword arguments for `timestamps`: the hidden blocks to append, if any."""
        own = tuple(getattr(self.encoder_, "readout_layers", ()))
        layers = own if layers is None else tuple(layers)
        if not layers:
            return {}
        if not hasattr(self.encoder_, "readout_layers"):
            raise ValueError(f"layers needs TS2Vec's encoder (ts2vec_encoder); this one is "
                             f"{type(self.encoder_).__name__}")
        return {"layers": layers}

    @staticmethod
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
