"""Time-series data: (n, channels, length) float arrays.

Series of unequal length are padded at the end with NaN, so a batch stays one tensor and every
view and encoder can tell padding from data (never silently truncated). NaN *inside* a series
(before its last finite value) is missing data, not padding: it is an error unless the caller
imputes it (`impute_missing`). Built-in sets are the classification sets aeon bundles, read
offline with their official train/test splits.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import (
    DataError,
    DatasetSplits,
    arrays_to_splits,
    check_real_numbers,
)
from contrastlearn.data.outliers import clip_finite, count_beyond, outlier_limit, outlier_warning

AEON_INSTALL = 'pip install "contrastlearn[timeseries]"  (or: pip install aeon)'

UNIVARIATE = ("GunPoint", "ArrowHead", "ItalyPowerDemand", "OSULeaf", "ACSF1", "UnitTest",
              "PickupGestureWiimoteZ", "Covid3Month_disc")
"""aeon-bundled UCR sets: used as shipped, except those in GLOBALLY_NORMALISED."""
GLOBALLY_NORMALISED = ("PickupGestureWiimoteZ",)
"""UCR sets that TS2Vec's loader z-normalises with the train split's overall mean and std (it
does so for the sets the UCR archive ships unnormalised)."""
MULTIVARIATE = ("BasicMotions", "JapaneseVowels")
"""aeon-bundled UEA sets: each channel standardised with the train split's mean and std."""


def _real_series(item: Any, what: str) -> np.ndarray:
    """One series of a list as float64. Strings and complex numbers are a DataError that names
    the fix; an object array (pandas' mixed columns) is fine when every entry is a number."""
    if isinstance(item, Tensor):
        item = item.detach().cpu().numpy()
    try:
        array = np.asarray(item)
    except ValueError:  # ragged: channels of different lengths
        array = np.asarray(item, dtype=object)
    if array.dtype != object:
        check_real_numbers(array, what)
    try:
        return array.astype(np.float64)
    except (TypeError, ValueError):  # ragged, or an object array holding a non-number
        raise DataError(f"{what} holds entries that are not real numbers of one shape (e.g. "
                        "strings or complex numbers); give each series as a float array of "
                        "shape (channels, length) or (length,)") from None


def _pad(series: Sequence[Any], what: str) -> np.ndarray:
    """A list of (C, T_i) or (T_i,) arrays as one (n, C, max T) array, NaN-padded at the end."""
    if not series:
        raise DataError(f"{what} is empty")
    arrays = [_real_series(item, f"{what}[{index}]") for index, item in enumerate(series)]
    arrays = [a[None, :] if a.ndim == 1 else a for a in arrays]
    if any(a.ndim != 2 for a in arrays):
        raise DataError(f"{what}: each series must be (channels, length) or (length,)")
    channels = {a.shape[0] for a in arrays}
    if len(channels) != 1:
        raise DataError(f"{what}: series have different channel counts {sorted(channels)}")
    length = max(a.shape[1] for a in arrays)
    out = np.full((len(arrays), arrays[0].shape[0], length), np.nan)
    for index, a in enumerate(arrays):
        out[index, :, : a.shape[1]] = a
    return out


def to_series_batch(array: Any, what: str = "series") -> Tensor:
    """Validated float32 (n, C, T) series from (n, T), (n, C, T) or a list of per-series arrays
    of different lengths (NaN-padded). Raises DataError for Inf, for missing values inside a
    series, for empty series and for other shapes."""
    if isinstance(array, Tensor):
        array = array.detach().cpu().numpy()
    if isinstance(array, (list, tuple)) or (isinstance(array, np.ndarray)
                                            and array.dtype == object):
        array = _pad(list(array), what)
    check_real_numbers(array, what)
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[:, None, :]
    if array.ndim != 3:
        raise DataError(f"{what} must be (n, length) or (n, channels, length), got shape "
                        f"{array.shape}")
    if array.shape[0] == 0 or array.shape[2] == 0:
        raise DataError(f"{what} is empty (shape {array.shape})")
    x = torch.as_tensor(np.ascontiguousarray(array), dtype=torch.float32)
    check_padding(x, what)
    return x


