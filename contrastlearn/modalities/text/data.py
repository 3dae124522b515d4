"""Text data: sentences, pairs and triples of strings, their item ids, readers for plain-text,
CSV/TSV and JSON-lines files, and the train/test splits of the text modality.

Text stays text until the encoder is known: a `TextDataset` holds strings, and the pipeline
turns them into token ids with the encoder's own tokenizer (`tokenize_dataset`), giving the
(N, L) or (N, k, L) int64 tensors of the token contract (`text.tokens`).

Columns: one column is a sentence per row (unsupervised SimCSE: Gao et al. 2021, arXiv
2104.08821); two are (anchor, positive) pairs; three add a hard negative (supervised SimCSE;
Sentence-BERT triples: Reimers & Gurevych 2019, arXiv 1908.10084).

Item ids: rows that share any identical text in their anchor or positive column are one item
(one id, by union-find over the texts), so objectives never use them as negatives of each other:
a duplicated sentence, or two anchors paraphrased by the same positive. The hard-negative column
takes no part: a hard negative is by definition another item.

Files (`resolve_dataset("path.txt", modality="text")`):

- `.txt`: one text per line; blank lines are skipped (and counted in `info["blank_lines"]`).
- `.csv`, `.tsv` (header row required) and `.jsonl` (one JSON object per line): the text
  columns are named by `columns`, or found among the default names (`DEFAULT_COLUMNS`); a
  `label` column becomes class labels. TSV cells are literal (no quoting), as most TSV corpora
  are written.
- Every file is decoded as UTF-8 unless `encoding=` says otherwise (e.g. "latin-1"); a leading
  byte-order mark is dropped.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import Tensor

from contrastlearn.data.arrays import (
    ArrayDataset,
    DataError,
    DatasetSplits,
    regression_target_reason,
    stratified_holdout,
)
from contrastlearn.modalities.text.tokens import pad_to

MAX_COLUMNS = 3
LINKED_COLUMNS = 2
"""Columns whose texts define item identity: anchor and positive (not the hard negative)."""
DEFAULT_COLUMNS = (
    ("anchor", "positive", "negative"),
    ("anchor", "positive"),
    ("sentence1", "sentence2"),
    ("sentence",),
    ("text",),
)
"""Column names tried, in order, when a table's text columns are not given."""
LABEL_COLUMN = "label"
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl")
FILE_SUFFIXES = (".txt", *TABLE_SUFFIXES)
ENCODING_HINT = "pass the file's encoding, e.g. encoding='latin-1' (or 'cp1252' for Windows files)"


@dataclass
class TextDataset:
    """Rows of 1 to 3 text columns (anchor; anchor, positive; anchor, positive, hard negative),
    optional int64 class labels `y` (N,), item ids (N,) and what the reader knows (`info`)."""

    columns: list[list[str]]
    y: Tensor | None = None
    ids: Tensor | None = None
    name: str = "text"
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.columns, (list, tuple)) or not 1 <= len(self.columns) <= MAX_COLUMNS:
            raise DataError(f"{self.name}: a text dataset has 1 to {MAX_COLUMNS} columns "
                            "(anchor, positive, hard negative)")
        self.columns = [list(column) for column in self.columns]
        sizes = {len(column) for column in self.columns}
        if len(sizes) != 1:
            raise DataError(f"{self.name}: the text columns have different lengths "
                            f"{[len(column) for column in self.columns]}")
        for index, column in enumerate(self.columns):
            _check_texts(column, f"{self.name}: column {index}")
        if self.y is not None:
            self.y = torch.as_tensor(self.y, dtype=torch.int64)
            if self.y.shape != (len(self),):
                raise DataError(f"{self.name}: {tuple(self.y.shape)} labels for {len(self)} rows; "
                                "give one label per row")
        self.ids = (item_ids(self.columns) if self.ids is None
                    else torch.as_tensor(self.ids, dtype=torch.int64))
        if self.ids.shape != (len(self),):
            raise DataError(f"{self.name}: {tuple(self.ids.shape)} item ids for {len(self)} rows")

    def __len__(self) -> int:
        return len(self.columns[0])

    @property
    def texts(self) -> list[str]:
        """Column 0: the sentences, or the anchors of pairs and triples."""
        return self.columns[0]

    @property
    def num_columns(self) -> int:
        return len(self.columns)

    def subset(self, indices: Tensor | Sequence[int]) -> TextDataset:
        """The rows at `indices`, keeping their labels and item ids."""
        rows = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
        positions = rows.tolist()
        return TextDataset(
            [[column[index] for index in positions] for column in self.columns],
            None if self.y is None else self.y[rows],
            self.ids[rows],
            self.name,
            dict(self.info),
        )


