"""Rows of a table as character codes: the one representation the corruption views, the row
encoder and the matching protocol share.

A table of F columns becomes an int64 tensor (N, F, C): row n, field f holds the UTF-8 bytes
of the cell's text, left-aligned, cut to C bytes, padded with 0 (`PAD`). Byte values are the
character codes, so the vocabulary is fixed (256) and any table encodes without a fitted
tokenizer. Numbers are written as text (integers as integers, other numbers to 6 significant
digits) and missing cells as empty fields, since the task matches values as people write them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from contrastlearn.data.arrays import DataError

PAD = 0
"""The code of an empty character slot."""
VOCAB_SIZE = 256
"""Character codes are UTF-8 byte values."""
DEFAULT_MAX_CHARS = 32
"""Bytes kept per field (longer cells are cut)."""


def _pandas() -> Any:
    try:
        import pandas
    except ModuleNotFoundError:
        raise DataError("tuple matching reads tables with pandas, which is not installed: "
                        "pip install pandas") from None
    return pandas


def _cell_texts(column: Any) -> np.ndarray:
    """One column's cells as stripped text: integers as integers, other numbers to 6
    significant digits, missing cells as ""."""
    pandas = _pandas()
    missing = column.isna().to_numpy()
    values = column.to_numpy(dtype=object)
    if pandas.api.types.is_bool_dtype(column):
        texts = [str(bool(value)) for value in values]
    elif pandas.api.types.is_numeric_dtype(column):
        texts = [str(int(value)) if float(value).is_integer() else f"{float(value):.6g}"
                 for value in np.where(missing, 0, values)]
    else:
        texts = [str(value).strip() for value in values]
    return np.where(missing, "", np.asarray(texts, dtype=object)).astype(object)


def string_columns(frame: Any) -> list[str]:
    """The columns of `frame` that hold text (not numbers or booleans)."""
    pandas = _pandas()
    return [str(name) for name in frame.columns
            if not pandas.api.types.is_numeric_dtype(frame[name])]


def check_table(frame: Any, what: str = "table") -> None:
    """Refuse what cannot be a table of rows to match: not a DataFrame, no rows or columns,
    or no text column (matching rows by numbers alone is no string-matching task)."""
    pandas = _pandas()
    if not isinstance(frame, pandas.DataFrame):
        raise DataError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}; "
                        "wrap your rows with pandas.DataFrame(...)")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"{what} is empty ({frame.shape[0]} rows, {frame.shape[1]} columns); "
                        "give a table with at least one row and one column")
    if not string_columns(frame):
        raise DataError(f"{what} has no string columns (all of {list(map(str, frame.columns))} "
                        "are numeric); tuple matching compares text fields: give a table with "
                        "names, codes or categories")


def encode_texts(texts: Sequence[str] | np.ndarray, max_chars: int) -> Tensor:
    """(N, max_chars) int64 UTF-8 byte codes of `texts`, cut to `max_chars`, padded with 0."""
    encoded = np.char.encode(np.asarray(texts, dtype=object).astype(str), "utf-8")
    fixed = encoded.astype(f"S{int(max_chars)}")
    codes = np.frombuffer(fixed.tobytes(), dtype=np.uint8).reshape(len(fixed), int(max_chars))
    return torch.from_numpy(codes.astype(np.int64))


def encode_table(frame: Any, *, max_chars: int = DEFAULT_MAX_CHARS,
                 columns: Sequence[str] | None = None, what: str = "table") -> Tensor:
    """The rows of `frame` as (N, F, max_chars) int64 character codes, fields in the order of
    `columns` (default: the frame's own)."""
    check_table(frame, what)
    if int(max_chars) < 1:
        raise DataError(f"max_chars must be >= 1, got {max_chars}")
    names = [str(name) for name in frame.columns] if columns is None else list(columns)
    frame = frame.rename(columns=str)
    fields = [encode_texts(_cell_texts(frame[name]), max_chars) for name in names]
    return torch.stack(fields, dim=1)


def aligned_columns(table_a: Any, table_b: Any) -> list[str]:
    """The column order both tables are encoded in (table A's): the two must have the same
    columns, in any order."""
    check_table(table_a, "table A")
    check_table(table_b, "table B")
    names_a = [str(name) for name in table_a.columns]
    names_b = {str(name) for name in table_b.columns}
    missing, extra = [n for n in names_a if n not in names_b], sorted(names_b - set(names_a))
    if missing or extra:
        raise DataError(f"the two tables have different columns (table B lacks {missing}, has "
                        f"extra {extra}); rename or drop columns so both have the same ones")
    return names_a


def decode_rows(x: Tensor, separator: str = " ") -> list[str]:
    """Each row of (N, F, C) character codes as one string: its non-empty fields joined by
    `separator` (the text string-matching baselines read)."""
    codes = x.detach().cpu().to(torch.uint8).numpy()
    rows = []
    for row in codes:
        fields = (bytes(field).rstrip(b"\0").decode("utf-8", errors="replace") for field in row)
        rows.append(separator.join(field for field in fields if field))
    return rows
