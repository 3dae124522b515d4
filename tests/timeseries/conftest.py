"""Shared time-series test data."""

from __future__ import annotations

import numpy as np
import pytest


def sine_waves_npz(path, *, count: int, train: int, first_period: int, noise: float):
    """A .npz of `count` sine series of 48 steps in 3 classes (`first_period` + class index
    periods, random phase) plus Gaussian noise, every 5th one shorter (NaN-padded from step 40);
    the first `train` series are the train split, the rest the test split."""
    generator = np.random.default_rng(0)
    t = np.linspace(0, 6.28, 48)
    labels = np.arange(count) % 3
    x = np.stack([np.sin((k + first_period) * t + generator.normal()) for k in labels])
    x = x[:, None, :] + noise * generator.normal(size=(count, 1, 48))
    x[::5, :, 40:] = np.nan
    np.savez(path, x=x[:train], y=labels[:train], x_test=x[train:], y_test=labels[train:])
    return path


@pytest.fixture
def waves_file(tmp_path):
    """A .npz of 40 train and 20 test noisy sine series in 3 classes, every 5th one shorter
    (NaN-padded from step 40 of 48)."""
    return sine_waves_npz(tmp_path / "waves.npz", count=60, train=40, first_period=1,
                          noise=0.1)


@pytest.fixture
def noisy_waves_file(tmp_path):
    """A .npz of 60 train and 90 test sine series in 3 classes (2, 3 or 4 periods, random
    phase) under noise of 0.7 times their amplitude, every 5th one shorter (NaN-padded from
    step 40 of 48). An untrained TS2Vec encoder scores about 0.55 with the SVM, 0.35 with
    kNN (chance: 0.33); a few dozen steps of any of the series methods lift that by 0.1 to
    0.4, so a test can tell whether training helped."""
    return sine_waves_npz(tmp_path / "noisy_waves.npz", count=150, train=60, first_period=2,
                          noise=0.7)