@dataclass(frozen=True)
class RetrievalSet:
    """A retrieval evaluation: each query has exactly one relevant document,
    `documents[query_targets[i]]` for `queries[i]`."""

    queries: list[str]
    documents: list[str]
    query_targets: Tensor

    def __post_init__(self) -> None:
        targets = torch.as_tensor(self.query_targets, dtype=torch.int64)
        if targets.shape != (len(self.queries),):
            raise DataError(f"retrieval set: {len(self.queries)} queries but "
                            f"{tuple(targets.shape)} targets")
        if len(targets) and (int(targets.min()) < 0 or int(targets.max()) >= len(self.documents)):
            raise DataError(f"retrieval set: targets must index the {len(self.documents)} "
                            "documents")
        object.__setattr__(self, "query_targets", targets)


def _check_texts(texts: list[Any], what: str) -> None:
    """Every item a non-blank string; the error names the first row that is not."""
    for row, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"{what}, row {row}: expected a string, got {type(text).__name__}")
        if not text.strip():
            raise DataError(f"{what}, row {row}: the text is empty; drop empty texts")


def item_ids(columns: Sequence[Sequence[str]]) -> Tensor:
    """(N,) int64 item ids: rows linked by an identical text in their anchor or positive column
    (directly or through other rows) share one id. Connected components of the graph of rows and
    distinct texts, so it stays linear in N; ids are numbered in order of first appearance."""
    linked = columns[:LINKED_COLUMNS]
    num_rows = len(linked[0])
    codes: dict[str, int] = {}
    text_codes = np.fromiter((codes.setdefault(text, len(codes)) for column in linked
                              for text in column), dtype=np.int64, count=num_rows * len(linked))
    rows = np.tile(np.arange(num_rows), len(linked))
    size = num_rows + len(codes)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, num_rows + text_codes)),
                       shape=(size, size))
    _, components = connected_components(graph, directed=False)
    _, ids = np.unique(components[:num_rows], return_inverse=True)
    return torch.as_tensor(ids.reshape(-1), dtype=torch.int64)


def tokenize_dataset(dataset: TextDataset, tokenize: Callable[[list[str]], Tensor]) -> ArrayDataset:
    """Token ids of every column by the encoder's tokenizer (one call per column), as an
    ArrayDataset: x is (N, L) int64 for one column and (N, k, L) for k columns, each padded with
    PAD_ID to the widest; labels and item ids are carried over."""
    if len(dataset) == 0:
        raise DataError(f"{dataset.name}: no texts to tokenize")
    parts = []
    for index, column in enumerate(dataset.columns):
        ids = tokenize(column)
        if not isinstance(ids, Tensor) or ids.dim() != 2 or len(ids) != len(column):
            shape = tuple(ids.shape) if isinstance(ids, Tensor) else type(ids).__name__
            raise ValueError(f"the tokenizer must return a ({len(column)}, length) tensor of "
                             f"token ids for column {index}; got {shape}")
        if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
            raise ValueError(f"the tokenizer must return integer token ids; got {ids.dtype}")
        parts.append(ids.to(torch.int64))
    width = max(part.shape[1] for part in parts)
    parts = [pad_to(part, width) for part in parts]
    x = parts[0] if len(parts) == 1 else torch.stack(parts, dim=1)
    return ArrayDataset(x, dataset.y, dataset.ids.clone(), dataset.name)


