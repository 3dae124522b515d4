"""Checks that run before training: data a run cannot use is refused up front, with the fix,
instead of training for minutes and failing at evaluation (or silently changing the recipe)."""

from __future__ import annotations

from typing import Any

from contrastlearn.data.arrays import DataError, DatasetSplits

MIN_TRAIN_SAMPLES = 2
"""A contrastive batch needs at least two items (the smallest batch size a recipe accepts)."""


def _made_by_holdout(splits: DatasetSplits) -> bool:
    """Whether the test split was held out of the training data by a fraction."""
    return str(splits.info.get("test_split", "")).startswith("holdout")


def _too_few_samples(count: int, splits: DatasetSplits) -> str:
    """The refusal for a training split under MIN_TRAIN_SAMPLES."""
    held = (f" after {len(splits.test)} were held out for testing (lower "
            "data.holdout_fraction, e.g. --set data.holdout_fraction=0.1)"
            if _made_by_holdout(splits) and splits.test is not None else "")
    return (f"the training split has {count} sample(s){held}; training needs at least "
            f"{MIN_TRAIN_SAMPLES}: give more data")


def check_batch_size(count: int, batch_size: int, *, splits: DatasetSplits,
                     limit: int | None = None) -> None:
    """Refuse a training set of `count` samples smaller than one batch: the engine would
    otherwise shrink the batch without a word, and the run would not be the recipe's."""
    if count < MIN_TRAIN_SAMPLES:
        raise DataError(_too_few_samples(count, splits))
    if count >= batch_size:
        return
    smaller = f"--batch-size {count} (--set train.batch_size={count})"
    if limit is not None and count < len(splits.train) and len(splits.train) >= batch_size:
        raise DataError(
            f"data.limit={limit} keeps {count} training samples, fewer than the batch size "
            f"{batch_size}: raise the limit (--set data.limit={batch_size}) or lower the batch "
            f"size with {smaller}")
    raise DataError(
        f"the training split has {count} samples, fewer than the batch size {batch_size}: "
        f"lower the batch size with {smaller}, or give more data")


def check_test_split(splits: DatasetSplits) -> None:
    """Refuse a test split that exists but is empty (a stratified holdout of a fraction of
    very small classes holds out nothing): evaluation would fail after training."""
    if splits.test is None or len(splits.test) > 0:
        return
    if _made_by_holdout(splits):
        raise DataError(
            f"holding out a fraction of the {len(splits.train)} training samples leaves an "
            f"empty test split ({splits.info.get('test_split')}; each class holds out "
            "round(fraction x its size)): raise data.holdout_fraction (e.g. --set "
            "data.holdout_fraction=0.5), give more samples per class, or give a test split "
            "(x_test, y_test)")
    raise DataError("the test split is empty: give test samples (x_test, y_test), or leave "
                    "them out to hold out a fraction of the training data")


def check_run_data(train_data: Any, splits: DatasetSplits, batch_size: int, needs_test: bool,
                   *, limit: int | None = None) -> None:
    """Refuse data a run cannot use before training starts: a training set (`train_data`,
    after `data.limit`) smaller than one batch of `batch_size`, and, when the run evaluates
    (`needs_test`), a test split that exists but is empty. Every refusal is a one-line
    DataError that names the numbers and the fix."""
    check_batch_size(len(train_data), batch_size, splits=splits, limit=limit)
    if needs_test:
        check_test_split(splits)
