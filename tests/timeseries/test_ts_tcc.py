"""TS-TCC: the method on NaN-padded series (shapes, metrics, the random step inside the
shortest series, determinism, exact resume from the generator buffer, errors) and the
`ts-tcc` recipe end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import contrastlearn
from contrastlearn.core.registry import METHODS
from contrastlearn.modalities.timeseries.augment import ts_tcc_views
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder
from contrastlearn.modalities.timeseries.methods.ts_tcc import TSTCC
from tests.learning import assert_learned, untrained_score

TIMESTEPS, DOWNSAMPLE = 4, 2


def _method(init_seed: int = 0, seed: int = 5) -> TSTCC:
    torch.manual_seed(init_seed)
    encoder = TS2VecEncoder(in_channels=2, hidden_dim=8, out_dim=16, depth=2)
    return TSTCC(encoder, timesteps=TIMESTEPS, downsample=DOWNSAMPLE, hidden_dim=16,
                 context_layers=1, seed=seed)


def _views(length: int = 40, shortest: int = 25, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 2, length, generator=generator)
    x[2, :, shortest:] = float("nan")
    return ts_tcc_views()(x, generator)


def _step(method: TSTCC, views, global_seed: int = 0):
    torch.manual_seed(global_seed)  # dropout and batch norm draw from torch's global RNG
    return method(views, ids=torch.arange(len(views[0])))


def test_step_on_padded_series_gives_loss_metrics_and_embeddings():
    method = _method()
    output = _step(method, _views())
    assert math.isfinite(float(output.loss.detach())) and output.loss.requires_grad
    for name in ("tc_loss", "cc_loss", "tc_accuracy", "contrastive_accuracy", "context_steps"):
        assert name in output.metrics
    expected = float(output.metrics["tc_loss"]) + 0.7 * float(output.metrics["cc_loss"])
    assert float(output.loss.detach()) == pytest.approx(expected, rel=1e-5)
    assert [tuple(e.shape) for e in output.embeddings] == [(6, 4), (6, 4)]  # out_dim // 4
    output.loss.backward()
    assert all(p.grad is not None for p in method.parameters())
    assert METHODS.get("ts_tcc").default_views == "ts_tcc_views"


def test_context_and_future_stay_inside_the_shortest_series():
    method = _method()
    pooled = math.ceil(25 / DOWNSAMPLE)  # the shortest series has 25 valid steps
    drawn = {int(_step(method, _views(seed=seed)).metrics["context_steps"]) for seed in range(30)}
    assert min(drawn) >= 1 and max(drawn) + TIMESTEPS <= pooled
    assert len(drawn) > 3  # the step is random


def test_steps_are_deterministic_under_seed_and_resume_exactly():
    views = _views()
    first, second = _method(), _method()
    assert torch.equal(_step(first, views).loss, _step(second, views).loss)

    reference = _method()
    before = reference.rng_state.clone()
    _step(reference, views)
    assert not torch.equal(before, reference.rng_state)
    resumed = _method(init_seed=1, seed=99)  # other weights and generator, then restored
    resumed.load_state_dict(reference.state_dict())
    expected, got = _step(reference, views, 3), _step(resumed, views, 3)
    assert torch.equal(expected.loss, got.loss)
    assert expected.metrics["context_steps"] == got.metrics["context_steps"]
    assert torch.equal(reference.rng_state, resumed.rng_state)


@pytest.mark.parametrize("shortest,pooled,future", [
    (2, 2, 1), (3, 3, 1), (7, 4, 1), (8, 4, 1), (13, 7, 2), (25, 13, 4),
])
def test_short_series_adapt_the_horizon(shortest, pooled, future):
    """Pooling drops to at most half the shortest length; K to 40% of the pooled length."""
    method = _method()
    assert method.future_steps(pooled) == future
    output = _step(method, _views(shortest=shortest))
    assert output.metrics["future_steps"] == float(future)
    assert output.metrics["context_steps"] + future <= pooled


def test_errors_name_the_problem():
    method = _method()
    with pytest.raises(ValueError, match="at least 2 valid"):
        _step(method, _views(shortest=1))
    with pytest.raises(ValueError, match="weak and a strong"):
        method(_views()[:1])
    flat = torch.nn.Linear(3, 3)
    flat.out_dim = 3
    with pytest.raises(TypeError, match="per-timestamp"):
        TSTCC(flat)


@pytest.mark.slow  # a full recipe run
def test_ts_tcc_recipe_learns_end_to_end(tmp_path, noisy_waves_file):
    path = str(noisy_waves_file)
    overrides = {"train.steps": 60, "train.lr": 1e-3, "encoder.kwargs.depth": 2,
                 "encoder.kwargs.out_dim": 32, "method.kwargs.context_layers": 1,
                 "eval.protocols": ["svm"], "eval.raw_baseline": False}
    run = contrastlearn.pretrain("ts-tcc", dataset=path, out=tmp_path / "run",
                                 overrides=overrides, progress=False)
    assert run.recipe.method.name == "ts_tcc" and run.training.steps == 60
    svm = run.result("svm")
    assert svm.split == "test"
    assert_learned(svm.value, untrained_score("ts-tcc", "svm", path, overrides))
    embeddings = contrastlearn.embed(run.run_dir, np.load(path)["x_test"])
    assert embeddings.shape == (90, 32) and torch.isfinite(embeddings).all()