def _decode(path: Path, encoding: str) -> str:
    """The file's text; an undecodable byte is a DataError naming line and byte offset."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {str(path)!r}: {error.strerror or error}") from None
    try:
        text = raw.decode(encoding)
    except LookupError:
        raise DataError(f"unknown text encoding {encoding!r} for {str(path)!r}; use e.g. "
                        "'utf-8' or 'latin-1'") from None
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise DataError(
            f"{str(path)!r} line {line}: byte 0x{raw[error.start]:02x} at byte offset "
            f"{error.start} is not valid {encoding}; {ENCODING_HINT}"
        ) from None
    return text.removeprefix("\ufeff")


def _lines(text: str) -> list[str]:
    """Lines split on newlines only (so numbers match what an editor shows), without '\\r'."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def read_text_lines(path: str | Path, encoding: str = "utf-8") -> TextDataset:
    """One text per line (surrounding whitespace stripped); blank lines are skipped and counted
    in `info["blank_lines"]`. A file with no text is a DataError."""
    path = Path(path)
    lines = _lines(_decode(path, encoding))
    if lines[-1] == "":
        lines.pop()  # the empty piece after a final newline is no line
    texts = [line.strip() for line in lines if line.strip()]
    blank = len(lines) - len(texts)
    if not texts:
        raise DataError(f"{str(path)!r} holds no text: every line is blank")
    info = {"source": str(path), "format": "lines", "blank_lines": blank}
    return TextDataset([texts], name=path.stem, info=info)


def read_table(
    path: str | Path, columns: Sequence[str] | None = None, label_column: str | None = None,
    encoding: str = "utf-8",
) -> TextDataset:
    """Text columns (1 to 3, by name) and optional class labels of a `.csv`, `.tsv` (header row
    required) or `.jsonl` file. Without `columns` the first of `DEFAULT_COLUMNS` the file has is
    used; without `label_column` a column named `label` is used when present. Labels become
    codes 0..K-1 in sorted order (numerically when all are integers); their names are kept in
    `info["classes"]`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{str(path)!r}: read_table reads {', '.join(TABLE_SUFFIXES)} files")
    text = _decode(path, encoding)
    names, records = _json_records(text, path) if suffix == ".jsonl" else _csv_records(
        text, path, delimiter="\t" if suffix == ".tsv" else ",")
    source = repr(str(path))
    text_keys = _text_columns(names, columns, source)
    label_key = _label_column(names, label_column, source)
    table = [[_text_cell(record.get(key), key, source, line) for line, record in records]
             for key in text_keys]
    info: dict[str, Any] = {"source": str(path), "format": suffix[1:], "columns": text_keys}
    labels = None
    if label_key is not None:
        raw = [_label_cell(record.get(label_key), label_key, source, line)
               for line, record in records]
        labels, info["classes"] = label_codes(raw, str(path))
        info["label_column"] = label_key
    return TextDataset(table, labels, name=path.stem, info=info)


def read_scored_pairs(path: str | Path, columns: Sequence[str] = ("sentence1", "sentence2"),
                      score_column: str = "score", encoding: str = "utf-8") -> dict[str, Any]:
    """Sentence pairs with human similarity scores (STS-style) from a `.csv`, `.tsv` or
    `.jsonl` file, as the arrays the similarity protocol takes: texts `a`, `b` and float
    `scores`. A missing column or a score that is not a finite number names file and line."""
    if len(columns) != 2:
        raise DataError(f"scored pairs need exactly 2 text columns; got {list(columns)}")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{str(path)!r}: scored pairs are read from "
                        f"{', '.join(TABLE_SUFFIXES)} files")
    text = _decode(path, encoding)
    names, records = _json_records(text, path) if suffix == ".jsonl" else _csv_records(
        text, path, delimiter="\t" if suffix == ".tsv" else ",")
    source = repr(str(path))
    first, second = _text_columns(names, columns, source)
    score_key = _find(names, score_column)
    if score_key is None:
        raise DataError(f"{source} has no score column {score_column!r}; its columns are {names}")
    scores = []
    for line, record in records:
        try:
            score = float(record.get(score_key))
        except (TypeError, ValueError):
            score = float("nan")
        if not np.isfinite(score):
            raise DataError(f"{source} line {line}: score {record.get(score_key)!r} is not a "
                            "finite number")
        scores.append(score)
    return {"a": [_text_cell(record.get(first), first, source, line) for line, record in records],
            "b": [_text_cell(record.get(second), second, source, line)
                  for line, record in records],
            "scores": np.asarray(scores, dtype=np.float64)}


def _csv_records(text: str, path: Path, delimiter: str) -> tuple[list[str], list[tuple[int, dict]]]:
    """Header names and (line, {name: cell}) of every non-blank row of a CSV/TSV text."""
    tsv = delimiter == "\t"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                        quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
    rows, start = [], 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as error:
        raise DataError(f"{str(path)!r} line {reader.line_num}: not valid "
                        f"{'TSV' if tsv else 'CSV'}: {error}") from None
    if not rows:
        raise DataError(f"{str(path)!r} is empty: it needs a header row and at least one row")
    names = [cell.strip() for cell in rows[0][1]]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(f"{str(path)!r}: the header repeats the column name(s) {repeated}")
    if len(rows) == 1:
        raise DataError(f"{str(path)!r} has a header row but no rows")
    records = []
    for line, cells in rows[1:]:
        if len(cells) > len(names):
            raise DataError(f"{str(path)!r} line {line}: {len(cells)} cells but the header names "
                            f"{len(names)} columns")
        records.append((line, dict(zip(names, cells))))
    return names, records


def _json_records(text: str, path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """Every key (in order of first appearance) and (line, object) of every non-blank line of a
    JSON-lines text."""
    records = []
    for line, content in enumerate(_lines(text), start=1):
        if not content.strip():
            continue
        try:
            record = json.loads(content)
        except json.JSONDecodeError as error:
            raise DataError(f"{str(path)!r} line {line}: not valid JSON ({error.msg} at column "
                            f"{error.colno})") from None
        if not isinstance(record, dict):
            raise DataError(f"{str(path)!r} line {line}: expected a JSON object such as "
                            f'{{"text": "..."}}, got a JSON {type(record).__name__}')
        records.append((line, record))
    if not records:
        raise DataError(f"{str(path)!r} is empty: it needs one JSON object per line")
    return list(dict.fromkeys(key for _, record in records for key in record)), records


def _find(names: list[str], wanted: str) -> str | None:
    """The file's spelling of column `wanted` (names match in any case), or None."""
    matches = [name for name in names if name.lower() == wanted.lower()]
    return matches[0] if matches else None


