"""Paired records from files: JSONL (one JSON object per line) or CSV, a field per modality.
A text modality's field is the text itself; any other modality's field is the path of a file
its own room reads (an image, a WAV clip), relative to the records file. An empty field is a
missing modality (see `data.options.missing`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from contrastlearn.core.registry import MODALITIES
from contrastlearn.data.arrays import DataError
from contrastlearn.data.csv_rows import csv_rows

RECORD_SUFFIXES = (".jsonl", ".csv")
LABEL_FIELD = "label"


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() == ".csv":
        lines = csv_rows(path, "a header of modality names and one record per row")
        header = [cell.strip() for cell in lines[0][1]]
        return [dict(zip(header, cells)) for _, cells in lines[1:]]
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{number}: not a JSON object ({error.msg}); write one "
                            "record per line") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{number}: a record must be a JSON object of modality -> "
                            "value")
        rows.append(row)
    return rows


def _room_value(room: str, value: Any, folder: Path, where: str) -> Any:
    """A field as its room's sample: text as is, anything else read from its file."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if room == "text":
        return str(value)
    path = folder / str(value)
    reader = MODALITIES.get(room).file_reader(path)
    if reader is None:
        raise DataError(f"{where}: the {room} room reads no {path.suffix or 'suffix-less'} "
                        f"files ({path.name}); give a file it reads")
    if not path.is_file():
        raise DataError(f"{where}: {path} does not exist; paths are relative to the records "
                        "file")
    return np.asarray(reader(path)["x"])[0]


def _stacked(values: list[Any], room: str) -> Any:
    """Text stays a list; other samples become one array (None for missing records kept as
    NaN rows, so the missing-record check finds them)."""
    if room == "text":
        return values
    present = [value for value in values if value is not None]
    if not present:
        return values
    shape = np.asarray(present[0]).shape
    filled = [np.full(shape, np.nan, dtype=np.float32) if value is None
              else np.asarray(value, dtype=np.float32) for value in values]
    if any(item.shape != shape for item in filled):
        raise DataError(f"the {room} files have different shapes; give samples of one shape")
    return np.stack(filled)


def read_records(path: Path, modalities: list[str] | None = None,
                 label_field: str = LABEL_FIELD) -> dict[str, Any]:
    """`{x: {modality: column}, y}` from a JSONL or CSV records file. The modalities are the
    fields named by rooms (or `modalities`), in file order; `label_field` holds class labels."""
    rows = _rows(path)
    if not rows:
        raise DataError(f"{path} holds no records")
    fields = list(rows[0])
    rooms = modalities or [field for field in fields if field in MODALITIES.names()]
    if len(rooms) < 2:
        raise DataError(f"{path}: records need fields for at least two modalities (room names "
                        f"such as image, text, audio); found fields {fields}")
    columns = {}
    for room in rooms:
        values = [_room_value(room, row.get(room), path.parent, f"{path} record {index}")
                  for index, row in enumerate(rows)]
        columns[room] = _stacked(values, room)
    labels = [row.get(label_field) for row in rows]
    has_labels = any(label not in (None, "") for label in labels)
    return {"x": columns, "y": labels if has_labels else None}