def check_padding(x: Tensor, what: str) -> None:
    """NaN may only pad the end of a series; Inf is never allowed."""
    if bool(torch.isinf(x).any()):
        rows = torch.isinf(x).flatten(1).any(dim=1).nonzero().flatten()
        raise DataError(f"{what} contains Inf in {len(rows)} series, first {rows[:5].tolist()}")
    finite = torch.isfinite(x).all(dim=1)  # (n, T): a timestamp counts when all channels are
    steps = torch.arange(1, x.shape[-1] + 1)
    lengths = (finite * steps).amax(dim=1)
    empty = (lengths == 0).nonzero().flatten()
    if len(empty):
        raise DataError(f"{what}: {len(empty)} series have no finite value, first "
                        f"{empty[:5].tolist()}")
    inside = torch.arange(x.shape[-1])[None, :] < lengths[:, None]
    missing = (~torch.isfinite(x)).any(dim=1) & inside
    if bool(missing.any()):
        rows = missing.any(dim=1).nonzero().flatten()
        raise DataError(
            f"{what} has missing values (NaN) inside {len(rows)} series, first "
            f"{rows[:5].tolist()}; NaN is allowed only as padding at the end. Impute them "
            "first, e.g. contrastlearn.modalities.timeseries.data.impute_missing(x, 'linear')"
        )


def impute_missing(x: Any, method: Literal["linear", "zero", "previous"] = "linear") -> np.ndarray:
    """Fill NaN inside each series (trailing NaN padding is kept): linear interpolation
    between the neighbouring values (ends held flat), zeros, or the previous value."""
    array = np.array(x, dtype=np.float64, copy=True)
    if array.ndim == 2:
        array = array[:, None, :]
    if method not in ("linear", "zero", "previous"):
        raise ValueError(f"unknown imputation {method!r}; use 'linear', 'zero' or 'previous'")
    for series in array:
        for channel in series:
            finite = np.isfinite(channel)
            if not finite.any():
                continue
            end = np.nonzero(finite)[0][-1] + 1
            part = channel[:end]
            holes = ~np.isfinite(part)
            if not holes.any():
                continue
            known = np.nonzero(~holes)[0]
            if method == "zero":
                part[holes] = 0.0
            elif method == "previous":
                last = np.maximum.accumulate(np.where(holes, 0, np.arange(end)))
                filled = part[last]
                filled[: known[0]] = part[known[0]]
                part[:] = filled
            else:
                part[holes] = np.interp(np.nonzero(holes)[0], known, part[known])
    return array


def clip_outliers(train: Tensor, test: Tensor | None = None, *,
                  per_channel: bool = False) -> tuple[Tensor, Tensor | None]:
    """Both splits clipped to the train split's robust limit (`outlier_limit`; per channel
    with `per_channel`) where the train split is dominated by outliers, with a warning;
    unchanged otherwise. A statistic of the whole dataset (a std) is then not set by one huge
    value that would squash every other value to 0. Padding (NaN) is kept."""
    groups = train.transpose(0, 1) if per_channel else train[None]
    limits = [outlier_limit(group) for group in groups]
    if all(limit is None for limit in limits):
        return train, test
    bound = torch.tensor([float("inf") if limit is None else limit for limit in limits],
                         dtype=torch.float64)
    bound = bound[None, :, None] if per_channel else bound[0]
    clipped = sum(count_beyond(split, bound) for split in (train, test) if split is not None)
    shown = (", ".join(f"channel {index}: {limit:.4g}" for index, limit in enumerate(limits)
                       if limit is not None) if per_channel else f"{limits[0]:.4g}")
    warnings.warn(outlier_warning("the train series", shown, clipped,
                                  "its std" + (" per channel" if per_channel else "")),
                  RuntimeWarning, stacklevel=3)
    return tuple(None if split is None else clip_finite(split.double(), bound).to(split.dtype)
                 for split in (train, test))


def normalize_series(
    train: Tensor, test: Tensor | None = None,
    mode: Literal["series", "channel", "global", "none"] = "series",
) -> tuple[Tensor, Tensor | None]:
    """z-normalise, ignoring padding: "series" uses each series' own mean and std per channel
    (UCR style); "channel" uses the train split's mean and std per channel for both splits
    (UEA style, TS2Vec's StandardScaler); "global" uses the train split's single overall mean
    and std (TS2Vec's loader for unnormalised UCR sets). The dataset-wide modes ("channel",
    "global") first clip outlier-dominated data (`clip_outliers`); "series" needs no such rule,
    as an outlier only changes its own series."""
    if mode == "none":
        return train, test
    if mode in ("global", "channel"):
        train, test = clip_outliers(train, test, per_channel=mode == "channel")
    if mode == "global":
        mean = torch.nanmean(train)
        std = torch.sqrt(torch.nanmean((train - mean) ** 2)).clamp(min=1e-8)
        return (train - mean) / std, None if test is None else (test - mean) / std
    if mode == "series":
        def own(x: Tensor) -> Tensor:
            mean = torch.nanmean(x, dim=-1, keepdim=True)
            std = torch.sqrt(torch.nanmean((x - mean) ** 2, dim=-1, keepdim=True))
            return (x - mean) / std.clamp(min=1e-8)

        return own(train), None if test is None else own(test)
    if mode == "channel":
        flat = train.transpose(0, 1).reshape(train.shape[1], -1)
        mean = torch.nanmean(flat, dim=1)[None, :, None]
        std = torch.sqrt(torch.nanmean((flat - mean[0]) ** 2, dim=1))[None, :, None]
        std = std.clamp(min=1e-8)
        return (train - mean) / std, None if test is None else (test - mean) / std
    raise ValueError(f"unknown normalisation {mode!r}; use 'series', 'channel', 'global' or "
                     "'none'")


