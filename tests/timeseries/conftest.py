"""Shared time-series test data."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def waves_file(tmp_path):
    """A .npz of 40 train and 20 test noisy sine series in 3 classes, every 5th one shorter
    (NaN-padded from step 40 of 48)."""
    generator = np.random.default_rng(0)
    t = np.linspace(0, 6.28, 48)
    labels = np.arange(60) % 3
    x = np.stack([np.sin((k + 1) * t + generator.normal()) for k in labels])[:, None, :]
    x = x + 0.1 * generator.normal(size=x.shape)
    x[::5, :, 40:] = np.nan
    path = tmp_path / "waves.npz"
    np.savez(path, x=x[:40], y=labels[:40], x_test=x[40:], y_test=labels[40:])
    return path


@pytest.fixture
def noisy_waves_file(tmp_path):
    """A .npz of 60 train and 90 test sine series in 3 classes (2, 3 or 4 periods, random
    phase) under noise of 0.7 times their amplitude, every 5th one shorter (NaN-padded from
    step 40 of 48). An untrained TS2Vec encoder scores about 0.55 with the SVM, 0.35 with
    kNN (chance: 0.33); a few dozen steps of any of the series methods lift that by 0.1 to
    0.4, so a test can tell whether training helped."""
    generator = np.random.default_rng(0)
    t = np.linspace(0, 6.28, 48)
    labels = np.arange(150) % 3
    x = np.stack([np.sin((k + 2) * t + generator.normal()) for k in labels])[:, None, :]
    x = x + 0.7 * generator.normal(size=x.shape)
    x[::5, :, 40:] = np.nan
    path = tmp_path / "noisy_waves.npz"
    np.savez(path, x=x[:60], y=labels[:60], x_test=x[60:], y_test=labels[60:])
    return path
