"""The schema of a table: its columns, their kinds and the training statistics that turn rows
into the samples tensor every tabular encoder and view reads.

Samples are float32 (N, width) tensors whose columns come in this order (`TableLayout`):

1. the numeric columns, standardised with the training rows' mean and standard deviation; a
   missing value is first imputed with the training median;
2. one 0/1 missing indicator per numeric column that had missing values in the training rows;
3. every categorical column as a one-hot block over its levels: the training values in sorted
   order, then `<missing>` when the training rows had missing values. A value unseen in the
   training rows is an all-zero block (or an error, `unseen="error"`).

So the samples themselves are the raw baseline (standardised numbers plus one-hot categories),
and a view can replace a whole categorical value by writing another one-hot block.

A `TableSchema` is plain JSON (`to_dict`): it travels in the encoder's kwargs, so an exported
encoder turns new tables into samples exactly as in training. It also keeps each column's
empirical marginal (`quantiles` of the continuous columns, `frequencies` of the levels), which
SCARF and VIME corruption draw from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from contrastlearn.data.arrays import DataError

MISSING_LEVEL = "<missing>"
"""The level of a categorical value that is missing (NaN, None, empty CSV cell)."""
MARGINAL_POINTS = 100
"""Quantiles kept per continuous column: the marginal that corruption draws from."""
UnseenPolicy = Literal["map", "error"]


@dataclass(frozen=True)
class TableLayout:
    """Where each kind of column sits in a samples tensor (see the module docstring)."""

    num_numeric: int
    num_indicators: int = 0
    cardinalities: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "cardinalities", tuple(int(c) for c in self.cardinalities))
        if self.num_numeric < 0 or self.num_indicators < 0 or any(
                c < 1 for c in self.cardinalities):
            raise ValueError(f"a table layout needs counts >= 0 and cardinalities >= 1; got "
                             f"{self}")
        if self.width == 0:
            raise ValueError("a table layout needs at least one column")

    @classmethod
    def plain(cls, width: int) -> TableLayout:
        """`width` numeric columns: how a table without a schema is read."""
        return cls(int(width))

    @property
    def num_continuous(self) -> int:
        """Numeric columns and missing indicators: one number per feature."""
        return self.num_numeric + self.num_indicators

    @property
    def num_features(self) -> int:
        """Features a view corrupts or a method reconstructs: each continuous column, and each
        categorical column (one one-hot block)."""
        return self.num_continuous + len(self.cardinalities)

    @property
    def width(self) -> int:
        return self.num_continuous + sum(self.cardinalities)

    def column_feature(self, device: torch.device | str = "cpu") -> Tensor:
        """(width,) int64: the feature each tensor column belongs to."""
        continuous = torch.arange(self.num_continuous, device=device)
        blocks = torch.repeat_interleave(
            torch.arange(len(self.cardinalities), device=device) + self.num_continuous,
            torch.tensor(self.cardinalities, dtype=torch.long, device=device))
        return torch.cat([continuous, blocks])

    def level_index(self, device: torch.device | str = "cpu") -> Tensor:
        """(categorical columns, largest cardinality) int64: the tensor column of each level,
        padded with `width` (a column past the end, read as 0)."""
        most = max(self.cardinalities, default=0)
        index = torch.full((len(self.cardinalities), most), self.width, dtype=torch.long,
                           device=device)
        start = self.num_continuous
        for group, cardinality in enumerate(self.cardinalities):
            index[group, :cardinality] = torch.arange(start, start + cardinality, device=device)
            start += cardinality
        return index

    def check(self, x: Tensor, what: str) -> None:
        """A ValueError unless `x` is a (B, width) batch of this layout."""
        if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != self.width:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{what} reads (batch, {self.width}) table rows ({self.num_numeric} "
                             f"numeric, {self.num_indicators} missing indicators, "
                             f"{len(self.cardinalities)} one-hot blocks); got {shape}")


@dataclass
class NumericColumn:
    """A numeric column's training statistics; `indicator`: it gets a missing indicator."""

    name: str
    median: float
    mean: float
    std: float
    indicator: bool = False