def series_samples(array: Any, scale: float | None = None) -> Tensor:
    """Validated (n, C, T) series for embedding (`scale` is unused: series are not rescaled)."""
    return to_series_batch(array, "series")


def series_splits(
    x: Any, y: Any = None, x_test: Any = None, y_test: Any = None, *, name: str,
    holdout_fraction: float = 0.2, seed: int = 0, groups: Any = None,
) -> DatasetSplits:
    """Validate series arrays and make train/test splits; train and test are NaN-padded to one
    length when they differ. `groups` (one id per training series: subject, device) makes
    series of one group positives of each other."""
    train = to_series_batch(x, f"{name}: x")
    test = None if x_test is None else to_series_batch(x_test, f"{name}: x_test")
    if test is not None:
        if test.shape[1] != train.shape[1]:
            raise DataError(f"{name}: x_test has {test.shape[1]} channels, x has "
                            f"{train.shape[1]}")
        length = max(train.shape[-1], test.shape[-1])
        train, test = (torch.nn.functional.pad(t, (0, length - t.shape[-1]), value=float("nan"))
                       for t in (train, test))
    splits = arrays_to_splits(train, y, test, y_test, name=name, modality="timeseries",
                              holdout_fraction=holdout_fraction, seed=seed, allow_padding=True,
                              groups=groups)
    lengths = torch.isfinite(train).all(dim=1).sum(dim=1)
    splits.info.update({"min_length": int(lengths.min()), "max_length": int(lengths.max()),
                        "padded": bool(lengths.min() < train.shape[-1])})
    return splits


def load_aeon_classification(name: str, holdout_fraction: float = 0.2,
                             seed: int = 0) -> DatasetSplits:
    """An aeon-bundled classification set with its official train/test split; labels are
    mapped to 0..K-1 over both splits; UEA sets get per-channel standardisation on train, and
    the UCR sets TS2Vec's loader normalises get the same global z-normalisation here."""
    try:
        from aeon.datasets import load_classification
    except ImportError:
        raise DataError(f"the {name} dataset needs aeon; install it with: {AEON_INSTALL}") from None
    train_x, train_y = load_classification(name, split="train")
    test_x, test_y = load_classification(name, split="test")
    classes, codes = np.unique(np.concatenate([train_y, test_y]), return_inverse=True)
    train = to_series_batch(train_x, f"{name}: train")
    test = to_series_batch(test_x, f"{name}: test")
    mode = ("channel" if name in MULTIVARIATE
            else "global" if name in GLOBALLY_NORMALISED else "none")
    train, test = normalize_series(train, test, mode)
    splits = series_splits(train, codes[: len(train_y)], test, codes[len(train_y):], name=name)
    splits.info.update({"normalization": mode, "classes": [str(c) for c in classes],
                        "source": "aeon (bundled, offline)"})
    return splits


def _aeon_available() -> tuple[bool, str]:
    try:
        import aeon  # noqa: F401
    except ImportError:
        return False, f"install with: {AEON_INSTALL}"
    return True, "bundled with aeon"


def _register_aeon(name: str) -> None:
    def load(holdout_fraction: float = 0.2, seed: int = 0) -> DatasetSplits:
        return load_aeon_classification(name, holdout_fraction, seed)

    kind = "multivariate UEA" if name in MULTIVARIATE else "univariate UCR"
    load.__doc__ = f"{name}: {kind} classification set bundled with aeon (official split)."
    load.available = _aeon_available
    DATASETS.register(name, modality="timeseries")(load)


for _name in UNIVARIATE + MULTIVARIATE:
    _register_aeon(_name)
