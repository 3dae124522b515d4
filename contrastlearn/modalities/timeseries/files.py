"""Time-series files as datasets: UCR/UEA `.ts` and `.arff` (read with aeon) and `.csv`.

`contrastlearn.pretrain("ts2vec", dataset="path/GunPoint_TRAIN.ts")` or
`contrastlearn pretrain --recipe ts2vec --dataset path/series.csv`.

Conventions, for every format:

- Official split: a file named `<name>_TRAIN.<ext>` (any case) whose sibling
  `<name>_TEST.<ext>` exists is read together with it as the test split (the UCR/UEA
  convention). Any other file is one pool, from which a stratified holdout is made.
- Class labels, strings or numbers, become codes 0..K-1 over both splits, sorted (numerically
  when every label is a number), so labels such as -1/1 or "walk"/"run" work. Numeric targets
  with non-integer values are a regression target: reading refuses them, because every
  evaluation protocol is a classifier and a run would otherwise fail only after training.
- Series of unequal length are NaN-padded at the end, never truncated; a missing value inside
  a series is an error (see `data.check_padding`).

CSV files hold one univariate series per row:

- The first row is a header when one of its cells is not a number. In a header, the column
  named `label` (or `y`) holds the class labels and the column named `group` holds group ids
  (subject, device: series of one group are positives of each other); every other column is a
  value, in file order. Without a header every column is a value and there are no labels
  (a header of numbers only, such as pandas' default column names, reads as a series: write
  names, and no index column).
- An empty cell inside a row is a missing value (an error); empty cells at the end of a row
  are padding, so rows may have different lengths.
- Of a `_TRAIN`/`_TEST` pair, only the train file's groups are used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from contrastlearn.data.arrays import DataError, regression_target_reason
from contrastlearn.data.csv_rows import csv_rows
from contrastlearn.modalities.timeseries.data import AEON_INSTALL

SUFFIXES = (".ts", ".arff", ".csv")
LABEL_COLUMNS = ("label", "y")
GROUP_COLUMN = "group"


def read_series_file(path: Path) -> dict[str, Any]:
    """The arrays of a series file (x, y, and x_test, y_test, groups when it has them), in the
    form `series_splits` takes."""
    test_path = official_test_file(path)
    files = [path] if test_path is None else [path, test_path]
    parts = [_read_one(file) for file in files]
    arrays: dict[str, Any] = {"x": parts[0]["x"]}
    if test_path is not None:
        arrays["x_test"] = parts[1]["x"]
    labels = [part.get("y") for part in parts]
    if any(label is not None for label in labels):
        if any(label is None for label in labels):
            raise DataError(f"{str(path)!r} and {str(test_path)!r}: one has class labels and the "
                            "other has none; give labels in both files or in neither")
        codes = _class_codes(labels, path)
        arrays["y"] = codes[0]
        if test_path is not None:
            arrays["y_test"] = codes[1]
    if "groups" in parts[0]:
        arrays["groups"] = parts[0]["groups"]
    return arrays


def official_test_file(path: Path) -> Path | None:
    """The `<name>_TEST.<ext>` sibling of a `<name>_TRAIN.<ext>` file (names compared in any
    case), or None."""
    if not path.stem.lower().endswith("_train"):
        return None
    wanted = f"{path.stem[: -len('_train')]}_test{path.suffix}".lower()
    siblings = sorted(sibling for sibling in path.parent.iterdir()
                      if sibling.name.lower() == wanted and sibling.is_file())
    return siblings[0] if siblings else None


def _read_one(path: Path) -> dict[str, Any]:
    """One file's series `x`, and its raw labels `y` and `groups` when it has them."""
    if path.suffix.lower() == ".csv":
        return read_csv_series(path)
    return read_aeon_file(path)


def read_aeon_file(path: Path) -> dict[str, Any]:
    """Series and raw targets of a `.ts` or `.arff` file, by aeon's readers: an (n, C, T) array,
    or a list of (C, T_i) arrays when lengths differ. Any failure to parse is a DataError that
    names the file."""
    try:
        from aeon.datasets import load_from_arff_file, load_from_ts_file
    except ImportError:
        raise DataError(f"reading {path.suffix} files needs aeon; install it with: "
                        f"{AEON_INSTALL}") from None
    load = load_from_ts_file if path.suffix.lower() == ".ts" else load_from_arff_file
    try:
        x, y = load(str(path))
    except Exception as error:  # noqa: BLE001 - every parse error means an unreadable file
        raise DataError(f"cannot read {str(path)!r} as a {path.suffix} file: "
                        f"{type(error).__name__}: {error}") from None
    if len(x) == 0:
        raise DataError(f"{str(path)!r} holds no series: is it empty, or not a {path.suffix} "
                        "file?")
    return {"x": x} if len(y) == 0 else {"x": x, "y": np.asarray(y)}


