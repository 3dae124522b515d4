"""Rows of a user's CSV file, read the same way by every room (labels of audio folders,
series tables)."""

from __future__ import annotations

import csv
from pathlib import Path

from contrastlearn.data.arrays import DataError


def csv_rows(path: Path, empty: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every non-blank row; undecodable or malformed text is a
    DataError, and so is a file without rows (`empty` says what it should hold).
    `utf-8-sig` drops the byte-order mark spreadsheet programs write."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            rows = [(reader.line_num, cells) for cells in reader
                    if any(cell.strip() for cell in cells)]
    except (UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"cannot read {str(path)!r} as a CSV text file: {error}") from None
    if not rows:
        raise DataError(f"{str(path)!r} {empty}")
    return rows
