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
