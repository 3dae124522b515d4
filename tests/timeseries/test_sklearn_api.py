"""The scikit-learn TimeSeriesEncoder: fit/transform, pooling modes, a Pipeline, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

import contrastlearn
from contrastlearn.data.arrays import DataError
from tests.learning import assert_learned


def _waves(count: int = 48, length: int = 40, seed: int = 0):
    generator = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    t = np.linspace(0, 6.28, length)
    x = np.stack([np.sin((2 * k + 1) * t + generator.normal()) for k in labels])
    return x + 0.1 * generator.normal(size=x.shape), labels


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    x, _ = _waves()
    encoder = contrastlearn.TimeSeriesEncoder(
        steps=6, out_dim=16, run_dir=str(tmp_path_factory.mktemp("tsenc") / "run"),
        recipe_overrides={"encoder.kwargs.depth": 2, "encoder.kwargs.hidden_dim": 8})
    return encoder.fit(x)


def test_pooling_modes(fitted):
    x, _ = _waves(6)
    assert fitted.transform(x).shape == (6, 16)
    ragged = [x[0], x[1][:25]]
    per_step = fitted.transform(ragged, pooling="timestamps")
    assert per_step.shape == (2, 40, 16)
    assert np.isnan(per_step[1, 25:]).all() and np.isfinite(per_step[1, :25]).all()
    windows = fitted.transform(x, pooling="sliding", window=10, stride=5)
    assert windows.shape == (6, 7, 16)
    np.testing.assert_allclose(windows[:, 0], per_step_max(fitted, x, 0, 10), rtol=1e-5)
    pyramid = fitted.transform(ragged, pooling="pyramid", levels=(1, 2))
    assert pyramid.shape == (2, 48)
    np.testing.assert_allclose(pyramid[1, 16:32], per_step[1, :13].max(axis=0), rtol=1e-5)
    np.testing.assert_allclose(pyramid[1, 32:], per_step[1, 13:25].max(axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="pyramid"):
        fitted.transform(x, pooling="pyramid", levels=(0,))
    assert (fitted.run_dir_ / "encoder" / "model.safetensors").is_file()


def test_layer_readout_appends_hidden_blocks_and_works_in_windows(fitted):
    x, _ = _waves(5)
    plain = fitted.transform(x)
    tapped = fitted.transform(x, layers=[0, 1])
    assert tapped.shape == (5, 16 + 2 * 8)
    np.testing.assert_allclose(tapped[:, :16], plain, rtol=1e-6)
    np.testing.assert_allclose(fitted.transform(x, layers=[0, 1], chunk=7), tapped, rtol=1e-4,
                               atol=1e-5)
    assert fitted.transform(x, pooling="timestamps", layers=[1]).shape == (5, 40, 24)
    with pytest.raises(ValueError, match="readout_layers"):
        fitted.transform(x, layers=[2])


def per_step_max(fitted, x, start, stop):
    return fitted.transform(x, pooling="timestamps")[:, start:stop].max(axis=1)


def test_bad_input(fitted):
    x, _ = _waves(4)
    with pytest.raises(DataError, match="channel"):
        fitted.transform(np.stack([x, x], axis=1))
    with pytest.raises(ValueError, match="window"):
        fitted.transform(x, pooling="sliding", window=100)
    with pytest.raises(ValueError, match="pooling"):
        fitted.transform(x, pooling="mean")
    with pytest.raises(RuntimeError, match="fit"):
        contrastlearn.TimeSeriesEncoder().transform(x)
    with pytest.raises(ValueError, match="unknown method"):
        contrastlearn.TimeSeriesEncoder(method="nope").fit(x)


def _noisy_waves(count: int = 150, seed: int = 0):
    """Three classes (2, 3 or 4 periods, random phase) under noise of 0.7 times their
    amplitude: an untrained encoder leaves an SVC near chance (1/3)."""
    generator = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    t = np.linspace(0, 6.28, 48)
    x = np.stack([np.sin((k + 2) * t + generator.normal()) for k in labels])
    return x + 0.7 * generator.normal(size=x.shape), labels


@pytest.mark.slow  # a full fit in a Pipeline
def test_inside_a_pipeline_training_beats_the_untrained_encoder(tmp_path):
    x, y = _noisy_waves()
    encoder = contrastlearn.TimeSeriesEncoder(
        steps=60, out_dim=32, run_dir=str(tmp_path / "run"),
        recipe_overrides={"encoder.kwargs.depth": 2})
    assert clone(encoder).get_params()["steps"] == 60
    trained = make_pipeline(encoder, SVC()).fit(x[:60], y[:60]).score(x[60:], y[60:])
    # the same estimator with its training switched off: the encoder at step 0
    untrained = clone(encoder).set_params(lr=1e-12, run_dir=str(tmp_path / "untrained"))
    baseline = make_pipeline(untrained, SVC()).fit(x[:60], y[:60]).score(x[60:], y[60:])
    assert_learned(trained, baseline)


def test_chunked_encoding_matches_full(fitted):
    x, _ = _waves(5, length=90)
    full = fitted.transform(x, pooling="timestamps")
    chunked = fitted.transform(x, pooling="timestamps", chunk=16)
    np.testing.assert_allclose(chunked, full, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", ["instance", *(
    pytest.param(name, marks=pytest.mark.slow)
    for name in ("ts_tcc", "learned_aug", "softclt", "ts2vec_recon", "ts2vec_recon_unit"))])
def test_other_methods_fit_and_transform(method, tmp_path):
    x, _ = _waves(32)
    encoder = contrastlearn.TimeSeriesEncoder(
        method=method, steps=2, out_dim=8, batch_size=8, run_dir=str(tmp_path / "run"),
        recipe_overrides={"encoder.kwargs.depth": 1, "encoder.kwargs.hidden_dim": 8})
    embeddings = encoder.fit(x).transform(x[:3])
    assert embeddings.shape == (3, 8) and np.isfinite(embeddings).all()
