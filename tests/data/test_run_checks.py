"""Data a run cannot use is refused before training: a training set smaller than one batch
(the engine used to shrink the batch without a word) and an empty held-out split (evaluation
used to fail after training, leaving no results.json)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

import contrastlearn
from contrastlearn.cli import main
from contrastlearn.config import recipe_from_dict
from contrastlearn.data.arrays import ArrayDataset, DataError, DatasetSplits, arrays_to_splits
from contrastlearn.data.checks import check_run_data
from tests.conftest import tiny_recipe_dict


def _splits(num_train: int, num_test: int | None, test_split: str = "test") -> DatasetSplits:
    train = ArrayDataset(torch.zeros(num_train, 1, 8, 8), torch.zeros(num_train, dtype=torch.long))
    test = None if num_test is None else ArrayDataset(torch.zeros(num_test, 1, 8, 8))
    return DatasetSplits(train, test, info={"test_split": test_split})


def test_a_training_set_smaller_than_one_batch_names_both_numbers_and_the_fix():
    splits = _splits(40, 10)
    with pytest.raises(DataError, match=r"has 40 samples, fewer than the batch size 64: lower "
                                        r"the batch size with --batch-size 40 \(--set "
                                        r"train.batch_size=40\), or give more data"):
        check_run_data(splits.train, splits, 64, needs_test=True)
    check_run_data(splits.train, splits, 40, needs_test=True)  # one whole batch is enough


def test_a_limit_below_the_batch_size_is_the_same_refusal():
    splits = _splits(300, 10)
    limited = splits.train.subset(torch.arange(16))
    with pytest.raises(DataError, match=r"data.limit=16 keeps 16 training samples, fewer than "
                                        r"the batch size 64: raise the limit \(--set "
                                        r"data.limit=64\) or lower the batch size"):
        check_run_data(limited, splits, 64, needs_test=True, limit=16)


def test_fewer_than_two_training_samples_are_refused():
    splits = _splits(1, 1, test_split="holdout_0.5_seed0")
    with pytest.raises(DataError, match=r"has 1 sample\(s\) after 1 were held out .* at least 2"):
        check_run_data(splits.train, splits, 2, needs_test=True)


def test_an_empty_holdout_is_refused_only_when_the_run_evaluates():
    # three classes of one sample: a stratified 20% holds out round(0.2) = 0 of each
    splits = arrays_to_splits(np.zeros((3, 1, 8, 8)), np.arange(3), name="tiny")
    assert len(splits.test) == 0
    with pytest.raises(DataError, match=r"leaves an empty test split \(holdout_0.2_seed0; .*"
                                        r"--set data.holdout_fraction=0.5"):
        check_run_data(splits.train, splits, 2, needs_test=True)
    check_run_data(splits.train, splits, 2, needs_test=False)
    check_run_data(splits.train, _splits(3, None), 2, needs_test=True)  # no test split at all


def test_an_empty_given_test_split_is_refused():
    splits = _splits(8, 0)
    with pytest.raises(DataError, match="the test split is empty: give test samples"):
        check_run_data(splits.train, splits, 4, needs_test=True)


def _refused_before_training(tmp_path, match: str, *, dataset=None, **overrides) -> None:
    recipe = recipe_from_dict(tiny_recipe_dict())
    with pytest.raises(DataError, match=match):
        contrastlearn.pretrain(recipe, dataset=dataset, out=tmp_path / "run", progress=False,
                               overrides=overrides)
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_pretrain_refuses_a_small_dataset_before_training(tmp_path):
    x, y = np.random.default_rng(0).random((50, 8, 8)), np.arange(50) % 5
    _refused_before_training(tmp_path, "has 40 samples, fewer than the batch size 64",
                             dataset=(x, y))


def test_pretrain_refuses_a_limit_below_the_batch_size(tmp_path):
    _refused_before_training(tmp_path, "data.limit=16 keeps 16 training samples",
                             **{"data.limit": 16})


def test_pretrain_refuses_an_empty_holdout(tmp_path):
    x, y = np.random.default_rng(0).random((6, 8, 8)), np.arange(6)
    _refused_before_training(tmp_path, "leaves an empty test split", dataset=(x, y),
                             **{"train.batch_size": 2})


def test_the_cli_prints_the_refusal_as_one_error_line(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "small.npz", x=rng.random((30, 8, 8)), y=np.arange(30) % 3)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny_recipe_dict()))
    code = main(["pretrain", "--recipe", str(tmp_path / "tiny.yaml"), "--dataset",
                 str(tmp_path / "small.npz"), "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert "has 24 samples, fewer than the batch size 64" in lines[0]
    assert "--batch-size 24" in lines[0]
