"""`data.options` of a tabular recipe."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TabularOptions(BaseModel):
    """Which columns are what, and how values the training rows never held are read. Columns
    not declared are inferred (see `contrastlearn.modalities.tabular.columns`)."""

    model_config = ConfigDict(extra="forbid")
    numeric_columns: list[str] | None = None
    """Columns read as numbers (standardised; a missing value imputed with the median and
    flagged by a missing indicator)."""
    categorical_columns: list[str] | None = None
    """Columns read as categories (one-hot; a missing value is its own level)."""
    label_column: str | None = None
    """The column holding the class label (a CSV or Parquet file, a DataFrame)."""
    ignore_columns: list[str] | None = None
    """Columns left out (ids, free text, dates)."""
    unseen_categories: Literal["map", "error"] = "map"
    """A categorical value the training rows never held: "map" encodes it as unseen (an
    all-zero one-hot block; runs count them in data.json), "error" stops with its column and
    value."""
    max_integer_levels: int = Field(10, ge=0)
    """An integer column not declared is categorical when it has at most this many values."""
    max_levels: int = Field(200, ge=2)
    """A categorical column may have at most this many values in the training rows."""
