"""Matching two user tables with an encoder."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.data.arrays import DataError
from contrastlearn.modalities.tabular.matching.encoder import RowEncoder
from contrastlearn.modalities.tabular.matching.match import match_tables
from tests.tabular_matching.fixtures import places

pytestmark = pytest.mark.usefixtures("one_thread")


def encoder() -> RowEncoder:
    torch.manual_seed(0)
    return RowEncoder(char_dim=16, field_dim=32, out_dim=16, buckets=1024)


def test_each_b_row_gets_its_nearest_a_row_and_a_match_flag():
    table_a = places(30).set_index(torch.arange(100, 130).numpy())
    table_b = table_a.iloc[[4, 0, 9]][table_a.columns[::-1]]  # other column order
    matches = match_tables(encoder(), table_a, table_b, threshold=0.999)
    assert list(matches.columns) == ["b_row", "a_row", "similarity", "match"]
    assert matches["b_row"].tolist() == [104, 100, 109]
    assert matches["a_row"].tolist() == [104, 100, 109]
    assert matches["match"].all() and (matches["similarity"] > 0.999).all()


def test_tables_with_different_columns_are_refused():
    table = places(10)
    with pytest.raises(DataError, match="different columns"):
        match_tables(encoder(), table, table.drop(columns=["name"]), threshold=0.5)


def test_an_empty_table_is_refused():
    table = places(10)
    with pytest.raises(DataError, match="table B is empty"):
        match_tables(encoder(), table, table.iloc[:0], threshold=0.5)