@dataclass
class CategoricalColumn:
    """A categorical column's levels (one-hot order)."""

    name: str
    levels: list[str]


@dataclass
class TableSchema:
    """Columns, statistics and marginals of a table's training rows; `encode` makes samples."""

    numeric: list[NumericColumn]
    categorical: list[CategoricalColumn]
    unseen: UnseenPolicy = "map"
    quantiles: list[list[float]] = field(default_factory=list)
    """Per continuous column (numeric, then indicators): `MARGINAL_POINTS` evenly spaced
    quantiles of its training values as samples (standardised), all observed values."""
    frequencies: list[list[float]] = field(default_factory=list)
    """Per categorical column: the training share of each level."""

    @cached_property
    def layout(self) -> TableLayout:
        return TableLayout(len(self.numeric), sum(c.indicator for c in self.numeric),
                           tuple(len(c.levels) for c in self.categorical))

    @property
    def columns(self) -> list[str]:
        """The table columns the schema reads (numeric first, then categorical)."""
        return [c.name for c in self.numeric] + [c.name for c in self.categorical]

    def feature_names(self) -> list[str]:
        """The name of every tensor column: `age`, `age (missing)`, `home=rent`."""
        return ([c.name for c in self.numeric]
                + [f"{c.name} (missing)" for c in self.numeric if c.indicator]
                + [f"{c.name}={level}" for c in self.categorical for level in c.levels])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: encoder kwargs keep it, and `from_dict` rebuilds the schema."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | TableSchema) -> TableSchema:
        if isinstance(data, TableSchema):
            return data
        try:
            return cls(numeric=[NumericColumn(**c) for c in data["numeric"]],
                       categorical=[CategoricalColumn(**c) for c in data["categorical"]],
                       unseen=data.get("unseen", "map"), quantiles=data.get("quantiles", []),
                       frequencies=data.get("frequencies", []))
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a table schema (TableSchema.to_dict): {error}") from None

    def encode(self, frame: pd.DataFrame, what: str) -> tuple[Tensor, dict[str, int]]:
        """Samples (N, width) of `frame`'s schema columns (others are ignored), and how many
        unseen categorical values each column had (encoded as all-zero blocks)."""
        missing = [name for name in self.columns if name not in frame.columns]
        if missing:
            raise DataError(f"{what} lacks column(s) {missing} of the table the encoder was "
                            f"trained on (it has {list(frame.columns)[:12]})")
        parts: list[np.ndarray] = []
        indicators: list[np.ndarray] = []
        for column in self.numeric:
            values = numeric_values(frame[column.name], f"{what}, column {column.name!r}")
            absent = np.isnan(values)
            filled = np.where(absent, column.median, values)
            parts.append((filled - column.mean) / column.std)
            if column.indicator:
                indicators.append(absent.astype(np.float64))
        unseen: dict[str, int] = {}
        blocks: list[np.ndarray] = []
        for column in self.categorical:
            codes, texts = level_codes(frame[column.name], column.levels)
            unknown = codes < 0
            if unknown.any():
                example = texts[np.flatnonzero(unknown)[0]]
                if self.unseen == "error":
                    shown = "a missing value" if example is None else repr(example)
                    raise DataError(
                        f"{what}: column {column.name!r} holds {shown}, unseen in the training "
                        f"rows ({int(unknown.sum())} such row(s)); fix the value, or set "
                        "data.options.unseen_categories: map to encode it as unseen")
                unseen[column.name] = int(unknown.sum())
            block = np.zeros((len(frame), len(column.levels)))
            rows = np.flatnonzero(~unknown)
            block[rows, codes[rows]] = 1.0
            blocks.append(block)
        columns = [p[:, None] for p in parts] + [i[:, None] for i in indicators] + blocks
        samples = np.concatenate(columns, axis=1) if columns else np.zeros((len(frame), 0))
        return torch.from_numpy(samples.astype(np.float32)), unseen


