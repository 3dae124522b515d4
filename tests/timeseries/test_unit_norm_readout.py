"""A unit-norm readout: TS2Vec's pooled embedding divided by its Euclidean norm."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import contrastlearn
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder
from contrastlearn.modalities.timeseries.methods.ts2vec import TS2Vec
from tests.learning import assert_learned, untrained_score


def _pair(**kwargs) -> tuple[TS2VecEncoder, TS2VecEncoder]:
    torch.manual_seed(0)
    plain = TS2VecEncoder(in_channels=2, hidden_dim=8, out_dim=16, depth=3, **kwargs).eval()
    unit = TS2VecEncoder(in_channels=2, hidden_dim=8, out_dim=16, depth=3, unit_norm=True,
                         **kwargs).eval()
    unit.load_state_dict(plain.state_dict())  # the readout adds no parameters
    return plain, unit


@pytest.mark.parametrize("kwargs", [{}, {"pyramid": [1, 2]}, {"readout_layers": [1]}])
def test_embedding_is_the_plain_embedding_over_its_norm(kwargs):
    plain, unit = _pair(**kwargs)
    x = torch.randn(5, 2, 20)
    x[2, :, 11:] = float("nan")  # padding
    expected = plain(x)
    expected = expected / expected.pow(2).sum(dim=1, keepdim=True).sqrt()
    embedding = unit(x)
    assert embedding.shape == (5, plain.out_dim) and unit.out_dim == plain.out_dim
    torch.testing.assert_close(embedding, expected)
    torch.testing.assert_close(embedding.norm(dim=1), torch.ones(5))


def test_per_timestamp_features_and_the_ts2vec_loss_are_unchanged():
    plain, unit = _pair()
    x = torch.randn(6, 2, 24)
    torch.testing.assert_close(unit.timestamps(x)[0], plain.timestamps(x)[0], rtol=0, atol=0)
    torch.manual_seed(1)  # the same dropout draws for both
    first = TS2Vec(plain.train(), seed=3)([x], ids=torch.arange(6)).loss
    torch.manual_seed(1)
    second = TS2Vec(unit.train(), seed=3)([x], ids=torch.arange(6)).loss
    assert torch.isfinite(first)
    torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_an_all_zero_embedding_stays_finite():
    _, unit = _pair()
    with torch.no_grad():
        for parameter in unit.parameters():
            parameter.zero_()
    embedding = unit(torch.randn(2, 2, 10))
    assert torch.isfinite(embedding).all() and (embedding == 0).all()


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_a_non_boolean_unit_norm_is_refused(bad):
    with pytest.raises(ValueError, match="unit_norm"):
        TS2VecEncoder(unit_norm=bad)


@pytest.mark.slow  # a full recipe run
def test_the_unit_recipe_trains_as_ts2vec_recon_and_reads_out_unit_embeddings(
        tmp_path, noisy_waves_file):
    path = str(noisy_waves_file)
    overrides = {"train.steps": 60, "encoder.kwargs.depth": 2, "encoder.kwargs.out_dim": 32,
                 "eval.protocols": ["svm"], "eval.raw_baseline": False}
    runs = {recipe: contrastlearn.pretrain(recipe, dataset=path, out=tmp_path / recipe,
                                           overrides=overrides, progress=False)
            for recipe in ("ts2vec-recon", "ts2vec-recon-unit")}
    assert runs["ts2vec-recon-unit"].recipe.encoder.kwargs["unit_norm"] is True
    test_x = np.load(path)["x_test"]
    plain = contrastlearn.embed(runs["ts2vec-recon"].run_dir, test_x)
    unit = contrastlearn.embed(runs["ts2vec-recon-unit"].run_dir, test_x)
    torch.testing.assert_close(unit, plain / plain.norm(dim=1, keepdim=True))
    assert_learned(runs["ts2vec-recon-unit"].result("svm").value,
                   untrained_score("ts2vec-recon-unit", "svm", path, overrides))


def test_the_sklearn_transformer_keeps_the_unit_readout(tmp_path):
    x = np.sin(np.linspace(0, 6.28, 30)[None, :] * np.arange(1, 17)[:, None])
    encoder = contrastlearn.TimeSeriesEncoder(
        method="ts2vec_recon_unit", steps=2, out_dim=8, batch_size=8,
        run_dir=str(tmp_path / "run"),
        recipe_overrides={"encoder.kwargs.depth": 1, "encoder.kwargs.hidden_dim": 8}).fit(x)
    with torch.no_grad():
        expected = encoder.encoder_(torch.as_tensor(x[:, None], dtype=torch.float32)).numpy()
    np.testing.assert_allclose(encoder.transform(x), expected, rtol=1e-5, atol=1e-6)
    for pooling in ({}, {"pooling": "pyramid", "levels": [1, 2]}):
        np.testing.assert_allclose(np.linalg.norm(encoder.transform(x, **pooling), axis=1),
                                   np.ones(16), rtol=1e-5)
