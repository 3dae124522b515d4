"""Tables in files: CSV (comma-separated, first row the header) and Parquet, read by pandas.
The recipe's `data.options` travel with the rows to the splitter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from contrastlearn.data.arrays import DataError

TABLE_SUFFIXES = (".csv", ".parquet")


def read_table(path: Path) -> pd.DataFrame:
    """The table in a .csv or .parquet file; unreadable files are one-line DataErrors."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, encoding="utf-8-sig")
    except ImportError as error:
        raise DataError(f"reading {str(path)!r} needs a Parquet engine: pip install pyarrow "
                        f"({error})") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise DataError(f"cannot read {str(path)!r} as a table: {first_line}") from None


def read_table_file(
    path: Path, numeric_columns: list[str] | None = None,
    categorical_columns: list[str] | None = None, label_column: str | None = None,
    ignore_columns: list[str] | None = None, unseen_categories: str | None = None,
    max_integer_levels: int | None = None, max_levels: int | None = None,
) -> dict[str, Any]:
    """The splitter's arguments for a table file: its rows as `x`, and the options given."""
    options = {"numeric_columns": numeric_columns, "categorical_columns": categorical_columns,
               "label_column": label_column, "ignore_columns": ignore_columns,
               "unseen_categories": unseen_categories, "max_integer_levels": max_integer_levels,
               "max_levels": max_levels}
    return {"x": read_table(path), **{key: value for key, value in options.items()
                                     if value is not None}}