def numeric_values(column: pd.Series, what: str) -> np.ndarray:
    """float64 values of a numeric column with NaN where missing; text that is no number and
    infinite values are DataErrors naming the column, the row and the value."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna().to_numpy() & column.notna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{what} is numeric but holds {column.iloc[row]!r} (row {row}, "
                        f"{int(bad.sum())} such value(s)); fix them, or declare the column in "
                        "data.options.categorical_columns")
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.isinf(numbers)
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise DataError(f"{what} holds an infinite value (row {row}); replace it with a number "
                        "or leave the cell empty (missing)")
    return numbers


def level_texts(column: pd.Series) -> np.ndarray:
    """Object array of each value as level text (None where missing): whole numbers read the
    same as integers and floats ("3", never "3.0"), so a column keeps its levels when NaN
    turns its integers into floats."""
    return np.array([_level_text(value) for value in column.to_numpy(dtype=object)],
                    dtype=object)


def _level_text(value: Any) -> str | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        if float(value).is_integer():
            return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def level_codes(column: pd.Series, levels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(codes into `levels`, -1 where the value is not a level; the level texts). A missing
    value is `MISSING_LEVEL` when that is a level."""
    texts = level_texts(column)
    keys = np.array([MISSING_LEVEL if text is None else text for text in texts], dtype=object)
    lookup = {level: code for code, level in enumerate(levels)}
    codes = np.array([lookup.get(key, -1) for key in keys], dtype=np.int64)
    return codes, texts


def fit_schema(frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str], *,
               unseen: UnseenPolicy = "map", max_levels: int = 200,
               what: str = "the table") -> TableSchema:
    """The schema of `frame`'s training rows: statistics of each numeric column, levels of
    each categorical one, and the marginals corruption draws from."""
    numeric_columns = []
    for name in numeric:
        values = numeric_values(frame[name], f"{what}, column {name!r}")
        observed = values[~np.isnan(values)]
        if observed.size == 0:
            raise DataError(f"{what}: column {name!r} has no values (all missing) in the "
                            "training rows; drop it (data.options.ignore_columns) or fill it")
        std = float(observed.std())
        numeric_columns.append(NumericColumn(
            name, median=float(np.median(observed)), mean=float(observed.mean()),
            std=std if std > 1e-12 * max(1.0, abs(float(observed.mean()))) else 1.0,
            indicator=bool(observed.size < values.size)))
    categorical_columns = []
    for name in categorical:
        texts = level_texts(frame[name])
        present = sorted({text for text in texts if text is not None})
        if len(present) > max_levels:
            raise DataError(f"{what}: categorical column {name!r} has {len(present):,} distinct "
                            f"values, more than data.options.max_levels ({max_levels}); drop it "
                            "(data.options.ignore_columns), declare it numeric, or raise "
                            "max_levels")
        levels = present + ([MISSING_LEVEL] if any(text is None for text in texts) else [])
        categorical_columns.append(CategoricalColumn(name, levels))
    schema = TableSchema(numeric_columns, categorical_columns, unseen)
    samples, _ = schema.encode(frame, what)
    schema.quantiles, schema.frequencies = marginals(samples, schema.layout)
    return schema


def marginals(samples: Tensor, layout: TableLayout) -> tuple[list[list[float]],
                                                             list[list[float]]]:
    """(quantiles of each continuous column, level shares of each categorical column) of
    training samples, rounded to 6 significant digits for a compact JSON."""
    values = samples.double().numpy()
    points = (np.arange(MARGINAL_POINTS) + 0.5) / MARGINAL_POINTS
    quantiles = [[float(f"{q:.6g}") for q in np.quantile(values[:, j], points,
                                                         method="inverted_cdf")]
                 for j in range(layout.num_continuous)]
    frequencies, start = [], layout.num_continuous
    for cardinality in layout.cardinalities:
        shares = values[:, start:start + cardinality].mean(axis=0)
        frequencies.append([float(f"{share:.6g}") for share in shares])
        start += cardinality
    return quantiles, frequencies
