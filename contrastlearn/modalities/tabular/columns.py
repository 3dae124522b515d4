"""Tables as pandas DataFrames, and which of their columns are numeric and which categorical.

Any table a user hands over (a DataFrame, a 2-d array or tensor, a list of row dicts) becomes a
DataFrame with string column names; arrays get `feature_0`, `feature_1`, ... Column kinds are
the user's where declared (`numeric_columns`, `categorical_columns`), else inferred from the
dtype: bool, string, object and category columns are categorical, and so are integer columns
with at most `max_integer_levels` distinct values (codes such as 0/1 or 1..5); every other
number column is numeric. The inference is written down (`describe_kinds`), never silent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from pandas.api import types

from contrastlearn.data.arrays import DataError

ARRAY_COLUMN = "feature_{}"
"""The name of column j of a table given as an array."""


def as_frame(table: Any, what: str) -> pd.DataFrame:
    """`table` as a DataFrame with string column names (a copy is never modified in place);
    an empty table (no rows or no columns) is a DataError."""
    if isinstance(table, pd.DataFrame):
        frame = table
    elif isinstance(table, pd.Series):
        frame = table.to_frame()
    else:
        if isinstance(table, torch.Tensor):
            table = table.detach().cpu().numpy()
        if isinstance(table, np.ndarray) and table.dtype.names is None:
            if table.ndim != 2:
                raise DataError(f"{what} must be a table: a DataFrame or a 2-d array (rows, "
                                f"columns); got an array of shape {table.shape}")
            frame = pd.DataFrame(table, columns=[ARRAY_COLUMN.format(j)
                                                 for j in range(table.shape[1])])
        else:
            try:
                frame = pd.DataFrame(table)
            except (TypeError, ValueError) as error:
                raise DataError(f"{what} cannot be read as a table ({type(table).__name__}): "
                                f"{error}; give a pandas DataFrame or a 2-d array") from None
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"{what} is an empty table ({frame.shape[0]} rows, {frame.shape[1]} "
                        "columns); give at least one row and one column")
    frame = frame.rename(columns=str)
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise DataError(f"{what} has duplicated column names {duplicated}; rename them")
    return frame


def split_label(frame: pd.DataFrame, label_column: str | None,
                what: str) -> tuple[pd.DataFrame, pd.Series | None]:
    """(features, label) of a table whose label is one of its columns (None: no label)."""
    if label_column is None:
        return frame, None
    if label_column not in frame.columns:
        raise DataError(f"{what} has no label column {label_column!r} (columns: "
                        f"{_listed(frame.columns)}); fix data.options.label_column")
    return frame.drop(columns=[label_column]), frame[label_column]


@dataclass
class ColumnKinds:
    """The numeric and categorical feature columns in table order, and how each was decided
    (`reasons`: column -> "declared" or the inference's reason)."""

    numeric: list[str]
    categorical: list[str]
    reasons: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One line naming the inferred columns and why (empty when all were declared)."""
        inferred = {name: reason for name, reason in self.reasons.items() if reason != "declared"}
        if not inferred:
            return ""
        numeric = [name for name in self.numeric if name in inferred]
        categorical = [f"{name} ({inferred[name]})" for name in self.categorical
                       if name in inferred]
        parts = []
        if numeric:
            parts.append(f"numeric: {_shortened(numeric)}")
        if categorical:
            parts.append(f"categorical: {_shortened(categorical)}")
        return ("column kinds inferred from the data (declare them with data.options."
                "numeric_columns / categorical_columns): " + "; ".join(parts))


def column_kinds(frame: pd.DataFrame, *, numeric_columns: Sequence[str] | None = None,
                 categorical_columns: Sequence[str] | None = None,
                 ignore_columns: Sequence[str] | None = None,
                 max_integer_levels: int = 10, what: str = "the table") -> ColumnKinds:
    """The kind of every column of `frame` except the ignored ones: declared, else inferred
    (see the module docstring)."""
    numeric_declared = list(numeric_columns or [])
    categorical_declared = list(categorical_columns or [])
    ignored = list(ignore_columns or [])
    for option, names in (("numeric_columns", numeric_declared),
                          ("categorical_columns", categorical_declared),
                          ("ignore_columns", ignored)):
        unknown = [name for name in names if name not in frame.columns]
        if unknown:
            raise DataError(f"data.options.{option} names {_listed(unknown)}, which {what} does "
                            f"not have (columns: {_listed(frame.columns)})")
    both = sorted(set(numeric_declared) & set(categorical_declared))
    if both:
        raise DataError(f"{_listed(both)} declared both numeric and categorical; keep each "
                        "column in one of data.options.numeric_columns / categorical_columns")
    kinds = ColumnKinds([], [])
    for name in frame.columns:
        if name in ignored:
            continue
        if name in numeric_declared or name in categorical_declared:
            kind, reason = ("numeric" if name in numeric_declared else "categorical"), "declared"
        else:
            kind, reason = inferred_kind(frame[name], max_integer_levels)
        (kinds.numeric if kind == "numeric" else kinds.categorical).append(name)
        kinds.reasons[name] = reason
    if not kinds.numeric and not kinds.categorical:
        raise DataError(f"{what} has no feature columns left (all are the label or ignored); "
                        "give at least one feature column")
    return kinds


def inferred_kind(column: pd.Series, max_integer_levels: int) -> tuple[str, str]:
    """("numeric" | "categorical", why) for a column nobody declared. An object column that
    holds only numbers (a mixed table turned into one numpy array) is read as numbers."""
    dtype = column.dtype
    inferred = types.infer_dtype(column, skipna=True) if types.is_object_dtype(dtype) else ""
    if inferred in ("integer", "floating", "mixed-integer-float"):
        return inferred_kind(pd.to_numeric(column), max_integer_levels)
    if types.is_bool_dtype(dtype) or inferred == "boolean":
        return "categorical", "bool"
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical", "category dtype"
    if types.is_integer_dtype(dtype):
        levels = column.nunique(dropna=True)
        if levels <= max_integer_levels:
            return "categorical", f"integer, {levels} values"
        return "numeric", f"integer, {levels} values"
    if types.is_numeric_dtype(dtype) and not types.is_complex_dtype(dtype):
        return "numeric", "number"
    return "categorical", "text" if types.is_string_dtype(dtype) else f"{dtype} dtype"


def _shortened(names: Sequence[str], most: int = 12) -> str:
    """Names joined by commas, the first `most` of them and how many in all."""
    shown = ", ".join(names[:most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")


def _listed(names: Sequence[Any], most: int = 12) -> str:
    names = [str(name) for name in names]
    shown = ", ".join(repr(name) for name in names[:most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")