def _text_columns(names: list[str], columns: Sequence[str] | None, source: str) -> list[str]:
    """The file's names of the text columns: the ones asked for, or the first default set."""
    if columns is not None:
        if isinstance(columns, str):
            columns = [columns]
        if not 1 <= len(columns) <= MAX_COLUMNS:
            raise DataError(f"give 1 to {MAX_COLUMNS} text columns (anchor, positive, hard "
                            f"negative); got {list(columns)}")
        found = [_find(names, column) for column in columns]
        missing = [column for column, name in zip(columns, found) if name is None]
        if missing:
            raise DataError(f"{source} has no column {', '.join(map(repr, missing))}; its "
                            f"columns are {names}")
        return found
    for candidates in DEFAULT_COLUMNS:
        found = [_find(names, column) for column in candidates]
        if all(found):
            return found
    tried = " / ".join(",".join(candidates) for candidates in DEFAULT_COLUMNS)
    raise DataError(f"{source}: no text column found; its columns are {names}. Name the text "
                    f"columns (columns=[...]) or use one of the default names: {tried}")


def _label_column(names: list[str], label_column: str | None, source: str) -> str | None:
    if label_column is None:
        return _find(names, LABEL_COLUMN)
    found = _find(names, label_column)
    if found is None:
        raise DataError(f"{source} has no label column {label_column!r}; its columns are "
                        f"{names}")
    return found


def _text_cell(value: Any, key: str, source: str, line: int, unit: str = "line") -> str:
    """A text cell, stripped; missing, empty or not a string is a DataError naming the line."""
    if value is not None and not isinstance(value, str):
        raise DataError(f"{source} {unit} {line}: the {key!r} value must be a string, got "
                        f"{type(value).__name__}")
    if value is None or not value.strip():
        raise DataError(f"{source} {unit} {line}: the {key!r} cell is empty; every row needs "
                        "all its text columns")
    return value.strip()