def read_csv_series(path: Path) -> dict[str, Any]:
    """Series of a CSV file (one per row, see the module's conventions) as a list of rows,
    which the modality's loader NaN-pads to one length, with raw `y` and `groups` when the
    header names those columns."""
    rows = csv_rows(path, "holds no series: the file is empty")
    header = _header(rows[0][1])
    if header is not None:
        rows = rows[1:]
        if not rows:
            raise DataError(f"{str(path)!r} has a header row but no series")
    label_column, group_column = _special_columns(header, path)
    not_values = {label_column, group_column} - {None}
    values = [[_number(cell, path, line, column) for column, cell in enumerate(cells)
               if column not in not_values] for line, cells in rows]
    arrays: dict[str, Any] = {"x": [np.asarray(row) for row in values]}  # padded on load
    if label_column is not None:
        arrays["y"] = np.array([_cell(cells, label_column, header, path, line)
                                for line, cells in rows])
    if group_column is not None:
        arrays["groups"] = np.array([_cell(cells, group_column, header, path, line)
                                     for line, cells in rows])
    return arrays


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _header(cells: list[str]) -> list[str] | None:
    """The column names (stripped, lower case) if the first row is a header, else None."""
    if all(_is_number(cell) for cell in cells if cell.strip()):
        return None
    return [cell.strip().lower() for cell in cells]


def _special_columns(header: list[str] | None, path: Path) -> tuple[int | None, int | None]:
    """Indices of the label column and of the group column (None when absent)."""
    if header is None:
        return None, None
    labels = [index for index, name in enumerate(header) if name in LABEL_COLUMNS]
    if len(labels) > 1:
        raise DataError(f"{str(path)!r}: the header names more than one label column "
                        f"({', '.join(header[index] for index in labels)}); keep one")
    groups = [index for index, name in enumerate(header) if name == GROUP_COLUMN]
    return (labels[0] if labels else None), (groups[0] if groups else None)


def _number(cell: str, path: Path, line: int, column: int) -> float:
    """A value cell as a float; empty means missing (NaN)."""
    if not cell.strip():
        return float("nan")
    try:
        return float(cell)
    except ValueError:
        raise DataError(
            f"{str(path)!r} line {line}, column {column + 1}: {cell!r} is not a number; class "
            f"labels need a header row that names their column {LABEL_COLUMNS[0]!r}"
        ) from None


def _cell(cells: list[str], column: int, header: list[str], path: Path, line: int) -> str:
    """A label or group cell, which must not be empty."""
    value = cells[column].strip() if column < len(cells) else ""
    if not value:
        raise DataError(f"{str(path)!r} line {line}: the {header[column]!r} cell is empty")
    return value


def _class_codes(labels: list[np.ndarray], path: Path) -> list[np.ndarray]:
    """Raw labels of each split as codes 0..K-1 over all splits; numbers sort numerically.
    Numbers with non-integer values are a regression target: a DataError."""
    pooled = np.concatenate([np.asarray(part).astype(str) for part in labels])
    numbers = _as_numbers(pooled)
    if numbers is not None:
        if not np.all(np.isfinite(numbers)):
            raise DataError(f"{str(path)!r}: {int((~np.isfinite(numbers)).sum())} targets are "
                            "missing or infinite (NaN, ?, Inf); every series needs a class label")
        if not np.all(numbers == np.round(numbers)):
            raise DataError(
                f"{str(path)!r}: the targets {regression_target_reason(numbers)}. To pre-train "
                "on the series alone, pass them without targets (dataset={'x': series})"
            )
    _, codes = np.unique(pooled if numbers is None else numbers, return_inverse=True)
    return np.split(codes.reshape(-1), np.cumsum([len(part) for part in labels])[:-1])


def _as_numbers(labels: np.ndarray) -> np.ndarray | None:
    """The labels as floats when every one is a number, else None (class names)."""
    try:
        return labels.astype(np.float64)
    except ValueError:
        return None

