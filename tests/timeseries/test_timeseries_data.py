"""Time-series data: shapes, NaN padding vs missing values, imputation, normalisation,
splits from arrays and .npz files, and the aeon-bundled sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import DataError
from contrastlearn.data.resolve import resolve_dataset, to_samples
from contrastlearn.modalities.timeseries.data import (
    AEON_INSTALL,
    impute_missing,
    normalize_series,
    to_series_batch,
)
from tests.conftest import require_system_data


def test_layouts_and_unequal_lengths():
    assert to_series_batch(np.zeros((5, 30))).shape == (5, 1, 30)
    assert to_series_batch(np.zeros((5, 2, 30))).shape == (5, 2, 30)
    ragged = [np.ones((2, 10)), np.ones((2, 7)), np.ones((2, 12))]
    x = to_series_batch(ragged)
    assert x.shape == (3, 2, 12) and x.dtype == torch.float32
    assert torch.isnan(x[1, :, 7:]).all() and torch.isfinite(x[1, :, :7]).all()
    assert to_series_batch([np.arange(4.0), np.arange(6.0)]).shape == (2, 1, 6)


def test_bad_series_are_clear_errors():
    inside = np.ones((3, 20))
    inside[1, 5] = np.nan
    with pytest.raises(DataError, match="missing values .* inside 1 series, first \\[1\\]"):
        to_series_batch(inside)
    infinite = np.ones((2, 10))
    infinite[0, 3] = np.inf
    with pytest.raises(DataError, match="Inf"):
        to_series_batch(infinite)
    with pytest.raises(DataError, match="no finite value"):
        to_series_batch(np.full((2, 5), np.nan))
    with pytest.raises(DataError, match="shape"):
        to_series_batch(np.zeros((2, 3, 4, 5)))
    with pytest.raises(DataError, match="different channel counts"):
        to_series_batch([np.ones((2, 5)), np.ones((3, 5))])
    with pytest.raises(DataError, match="numeric"):
        to_series_batch(np.array([["a", "b"]]))


def test_impute_missing():
    x = np.array([[1.0, np.nan, 3.0, np.nan, np.nan]])  # the trailing NaNs are padding
    np.testing.assert_array_equal(impute_missing(x, "linear")[0, 0, :3], [1, 2, 3])
    assert np.isnan(impute_missing(x, "linear")[0, 0, 3:]).all()
    np.testing.assert_array_equal(impute_missing(x, "zero")[0, 0, :3], [1, 0, 3])
    y = np.array([[np.nan, 2.0, np.nan, 4.0]])
    np.testing.assert_array_equal(impute_missing(y, "previous")[0, 0], [2, 2, 2, 4])
    to_series_batch(impute_missing(y))  # now valid
    with pytest.raises(ValueError, match="unknown imputation"):
        impute_missing(y, "mean")


def test_normalize_ignores_padding():
    x = to_series_batch([np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0])])
    own, _ = normalize_series(x, mode="series")
    finite = own[torch.isfinite(own)]
    assert torch.isnan(own[1, 0, 2])
    torch.testing.assert_close(own[0, 0], torch.tensor([-1.2247, 0.0, 1.2247]), atol=1e-4,
                               rtol=0)
    assert abs(float(finite[3:].mean())) < 1e-6
    train = torch.tensor([[[0.0, 2.0], [10.0, 30.0]]])
    test = torch.tensor([[[1.0, 1.0], [20.0, 20.0]]])
    scaled_train, scaled_test = normalize_series(train, test, mode="channel")
    torch.testing.assert_close(scaled_train, torch.tensor([[[-1.0, 1.0], [-1.0, 1.0]]]))
    torch.testing.assert_close(scaled_test, torch.tensor([[[0.0, 0.0], [0.0, 0.0]]]))
    padded = torch.tensor([[[1.0, 3.0, float("nan")]], [[5.0, 7.0, 9.0]]])
    scaled, scaled_test = normalize_series(padded, padded[:1], mode="global")
    values = np.array([1.0, 3.0, 5.0, 7.0, 9.0])  # reference: numpy over the valid values
    expected = (np.array([1.0, 3.0]) - values.mean()) / values.std()
    torch.testing.assert_close(scaled[0, 0, :2], torch.tensor(expected, dtype=torch.float32))
    assert torch.isnan(scaled[0, 0, 2]) and torch.equal(scaled_test[0, 0, :2], scaled[0, 0, :2])
    with pytest.raises(ValueError, match="normalisation"):
        normalize_series(train, mode="minmax")


def test_splits_from_npz_keep_padding(tmp_path):
    generator = np.random.default_rng(0)
    x = generator.normal(size=(40, 3, 50))
    x[::4, :, 30:] = np.nan  # every 4th series is shorter
    path = tmp_path / "sensors.npz"
    np.savez(path, x=x, y=np.arange(40) % 2, x_test=x[:10, :, :45], y_test=np.arange(10) % 2)
    splits = resolve_dataset(str(path), modality="timeseries")
    assert splits.modality == "timeseries"
    assert splits.train.x.shape == (40, 3, 50) and splits.test.x.shape == (10, 3, 50)
    assert splits.info["min_length"] == 30 and splits.info["padded"]
    assert torch.isnan(splits.test.x[:, :, 45:]).all()
    holdout = resolve_dataset({"x": x, "y": np.arange(40) % 2}, modality="timeseries")
    assert len(holdout.train) == 32 and holdout.info["test_split"] == "holdout_0.2_seed0"
    assert to_samples(x[:3], "timeseries").shape == (3, 3, 50)
    with pytest.raises(DataError, match="channels"):
        resolve_dataset({"x": x, "x_test": x[:, :2]}, modality="timeseries")


def _aeon_installed() -> bool:
    available, _ = DATASETS.get("GunPoint").available()
    return available


@pytest.mark.parametrize("name,train,test,channels,classes", [
    ("GunPoint", 50, 150, 1, 2), ("BasicMotions", 40, 40, 6, 4),
    ("JapaneseVowels", 270, 370, 12, 9), ("PickupGestureWiimoteZ", 50, 50, 1, 10),
])
def test_aeon_bundled_sets(name, train, test, channels, classes):
    require_system_data(_aeon_installed(), AEON_INSTALL)
    splits = resolve_dataset(name, modality="timeseries")
    assert (len(splits.train), len(splits.test)) == (train, test)
    assert splits.train.x.shape[1] == channels
    assert int(torch.cat([splits.train.y, splits.test.y]).max()) + 1 == classes
    if name == "JapaneseVowels":  # unequal lengths 7-29: NaN-padded, never truncated
        assert splits.info["padded"] and splits.info["min_length"] == 7
        assert splits.info["normalization"] == "channel"
    if name == "PickupGestureWiimoteZ":  # TS2Vec's loader z-normalises it globally
        assert splits.info["normalization"] == "global"
        valid = splits.train.x[torch.isfinite(splits.train.x)]
        assert abs(float(valid.mean())) < 1e-4 and abs(float(valid.std()) - 1) < 1e-2
