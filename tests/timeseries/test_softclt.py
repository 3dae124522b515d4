"""SoftCLT as a method: the distance table, the batch's soft targets by series id, clear
errors, and the `ts-softclt` recipe end to end with an exact resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import contrastlearn
from contrastlearn.data.arrays import ArrayDataset, DataError
from contrastlearn.modalities.timeseries.dtw import pairwise_dtw
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder
from contrastlearn.modalities.timeseries.methods.softclt import SoftCLT
from contrastlearn.objectives.hierarchical import soft_instance_weights
from tests.timeseries.resume import assert_resumes_exactly


def _series(count: int = 10, length: int = 24) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 6.28, length)
    frequencies = 1 + torch.arange(count) % 3
    x = torch.sin(frequencies[:, None] * t) + 0.1 * torch.randn(count, length,
                                                                 generator=generator)
    x = x[:, None, :]
    x[3, :, 20:] = float("nan")
    return x


def _method(**kwargs) -> SoftCLT:
    encoder = TS2VecEncoder(in_channels=1, hidden_dim=8, out_dim=8, depth=1)
    return SoftCLT(encoder, seed=0, **kwargs)


def test_soft_targets_follow_series_ids():
    x = _series()
    full = ArrayDataset(x, torch.arange(10) % 3)
    subset = full.subset(torch.tensor([7, 2, 5, 0, 9]))  # ids are no longer 0..n-1
    method = _method(instance_tau=3.0, soft_alpha=0.4)
    method.prepare(subset, torch.device("cpu"))
    table = soft_instance_weights(pairwise_dtw(x[[7, 2, 5, 0, 9]]), 3.0, 0.4)
    batch_ids = torch.tensor([0, 7, 9])
    rows = torch.tensor([3, 0, 4])  # where ids 0, 7, 9 sit in the subset
    torch.testing.assert_close(method.instance_weights(batch_ids), table[rows][:, rows])
    with pytest.raises(DataError, match="did not see"):
        method.instance_weights(torch.tensor([1, 7]))
    with pytest.raises(DataError, match="did not see"):
        method.instance_weights(torch.tensor([42]))


def test_euclidean_distance_and_switching_targets_off():
    x = _series(count=6)
    method = _method(distance="euclidean", instance_tau=1.0)
    method.prepare(ArrayDataset(x), torch.device("cpu"))
    flat = torch.nan_to_num(x).flatten(1)
    expected = soft_instance_weights(torch.cdist(flat, flat), 1.0, 0.5)
    torch.testing.assert_close(method.instance_weights(torch.arange(6)), expected)
    off = _method(instance_tau=0.0)
    off.prepare(ArrayDataset(x), torch.device("cpu"))  # nothing to compute
    assert off.instance_weights(torch.arange(6)) is None
    step = off([x[:4]], ids=torch.arange(4))
    assert torch.isfinite(step.loss)


def test_softclt_bad_input():
    x = _series(count=6)
    with pytest.raises(RuntimeError, match="prepare"):
        _method()([x[:4]], ids=torch.arange(4))
    grouped = ArrayDataset(x, ids=torch.tensor([0, 0, 1, 1, 2, 2]))
    with pytest.raises(DataError, match="one id per series"):
        _method().prepare(grouped, torch.device("cpu"))
    with pytest.raises(ValueError, match="distance"):
        _method(distance="cosine")
    with pytest.raises(ValueError, match="soft_alpha"):
        _method(soft_alpha=2.0)


def test_softclt_step_uses_the_soft_targets():
    x = _series(count=8)
    data = ArrayDataset(x)
    soft, hard = _method(), _method(instance_tau=0.0, temporal_tau=0.0)
    hard.load_state_dict(soft.state_dict())
    soft.prepare(data, torch.device("cpu"))
    soft_loss = soft([x], ids=torch.arange(8)).loss
    hard_loss = hard([x], ids=torch.arange(8)).loss  # same crops, masks and weights
    assert float(soft_loss.detach()) > float(hard_loss.detach())
    soft_loss.backward()
    grads = [p.grad for p in soft.encoder.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_softclt_recipe_end_to_end_and_resume(tmp_path, waves_file):
    path = waves_file
    overrides = {"train.steps": 10, "encoder.kwargs.depth": 2, "encoder.kwargs.out_dim": 32,
                 "eval.protocols": ["svm"], "eval.raw_baseline": False}
    run = contrastlearn.pretrain("ts-softclt", dataset=str(path), out=tmp_path / "run",
                                 overrides=overrides, progress=False)
    assert run.recipe.method.name == "softclt" and run.training.steps == 10
    svm = run.result("svm")
    assert svm.split == "test" and svm.value > 0.5  # three frequencies: far above chance
    embeddings = contrastlearn.embed(run.run_dir, np.load(path)["x_test"])
    assert embeddings.shape == (20, 32) and torch.isfinite(embeddings).all()

    assert_resumes_exactly(run, "ts-softclt", str(path), overrides, tmp_path, stop_at=5)
