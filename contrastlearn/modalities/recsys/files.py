"""Readers of interaction files: CSV/TSV with a header (user, item, optional rating and
timestamp columns) and RecBole's atomic files (`.inter`, with `name:type` headers, and the
`.item` file beside it for titles). Every reader returns an `InteractionTable` of raw ids;
`contrastlearn.modalities.recsys.data` turns it into indexed `Interactions` and splits."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from contrastlearn.data.arrays import DataError

USER_NAMES = ("user_id", "user", "userid", "uid", "visitorid", "customer_id")
ITEM_NAMES = ("item_id", "item", "itemid", "iid", "movieid", "movie_id", "product_id", "isbn")
RATING_NAMES = ("rating", "score", "stars", "label")
TIME_NAMES = ("timestamp", "time", "datetime", "ts", "date")
TITLE_NAMES = ("movie_title", "title", "name", "item_name")


@dataclass
class InteractionTable:
    """Interactions as read: raw `users` and `items` ids (strings), optional float `ratings`
    and `timestamps`, item titles by raw item id, and where they came from."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    titles: dict[str, str] = field(default_factory=dict)
    source: str = "interactions"

    def __post_init__(self) -> None:
        if len(self.users) != len(self.items):
            raise DataError(f"{self.source}: {len(self.users)} users but {len(self.items)} "
                            "items; give one user and one item per interaction")
        for name in ("ratings", "timestamps"):
            value = getattr(self, name)
            if value is not None and len(value) != len(self.users):
                raise DataError(f"{self.source}: {name} has {len(value)} values for "
                                f"{len(self.users)} interactions; give one per interaction")


def _delimiter(path: Path, delimiter: str | None) -> str:
    if delimiter is not None:
        return delimiter
    return "," if path.suffix.lower() == ".csv" else "\t"


def _read_rows(path: Path, delimiter: str | None) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=_delimiter(path, delimiter))
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(f"{path} is empty; give a header line and one interaction per "
                            "line") from None
        rows = [row for row in reader if row]
    return header, rows


def _bare(name: str) -> str:
    """A RecBole header's column name without its `:type` ("user_id:token" -> "user_id")."""
    return name.split(":", 1)[0].strip()


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [_bare(column).lower() for column in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def _column_positions(path: Path, header: list[str],
                      columns: tuple[str, ...] | None) -> tuple[int, int, int | None, int | None]:
    bare = [_bare(column) for column in header]
    if columns is not None:
        if not 2 <= len(columns) <= 4:
            raise DataError(f"data.options.columns must name 2 to 4 columns (user, item, rating, "
                            f"timestamp); got {list(columns)}")
        missing = [name for name in columns if name not in bare]
        if missing:
            raise DataError(f"{path}: no column {missing[0]!r}; its columns are {bare}; fix "
                            "data.options.columns")
        positions = [bare.index(name) for name in columns] + [None] * (4 - len(columns))
        return positions[0], positions[1], positions[2], positions[3]
    user, item = _find(header, USER_NAMES), _find(header, ITEM_NAMES)
    if user is None or item is None:
        raise DataError(f"{path}: cannot tell the user and item columns among {bare}; name them "
                        "user_id and item_id in the header, or set data.options.columns: "
                        "[user column, item column, rating column, timestamp column]")
    return user, item, _find(header, RATING_NAMES), _find(header, TIME_NAMES)


def _floats(path: Path, rows: list[list[str]], position: int, name: str) -> np.ndarray:
    try:
        return np.array([float(row[position]) for row in rows], dtype=np.float64)
    except ValueError as error:
        raise DataError(f"{path}: the {name} column has a value that is not a number "
                        f"({error}); clean it or leave the column out of "
                        "data.options.columns") from None


def read_item_titles(path: str | Path, delimiter: str | None = None) -> dict[str, str]:
    """Item id -> title from a file whose first column is the item id and that has a title
    column (movie_title, title, name) or else uses the second column."""
    path = Path(path)
    header, rows = _read_rows(path, delimiter)
    item = _find(header, ITEM_NAMES)
    item = 0 if item is None else item
    title = _find(header, TITLE_NAMES)
    title = (1 if item == 0 else 0) if title is None else title
    return {row[item]: row[title] for row in rows if len(row) > max(item, title)}


def read_interactions(path: str | Path, columns: tuple[str, ...] | None = None,
                      delimiter: str | None = None,
                      item_titles: str | None = None) -> dict[str, Any]:
    """An interaction file (.csv, .tsv, RecBole .inter) as `{"x": InteractionTable}`; a
    RecBole .inter file's sibling .item file gives titles."""
    path = Path(path)
    header, rows = _read_rows(path, delimiter)
    if not rows:
        raise DataError(f"{path} has a header but no interactions")
    user, item, rating, timestamp = _column_positions(path, header, columns)
    width = max(position for position in (user, item, rating, timestamp) if position is not None)
    short = next((number for number, row in enumerate(rows, 2) if len(row) <= width), None)
    if short is not None:
        raise DataError(f"{path}, line {short}: {len(rows[short - 2])} columns where the header "
                        f"has {len(header)}; fix the line or the delimiter "
                        "(data.options.delimiter)")
    titles: dict[str, str] = {}
    sibling = path.with_suffix(".item")
    if item_titles is not None:
        titles = read_item_titles(item_titles, delimiter)
    elif path.suffix.lower() == ".inter" and sibling.is_file():
        titles = read_item_titles(sibling, delimiter)
    table = InteractionTable(
        users=np.array([row[user] for row in rows]), items=np.array([row[item] for row in rows]),
        ratings=None if rating is None else _floats(path, rows, rating, "rating"),
        timestamps=None if timestamp is None else _floats(path, rows, timestamp, "timestamp"),
        titles=titles, source=str(path))
    return {"x": table}
