"""The dataset-wide z-normalisations of series ("channel", "global") are not set by one huge
value; per-series normalisation needs no such rule (an outlier only changes its own series)."""

from __future__ import annotations

import warnings

import pytest
import torch

from contrastlearn.modalities.timeseries.data import normalize_series


def _series() -> torch.Tensor:
    return torch.randn(30, 2, 40, generator=torch.Generator().manual_seed(0)) * 3 + 1


@pytest.mark.parametrize("mode", ["channel", "global"])
def test_one_huge_value_does_not_set_the_std(mode):
    clean = _series()
    dirty = clean.clone()
    dirty[4, 1, 7] = 1e30
    dirty[5, 0, 30:] = float("nan")  # padding survives
    with pytest.warns(RuntimeWarning, match=r"dominated by outliers .* by its std"):
        train, test = normalize_series(dirty, dirty[:3], mode)
    reference, _ = normalize_series(clean, None, mode)
    others = torch.isfinite(train) & (torch.arange(30)[:, None, None] != 4)
    assert torch.allclose(train[others], reference[others], atol=0.05)
    assert float(train.nan_to_num().abs().max()) < 10
    assert torch.isnan(train[5, 0, 30:]).all()
    assert torch.allclose(test, train[:3], equal_nan=True)


def test_clean_series_and_per_series_normalisation_are_left_alone():
    dirty = _series()
    dirty[4, 1, 7] = 1e30
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for mode in ("channel", "global"):
            normalize_series(_series(), None, mode)
        own, _ = normalize_series(dirty, None, "series")
    clean, _ = normalize_series(_series(), None, "series")
    assert torch.allclose(own[:4], clean[:4]) and torch.allclose(own[5:], clean[5:])