def _label_cell(value: Any, key: str, source: str, line: int) -> str:
    """A label cell as a string; an empty one is a DataError naming the line."""
    text = "" if value is None else str(value).strip()
    if not text or isinstance(value, (dict, list)):
        raise DataError(f"{source} line {line}: the {key!r} label is "
                        f"{'empty' if not text else 'not a single value'}; label every row or "
                        "drop the label column")
    return text


def label_codes(labels: Sequence[Any], what: str) -> tuple[Tensor, list[str]]:
    """Class labels as int64 codes 0..K-1 in sorted order (numeric order when every label is an
    integer) and the class names; non-integer numbers are a regression target (DataError)."""
    names = np.asarray([str(label).strip() for label in labels])
    try:
        numbers = names.astype(np.float64)
    except ValueError:
        numbers = None
    if numbers is not None:
        if not np.all(np.isfinite(numbers)) or not np.all(numbers == np.round(numbers)):
            raise DataError(f"{what}: the labels {regression_target_reason(numbers)}")
        classes, codes = np.unique(numbers.astype(np.int64), return_inverse=True)
    else:
        classes, codes = np.unique(names, return_inverse=True)
    return torch.as_tensor(codes.reshape(-1), dtype=torch.int64), [str(c) for c in classes]


def labels_tensor(labels: Any, what: str) -> tuple[Tensor, list[str] | None]:
    """In-memory labels: integers are kept as given (no class names); anything else (strings)
    becomes sorted codes with their names (`label_codes`)."""
    values = _as_list(labels, what)
    if any(isinstance(value, (complex, np.complexfloating)) for value in values):
        raise DataError(f"{what} holds complex numbers; class labels must be integers or "
                        "strings: pass their real part as integers if the imaginary parts are 0")
    if values and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                      for v in values):
        codes = torch.as_tensor(values, dtype=torch.int64)
        if int(codes.min()) < 0:
            raise DataError(f"{what} has negative labels (e.g. {int(codes.min())}); class labels "
                            "must be >= 0 (drop unlabelled rows)")
        return codes, None
    return label_codes(values, what)


def _labelled(dataset: TextDataset, labels: Tensor, classes: list[str] | None) -> TextDataset:
    info = dict(dataset.info) if classes is None else {**dataset.info, "classes": classes}
    return replace(dataset, y=labels, info=info)


def from_hf_dataset(
    dataset: Any, columns: Sequence[str] | None = None, label_column: str | None = None,
) -> TextDataset:
    """A Hugging Face `datasets.Dataset` (anything with `column_names` and `dataset[column]`) as
    a TextDataset: text columns and label column chosen as in `read_table`. Integer labels are
    kept as given (a `ClassLabel` column's codes); string labels become sorted codes."""
    column_names = getattr(dataset, "column_names", None)
    names = [] if isinstance(column_names, dict) else list(column_names or [])
    if not names:
        raise DataError(f"{type(dataset).__name__} has no column_names; pass a Hugging Face "
                        "datasets.Dataset (not a DatasetDict: pick a split, e.g. ds['train'])")
    source = f"the {type(dataset).__name__}"
    text_keys = _text_columns(names, columns, source)
    label_key = _label_column(names, label_column, source)
    table = [[_text_cell(value, key, source, row, "row") for row, value in enumerate(dataset[key])]
             for key in text_keys]
    data = TextDataset(table, name="hf_dataset",
                       info={"source": "datasets.Dataset", "columns": text_keys})
    if label_key is None:
        return data
    labels, classes = labels_tensor(list(dataset[label_key]), f"the {label_key!r} column")
    data.info["label_column"] = label_key
    return _labelled(data, labels, classes)


