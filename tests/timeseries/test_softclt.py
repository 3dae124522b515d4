"""SoftCLT as a method: the soft instance targets against the paper code's recipe (global
off-diagonal minimum, sklearn's per-column MinMaxScaler, densify) and by hand, the batch's
soft targets by series id, clear errors, and the `ts-softclt` recipe end to end with an exact
resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.preprocessing import MinMaxScaler

import contrastlearn
from contrastlearn.data.arrays import ArrayDataset, DataError
from contrastlearn.evaluation.dtw import pairwise_dtw
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder
from contrastlearn.modalities.timeseries.methods.softclt import (
    SoftCLT,
    column_scaled_distances,
    softclt_instance_weights,
)
from contrastlearn.objectives.hierarchical import soft_instance_weights
from tests.learning import assert_learned, untrained_score
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


def paper_soft_labels(distances: torch.Tensor, tau: float, alpha: float) -> torch.Tensor:
    """The steps of SoftCLT's code (Lee et al. 2024, github.com/seunghan96/softclt), in numpy:
    diagonal <- smallest off-diagonal distance; sklearn MinMaxScaler (per column) to [0, 1];
    similarity 1 - d; then densify(-(1 - similarity)) = 2 alpha / (1 + e^(tau d))
    + (1 - alpha) I."""
    table = distances.double().numpy().copy()
    count = len(table)
    off_diagonal = ~np.eye(count, dtype=bool)
    table[np.diag_indices(count)] = table[off_diagonal].min()
    similarity = 1 - MinMaxScaler(feature_range=(0, 1)).fit_transform(table)
    distance = 1 - similarity
    labels = 2 * alpha / (1 + np.exp(tau * distance)) + (1 - alpha) * np.eye(count)
    return torch.from_numpy(labels)


def test_column_scaling_by_hand():
    distances = torch.tensor([[0.0, 1.0, 3.0],
                              [1.0, 0.0, 2.0],
                              [3.0, 2.0, 0.0]])
    # diagonal <- 1 (the smallest off-diagonal distance); column maxima 3, 2, 3; spans 2, 1, 2
    torch.testing.assert_close(column_scaled_distances(distances),
                               torch.tensor([[0.0, 0.0, 1.0],
                                             [0.0, 0.0, 0.5],
                                             [1.0, 1.0, 0.0]]))
    weights = softclt_instance_weights(distances, tau=2.0, alpha=0.5)  # 2 alpha = 1

    def sigmoid(value):
        return 1 / (1 + math.exp(-value))

    expected = [[1.0, sigmoid(0.0), sigmoid(-2.0)],
                [sigmoid(0.0), 1.0, sigmoid(-1.0)],
                [sigmoid(-2.0), sigmoid(-2.0), 1.0]]  # not symmetric: w12 != w21
    torch.testing.assert_close(weights, torch.tensor(expected))
    # the row variant (earlier default) scales each anchor's own distances instead
    torch.testing.assert_close(softclt_instance_weights(distances, 2.0, 0.5, scaling="row"),
                               soft_instance_weights(distances, 2.0, 0.5))
    assert not torch.allclose(softclt_instance_weights(distances, 2.0, 0.5, scaling="row"),
                              weights)


@pytest.mark.parametrize("tau,alpha", [(5.0, 0.5), (0.7, 0.2)])
def test_column_scaling_matches_the_paper_code_recipe(tau, alpha):
    x = _series(count=9)
    distances = pairwise_dtw(x)
    torch.testing.assert_close(softclt_instance_weights(distances.double(), tau, alpha),
                               paper_soft_labels(distances, tau, alpha))
    # a column without spread (two series) scales to 0, as sklearn does: weight alpha
    pair = torch.tensor([[0.0, 4.0], [4.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(softclt_instance_weights(pair, tau, alpha),
                               paper_soft_labels(pair, tau, alpha))
    with pytest.raises(ValueError, match="instance_scaling"):
        softclt_instance_weights(distances, tau, alpha, scaling="global")
    with pytest.raises(ValueError, match="square"):
        softclt_instance_weights(torch.zeros(2, 3), tau, alpha)
    with pytest.raises(ValueError, match="tau > 0"):
        softclt_instance_weights(distances, 0.0, alpha)


def test_soft_targets_follow_series_ids():
    x = _series()
    full = ArrayDataset(x, torch.arange(10) % 3)
    subset = full.subset(torch.tensor([7, 2, 5, 0, 9]))  # ids are no longer 0..n-1
    method = _method(instance_tau=3.0, soft_alpha=0.4)
    method.prepare(subset, torch.device("cpu"))
    table = paper_soft_labels(pairwise_dtw(x[[7, 2, 5, 0, 9]]), 3.0, 0.4).float()
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
    expected = paper_soft_labels(torch.cdist(flat, flat), 1.0, 0.5).float()
    torch.testing.assert_close(method.instance_weights(torch.arange(6)), expected)
    row = _method(distance="euclidean", instance_tau=1.0, instance_scaling="row")
    row.prepare(ArrayDataset(x), torch.device("cpu"))
    torch.testing.assert_close(row.instance_weights(torch.arange(6)),
                               soft_instance_weights(torch.cdist(flat, flat), 1.0, 0.5))
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
    with pytest.raises(ValueError, match="instance_scaling"):
        _method(instance_scaling="global")


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


@pytest.mark.slow  # a full recipe run; SoftCLT's loss and views are tested fast
def test_softclt_recipe_end_to_end_and_resume(tmp_path, noisy_waves_file):
    path = str(noisy_waves_file)
    overrides = {"train.steps": 60, "encoder.kwargs.depth": 2, "encoder.kwargs.out_dim": 32,
                 "eval.protocols": ["svm"], "eval.raw_baseline": False}
    run = contrastlearn.pretrain("ts-softclt", dataset=str(path), out=tmp_path / "run",
                                 overrides=overrides, progress=False)
    assert run.recipe.method.name == "softclt" and run.training.steps == 60
    svm = run.result("svm")
    assert svm.split == "test"
    assert_learned(svm.value, untrained_score("ts-softclt", "svm", path, overrides))
    embeddings = contrastlearn.embed(run.run_dir, np.load(path)["x_test"])
    assert embeddings.shape == (90, 32) and torch.isfinite(embeddings).all()

    assert_resumes_exactly(run, "ts-softclt", path, overrides, tmp_path, stop_at=30)
