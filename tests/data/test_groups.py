"""Group positives: a group id per sample becomes the item id, so the objectives treat samples
of one group as positives of each other."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import contrastlearn
from contrastlearn.data.arrays import DataError, read_npz
from contrastlearn.data.resolve import resolve_dataset
from contrastlearn.objectives import InfoNCE


def _series(count: int = 12, length: int = 20) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(count, 1, length))


def test_groups_become_item_ids_in_train_only():
    x = _series()
    groups = np.array(["a", "b", "c"] * 4)
    splits = resolve_dataset({"x": x, "x_test": x[:4], "groups": groups}, modality="timeseries")
    assert splits.train.ids.tolist() == [0, 1, 2] * 4
    assert splits.test.ids.tolist() == [12, 13, 14, 15]
    assert splits.info["num_groups"] == 3


def test_groups_survive_the_holdout_and_npz(tmp_path):
    x, groups = _series(), np.repeat(np.arange(6), 2)
    np.savez(tmp_path / "grouped.npz", x=x, groups=groups)
    assert set(read_npz(tmp_path / "grouped.npz")) == {"x", "groups"}
    splits = resolve_dataset(str(tmp_path / "grouped.npz"), modality="timeseries",
                             holdout_fraction=0.25)
    kept = splits.train.ids
    assert len(kept) == 9 and set(kept.tolist()) <= set(range(6))


@pytest.mark.parametrize("groups,message", [
    (np.arange(5), "one group id per sample"),
    (np.zeros((12, 2)), "one group id per sample"),
    (np.array([np.nan] * 12), "NaN"),
])
def test_bad_groups_are_rejected(groups, message):
    with pytest.raises(DataError, match=message):
        resolve_dataset({"x": _series(), "groups": groups}, modality="timeseries")


def test_same_group_samples_are_positives_not_negatives():
    generator = torch.Generator().manual_seed(0)
    first, second = torch.randn(4, 8, generator=generator), torch.randn(4, 8, generator=generator)
    objective = InfoNCE(temperature=0.5)
    unique = objective([first, second], ids=torch.arange(4)).loss
    grouped = objective([first, second], ids=torch.tensor([0, 0, 1, 1])).loss
    # reference: each positive (another row of the anchor's group) against the other groups
    rows = torch.nn.functional.normalize(torch.cat([first, second]), dim=1).double()
    ids = [0, 0, 1, 1] * 2
    per_anchor = []
    for i in range(8):
        scores = [float(rows[i] @ rows[j]) / 0.5 for j in range(8)]
        negatives = sum(np.exp(scores[j]) for j in range(8) if ids[j] != ids[i])
        positives = [j for j in range(8) if j != i and ids[j] == ids[i]]
        per_anchor.append(np.mean([-np.log(np.exp(scores[p]) / (np.exp(scores[p]) + negatives))
                                   for p in positives]))
    reference = np.mean(per_anchor)
    assert float(grouped) == pytest.approx(float(reference), rel=1e-5)
    assert float(grouped) != pytest.approx(float(unique))


def test_pretrain_with_groups(tmp_path):
    x = _series(32, 24)
    labels, groups = np.arange(32) % 2, np.arange(32) // 4
    run = contrastlearn.pretrain(
        "ts-instance", dataset={"x": x, "y": labels, "groups": groups}, out=tmp_path / "run",
        progress=False, overrides={"train.steps": 2, "train.batch_size": 8,
                                   "encoder.kwargs.depth": 1, "encoder.kwargs.hidden_dim": 8,
                                   "eval.protocols": ["knn"], "eval.raw_baseline": False})
    assert run.results[0].protocol == "knn"
    assert (tmp_path / "run" / "data.json").read_text().count('"num_groups": ') == 1