def read_text_file(path: Path, encoding: str = "utf-8", columns: Sequence[str] | None = None,
                   label_column: str | None = None) -> dict[str, Any]:
    """The file reader `resolve_dataset` uses for the text modality: `{"x": TextDataset}` from
    a `.txt` (one text per line) or a table (`read_table`; default columns unless `columns`)."""
    if path.suffix.lower() == ".txt":
        return {"x": read_text_lines(path, encoding=encoding)}
    return {"x": read_table(path, columns, label_column, encoding=encoding)}


def as_text_dataset(
    data: Any, y: Any = None, *, name: str = "text", what: str = "x",
) -> TextDataset:
    """A TextDataset from a TextDataset, a list of strings (one column) or a list of 2- or
    3-tuples of strings (pairs, triples), with optional labels `y` (`labels_tensor`)."""
    if isinstance(data, TextDataset):
        if y is None:
            return data
        if data.y is not None:
            raise DataError(f"{name}: {what} already has labels; do not give y as well")
        return _labelled(data, *labels_tensor(y, f"{name}: y"))
    if isinstance(data, str):
        raise DataError(f"{name}: {what} is a single string; give a list of texts (or a file "
                        "path as the dataset)")
    if hasattr(data, "column_names"):  # a Hugging Face datasets.Dataset
        dataset = from_hf_dataset(data)
        return dataset if y is None else as_text_dataset(dataset, y, name=name, what=what)
    rows = _as_list(data, f"{name}: {what}")
    if not rows:
        raise DataError(f"{name}: {what} holds no texts")
    if all(isinstance(row, str) for row in rows):
        table = [rows]
    else:
        width = len(rows[0]) if isinstance(rows[0], (list, tuple)) else 0
        bad = next((index for index, row in enumerate(rows)
                    if not isinstance(row, (list, tuple)) or len(row) != width), None)
        if bad is not None or not 2 <= width <= MAX_COLUMNS:
            raise DataError(f"{name}: {what} must be a list of strings, or of (anchor, positive) "
                            "or (anchor, positive, negative) tuples, one shape for every row; "
                            f"row {bad or 0} is {rows[bad or 0]!r}")
        table = [list(column) for column in zip(*rows)]
    dataset = TextDataset(table, name=name)
    return dataset if y is None else _labelled(dataset, *labels_tensor(y, f"{name}: y"))


def _as_list(data: Any, what: str) -> list[Any]:
    if isinstance(data, (np.ndarray, Tensor)):
        data = data.tolist()
    if not isinstance(data, (list, tuple)):
        raise DataError(f"{what} must be a list, got {type(data).__name__}")
    return [tuple(row) if isinstance(row, list) else row for row in data]


def text_dataset_splits(
    train: TextDataset, test: TextDataset | None, *, name: str, test_split: str,
    info: dict[str, Any] | None = None,
) -> DatasetSplits:
    """DatasetSplits of the text modality with the summary every text dataset reports."""
    labels = [part.y for part in (train, test) if part is not None and part.y is not None]
    num_classes = int(max(int(label.max()) for label in labels)) + 1 if labels else None
    if labels and "classes" in train.info:
        num_classes = max(num_classes, len(train.info["classes"]))
    summary = {
        **train.info, "name": name, "num_train": len(train),
        "num_test": 0 if test is None else len(test), "test_split": test_split,
        "num_columns": train.num_columns, "num_items": int(train.ids.unique().numel()),
        "num_classes": num_classes,
        **(info or {}),
    }
    return DatasetSplits(train, test, "text", summary)


