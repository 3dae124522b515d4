"""The tuple-matching splits made from one table, and the built-in `table-matching` data."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import DataError
from contrastlearn.modalities.tabular.matching.builtin import _available
from contrastlearn.modalities.tabular.matching.chars import encode_table
from contrastlearn.modalities.tabular.matching.data import (
    EXTRA_NAME,
    TupleDataset,
    distinct_rows,
    tuple_matching_splits,
)
from contrastlearn.modalities.tabular.matching.protocol import NO_MATCH
from tests.conftest import require_system_data
from tests.tabular_matching.fixtures import places

UNCORRUPTED = {"typo_rate": 0.0, "abbreviation_rate": 0.0, "drop_rate": 0.0, "reorder_p": 0.0}


def _row_set(x: torch.Tensor) -> set:
    return {tuple(row) for row in x.flatten(1).tolist()}


def test_splits_hold_out_rows_some_of_which_leave_table_a():
    splits = tuple_matching_splits(places(100), name="places", holdout_fraction=0.2,
                                   unmatched_fraction=0.25, seed=3)
    protocol = splits.extras[EXTRA_NAME]
    test = protocol.test
    assert isinstance(splits.train, TupleDataset) and splits.test is None
    assert splits.modality == "tabular" and splits.train.y is None
    assert len(splits.train) == 60 and len(test.queries) == 20 and len(test.gallery) == 95
    assert int((test.truth == NO_MATCH).sum()) == 5
    validation = protocol.validation
    assert len(validation.queries) == 20 and len(validation.gallery) == 75
    assert int((validation.truth == NO_MATCH).sum()) == 5
    assert splits.info["test_split"] == "corrupted_holdout_0.2_seed3"
    assert splits.info["columns"] == list(places(1).columns)
    assert _row_set(splits.train.x) <= _row_set(test.gallery)


def test_truth_points_at_each_query_source_row_and_train_holds_none_of_them():
    splits = tuple_matching_splits(places(100), seed=1, corruption=UNCORRUPTED)
    for task in (splits.extras[EXTRA_NAME].test, splits.extras[EXTRA_NAME].validation):
        matched = task.truth != NO_MATCH
        assert torch.equal(task.gallery[task.truth[matched]], task.queries[matched])
        assert not _row_set(task.queries[~matched]) & _row_set(task.gallery)
    for task in (splits.extras[EXTRA_NAME].test, splits.extras[EXTRA_NAME].validation):
        assert not _row_set(task.queries) & _row_set(splits.train.x)
    test_rows = _row_set(splits.extras[EXTRA_NAME].test.queries)
    assert not test_rows & _row_set(splits.extras[EXTRA_NAME].validation.gallery)


def test_b_rows_are_corrupted_and_the_same_seed_gives_the_same_task():
    first = tuple_matching_splits(places(100), seed=5).extras[EXTRA_NAME].test
    again = tuple_matching_splits(places(100), seed=5).extras[EXTRA_NAME].test
    assert torch.equal(first.queries, again.queries) and torch.equal(first.truth, again.truth)
    matched = first.truth != NO_MATCH
    assert not torch.equal(first.gallery[first.truth[matched]], first.queries[matched])


def test_duplicate_rows_are_kept_once():
    table = places(30)
    splits = tuple_matching_splits(pd.concat([table, table.iloc[:5]]), seed=0)
    assert splits.info["duplicate_rows_dropped"] == 5
    assert distinct_rows(torch.tensor([[1], [2], [1], [3]])).tolist() == [0, 1, 3]


@pytest.mark.parametrize(("frame", "options", "words"), [
    (places(4), {}, ["too few", "larger table"]),
    (places(50), {"holdout_fraction": 1.0}, ["holdout_fraction", "(0, 1)"]),
    (places(10), {"validation_fraction": 0.5}, ["too few", "validation_fraction"]),
    (places(50), {"unmatched_fraction": 0.0}, ["unmatched_fraction"]),
    (pd.DataFrame({"a": [1.0, 2.0]}), {}, ["no string columns"]),
    (places(0), {}, ["empty"]),
])
def test_unusable_tables_and_settings_are_one_line_data_errors(frame, options, words):
    with pytest.raises(DataError) as raised:
        tuple_matching_splits(frame, **options)
    message = str(raised.value)
    assert "\n" not in message and all(word in message for word in words), message


def test_a_tuple_dataset_holds_character_codes_only():
    with pytest.raises(DataError, match="int64 character codes"):
        TupleDataset(torch.zeros(3, 2))
    rows = TupleDataset(encode_table(places(6)), columns=("a",))
    assert rows.subset(torch.tensor([0, 2])).columns == ("a",)


def test_the_builtin_table_matching_data():
    assert DATASETS.tags("table-matching") == {"modality": "tabular"}
    require_system_data(*_available())
    splits = DATASETS.get("table-matching")(seed=0)
    info = splits.info
    assert info["columns"] == ["faa", "name", "lat", "lon", "alt", "tz", "dst", "tzone"]
    assert info["num_train"] + info["num_test"] + info["validation_queries"] == 1458
    assert info["table_b_rows_without_match"] == round(0.3 * info["num_test"])
    assert splits.train.x.shape[1:] == (8, 32)
