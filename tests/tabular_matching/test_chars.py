"""Rows as character codes: encoding, decoding, and the one-line refusals of bad tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from contrastlearn.data.arrays import DataError
from contrastlearn.modalities.tabular.matching.chars import (
    PAD,
    aligned_columns,
    decode_rows,
    encode_table,
    string_columns,
)
from tests.tabular_matching.fixtures import places


def test_rows_become_left_aligned_byte_codes_with_numbers_written_as_text():
    frame = pd.DataFrame({"name": ["Ohare", None, "Zürich"], "count": [3, 12, 7],
                          "ratio": [0.5, np.nan, 1.0 / 3.0], "ok": [True, False, True]})
    x = encode_table(frame, max_chars=8)
    assert x.shape == (3, 4, 8) and x.dtype == torch.int64
    assert decode_rows(x, separator="|") == ["Ohare|3|0.5|True", "12|False",
                                             "Zürich|7|0.333333|True"]
    assert bytes(x[0, 0, :5].tolist()) == b"Ohare" and bool((x[0, 0, 5:] == PAD).all())
    assert bool((x[1, 0] == PAD).all()), "a missing cell is an empty field"


def test_long_cells_are_cut_to_max_chars_and_columns_follow_the_given_order():
    frame = pd.DataFrame({"a": ["abcdefgh"], "b": ["xy"]})
    x = encode_table(frame, max_chars=3, columns=["b", "a"])
    assert decode_rows(x, separator="|") == ["xy|abc"]


def test_string_columns_are_the_non_numeric_ones():
    assert string_columns(places(5)) == ["code", "name", "state"]


@pytest.mark.parametrize(("frame", "words"), [
    (pd.DataFrame({"a": []}), ["empty", "0 rows"]),
    (pd.DataFrame(index=range(3)), ["empty", "0 columns"]),
    (pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]}), ["no string columns", "names"]),
    ([["a", 1]], ["DataFrame", "list"]),
])
def test_bad_tables_are_one_line_data_errors_that_say_the_fix(frame, words):
    with pytest.raises(DataError) as raised:
        encode_table(frame)
    message = str(raised.value)
    assert "\n" not in message and all(word in message for word in words), message


def test_too_few_chars_is_a_data_error():
    with pytest.raises(DataError, match="max_chars must be >= 1"):
        encode_table(places(3), max_chars=0)


def test_two_tables_align_on_table_a_column_order():
    table = places(4)
    assert aligned_columns(table, table[table.columns[::-1]]) == list(table.columns)


def test_tables_with_other_columns_are_refused_naming_them():
    table = places(4)
    other = table.drop(columns=["state"]).rename(columns={"code": "faa"})
    with pytest.raises(DataError) as raised:
        aligned_columns(table, other)
    message = str(raised.value)
    assert "\n" not in message
    assert "lacks ['code', 'state']" in message and "extra ['faa']" in message
    assert "rename or drop columns" in message