def text_splits(
    x: Any = None, y: Any = None, x_test: Any = None, y_test: Any = None, *, texts: Any = None,
    train: Any = None, test: Any = None, name: str = "text", holdout_fraction: float = 0.2,
    seed: int = 0,
) -> DatasetSplits:
    """The text modality's splitter (what `resolve_dataset` calls): training texts as `x`,
    `texts` or `train` (a TextDataset, a list of strings, or of pair/triple tuples) with optional
    labels `y`; a test split as `x_test` or `test` (with `y_test` when labelled). Without a test
    split, labelled data hold out a stratified, seeded `holdout_fraction` (rows sharing an item
    id with a training row stay in training, so no text is on both sides); unlabelled data have
    no test split (test is None)."""
    given = [value for value in (x, texts, train) if value is not None]
    if len(given) != 1:
        raise DataError(f"{name}: give the training texts once, as x, texts or train "
                        f"(got {len(given)})")
    if x_test is not None and test is not None:
        raise DataError(f"{name}: give the test texts once, as x_test or test")
    test_data = x_test if x_test is not None else test
    if test_data is not None:
        full, held = _labelled_pair(as_text_dataset(given[0], name=name),
                                    as_text_dataset(test_data, name=name, what="test"),
                                    y, y_test, name)
        if (held.y is None) != (full.y is None):
            raise DataError(f"{name}: give labels for both splits (y and y_test) or for neither")
        if held.num_columns != full.num_columns:
            raise DataError(f"{name}: the test split has {held.num_columns} columns, the training "
                            f"split {full.num_columns}")
        held = replace(held, ids=held.ids + int(full.ids.max()) + 1)
        return text_dataset_splits(full, held, name=name, test_split="test")
    if y_test is not None:
        raise DataError(f"{name}: y_test given without test texts")
    full = as_text_dataset(given[0], y, name=name)
    if full.y is None:
        return text_dataset_splits(full, None, name=name, test_split="none")
    kept, held_out = stratified_holdout(full.y, len(full), holdout_fraction, seed)
    shared = torch.isin(full.ids[held_out], full.ids[kept])
    kept = torch.cat([kept, held_out[shared]]).sort().values
    held_out = held_out[~shared]
    if len(held_out) == 0:
        raise DataError(f"{name}: holding out {holdout_fraction:g} of {len(full)} rows leaves no "
                        "test rows; give more data or a larger holdout_fraction")
    return text_dataset_splits(full.subset(kept), full.subset(held_out), name=name,
                               test_split=f"holdout_{holdout_fraction:g}_seed{seed}")


def _labelled_pair(
    train: TextDataset, test: TextDataset, y: Any, y_test: Any, name: str,
) -> tuple[TextDataset, TextDataset]:
    """Train and test with labels `y`, `y_test` coded together, so a class has one code in
    both splits; datasets read from two files (each with its own class names) are recoded."""
    if y is None and y_test is None:
        named = [split.info.get("classes") for split in (train, test)]
        if train.y is None or test.y is None or None in named or named[0] == named[1]:
            return train, test
        y, y_test = ([names[code] for code in split.y.tolist()]
                     for names, split in zip(named, (train, test)))
        train, test = replace(train, y=None), replace(test, y=None)
    if y is None or y_test is None:
        raise DataError(f"{name}: give labels for both splits (y and y_test) or for neither")
    if train.y is not None or test.y is not None:
        raise DataError(f"{name}: the datasets already have labels; do not give y as well")
    labels_of = {"y": _as_list(y, f"{name}: y"), "y_test": _as_list(y_test, f"{name}: y_test")}
    for (key, values), split in zip(labels_of.items(), (train, test)):
        if len(values) != len(split):
            raise DataError(f"{name}: {key} has {len(values)} labels for {len(split)} rows; give "
                            "one label per row")
    pooled = labels_of["y"] + labels_of["y_test"]
    labels, classes = labels_tensor(pooled, f"{name}: y and y_test")
    return (_labelled(train, labels[: len(train)], classes),
            _labelled(test, labels[len(train):], classes))


def text_samples(inputs: Any, scale: float | None = None) -> list[str]:
    """Texts to embed, validated (a non-empty list of non-blank strings). They stay strings:
    only the encoder's tokenizer can turn them into ids, so the embed path tokenizes them.
    `scale` is unused (texts are not rescaled)."""
    if isinstance(inputs, TextDataset):
        skipped = inputs.info.get("blank_lines", 0)
        if skipped:
            warnings.warn(f"{inputs.name}: skipped {skipped} blank line(s); the embeddings follow "
                          "the non-blank lines in order", RuntimeWarning, stacklevel=2)
        return list(inputs.texts)
    if isinstance(inputs, str):
        inputs = [inputs]
    texts = _as_list(inputs, "texts to embed")
    if not texts:
        raise DataError("no texts to embed: the list is empty")
    _check_texts(texts, "texts to embed")
    return texts


