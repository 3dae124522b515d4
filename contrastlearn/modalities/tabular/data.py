"""Tabular data: a table's rows as float samples (see `schema` for the layout), the raw rows
kept beside them, and the splitter every input (DataFrame, array, CSV, Parquet, .npz) goes
through.

The schema is fitted on the training rows only (statistics, levels, marginals), then applied
to the test rows, so nothing of the test split leaks into the samples. What was inferred or
changed (column kinds, missing values, unseen levels in the test rows) is stated in
`splits.info` ("columns", "notes").
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from contrastlearn.data.arrays import (
    ArrayDataset,
    DataError,
    DatasetSplits,
    as_float_tensor,
    as_group_ids,
    as_labels,
    stratified_holdout,
)
from contrastlearn.modalities.tabular.columns import (
    ARRAY_COLUMN,
    ColumnKinds,
    as_frame,
    column_kinds,
    split_label,
)
from contrastlearn.modalities.tabular.matching.chars import encode_table
from contrastlearn.modalities.tabular.matching.encoder import RowEncoder
from contrastlearn.modalities.tabular.schema import TableSchema, UnseenPolicy, fit_schema


@dataclass
class TableDataset(ArrayDataset):
    """Samples `x` (N, width) made by `schema` from the raw feature rows `frame`."""

    frame: pd.DataFrame | None = None
    schema: TableSchema | None = None

    def subset(self, indices: Tensor) -> TableDataset:
        rows = indices.cpu().numpy()
        return replace(self, x=self.x[indices], y=None if self.y is None else self.y[indices],
                       ids=self.ids[indices],
                       frame=None if self.frame is None else self.frame.iloc[rows])


def _given_labels(y: Any, label: pd.Series | None, what: str) -> Any:
    """The labels: `y`, or the label column's values."""
    if y is not None and label is not None:
        raise DataError(f"{what}: labels given twice (y and data.options.label_column); give "
                        "one of them")
    return label.to_numpy() if label is not None else y


def _drop_unlabelled(frame: pd.DataFrame, labels: Any,
                     notes: list[str], what: str) -> tuple[pd.DataFrame, Any]:
    """Rows whose label is missing can be neither stratified nor probed: they are dropped,
    and the notes say how many."""
    if labels is None:
        return frame, None
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(frame):
        raise DataError(f"{what}: y has shape {labels.shape} for {len(frame)} rows; give one "
                        "label per row")
    absent = np.asarray(pd.isna(labels), dtype=bool)
    if absent.all():
        raise DataError(f"{what}: every label is missing; give labels or none at all")
    if absent.any():
        notes.append(f"{what}: {int(absent.sum())} row(s) without a label dropped")
        frame, labels = frame[~absent], labels[~absent]
    return frame, labels


def _label_codes(parts: Sequence[Any], what: str) -> tuple[list[Tensor | None],
                                                            list[str] | None]:
    """Integer codes of the labels of each split (one code per class across the splits),
    and the class names when the labels were not integer codes already."""
    if parts[0] is None:
        return [None] * len(parts), None
    arrays = [np.asarray(part) for part in parts]
    if any(array.dtype.kind in "OUSb" for array in arrays):
        arrays = [array.astype(str) for array in arrays]
    joined = np.concatenate(arrays)
    codes = as_labels(joined, len(joined), what)
    classes = None
    if joined.dtype.kind in "US":
        classes = [str(value) for value in np.unique(joined)]
    cuts = np.cumsum([len(array) for array in arrays])[:-1]
    return list(torch.tensor_split(codes, cuts.tolist())), classes


def _column_info(kinds: ColumnKinds, schema: TableSchema, label_column: str | None,
                 ignored: Sequence[str]) -> dict[str, Any]:
    return {
        "numeric": list(kinds.numeric),
        "categorical": {c.name: len(c.levels) for c in schema.categorical},
        "missing_indicators": [c.name for c in schema.numeric if c.indicator],
        "label": label_column, "ignored": list(ignored),
        "kinds": dict(kinds.reasons),
        "width": schema.layout.width,
    }


def _read_split(table: Any, y: Any, label_column: str | None, notes: list[str],
                what: str) -> tuple[pd.DataFrame, Any]:
    """A split's feature rows and labels (rows without a label dropped)."""
    frame, label = split_label(as_frame(table, what), label_column, what)
    return _drop_unlabelled(frame, _given_labels(y, label, what), notes, what)


def table_splits(
    x: Any, y: Any = None, x_test: Any = None, y_test: Any = None, *, name: str,
    holdout_fraction: float = 0.2, seed: int = 0, groups: Any = None,
    numeric_columns: Sequence[str] | None = None,
    categorical_columns: Sequence[str] | None = None, label_column: str | None = None,
    ignore_columns: Sequence[str] | None = None, unseen_categories: UnseenPolicy = "map",
    max_integer_levels: int = 10, max_levels: int = 200, notes: Sequence[str] = (),
) -> DatasetSplits:
    """Train/test splits of a table. `x` (and `x_test`) are DataFrames, 2-d arrays or tensors;
    labels are `y` or the column `label_column`. Without `x_test`, a stratified
    `holdout_fraction` of the rows is held out. The schema (see `schema`) is fitted on the
    training rows and applied to both splits; `groups` (one id per row) become item ids."""
    notes = list(notes)
    frame, labels = _read_split(x, y, label_column, notes, f"{name}: x")
    kinds = column_kinds(frame, numeric_columns=numeric_columns,
                         categorical_columns=categorical_columns, ignore_columns=ignore_columns,
                         max_integer_levels=max_integer_levels, what=f"{name}: x")
    if kinds.describe():
        notes.append(kinds.describe())
    ids = as_group_ids(groups, len(frame), f"{name}: groups")
    if x_test is not None:
        test_frame, test_labels = _read_split(x_test, y_test, label_column, notes,
                                              f"{name}: x_test")
        if (test_labels is None) != (labels is None):
            raise DataError(f"{name}: give labels for both splits (y and y_test) or for neither")
        (train_codes, test_codes), classes = _label_codes([labels, test_labels], f"{name}: y")
        train_frame = frame
        train_ids = torch.arange(len(frame)) if ids is None else ids
        test_ids = torch.arange(len(test_frame)) + len(frame)
        split = "test"
    else:
        if y_test is not None:
            raise DataError(f"{name}: y_test given without x_test")
        (codes,), classes = _label_codes([labels], f"{name}: y")
        kept, held = stratified_holdout(codes, len(frame), holdout_fraction, seed)
        train_frame, test_frame = frame.iloc[kept.numpy()], frame.iloc[held.numpy()]
        train_codes = None if codes is None else codes[kept]
        test_codes = None if codes is None else codes[held]
        all_ids = torch.arange(len(frame)) if ids is None else ids
        train_ids, test_ids = all_ids[kept], all_ids[held]
        split = f"holdout_{holdout_fraction:g}_seed{seed}"
    schema = fit_schema(train_frame, kinds.numeric, kinds.categorical, unseen=unseen_categories,
                        max_levels=max_levels, what=f"{name}: x")
    train, _ = _dataset(train_frame, train_codes, train_ids, schema, name, f"{name}: x")
    test, unseen = _dataset(test_frame, test_codes, test_ids, schema, name,
                            f"{name}: test rows")
    if unseen:
        counted = ", ".join(f"{column!r}: {count}" for column, count in unseen.items())
        notes.append(f"{name}: test rows hold categorical values unseen in the training rows "
                     f"({counted}), encoded as unseen (all-zero one-hot)")
    labelled = [part.y for part in (train, test) if part.y is not None and len(part.y)]
    info: dict[str, Any] = {
        "name": name, "num_train": len(train), "num_test": len(test),
        "sample_shape": [schema.layout.width], "test_split": split,
        "num_classes": (int(max(int(y.max()) for y in labelled)) + 1) if labelled else None,
        "columns": _column_info(kinds, schema, label_column, ignore_columns or []),
        "missing_values": {column: int(count) for column, count
                           in train_frame[schema.columns].isna().sum().items() if count},
        "unseen_categories": unseen,
    }
    if classes is not None:
        info["classes"] = classes
    if ids is not None:
        info["num_groups"] = int(torch.unique(train.ids).numel())
    if notes:
        info["notes"] = notes
    return DatasetSplits(train, test, "tabular", info)


def _dataset(frame: pd.DataFrame, labels: Tensor | None, ids: Tensor, schema: TableSchema,
             name: str, what: str) -> tuple[TableDataset, dict[str, int]]:
    """The split's samples by `schema`, and its unseen categorical values per column."""
    samples, unseen = schema.encode(frame, what)
    features = frame[schema.columns].reset_index(drop=True)
    return TableDataset(samples, labels, ids, name=name, frame=features, schema=schema), unseen


def table_samples(inputs: Any, scale: float | None = None) -> pd.DataFrame:
    """The rows to embed as a DataFrame (`scale` is not used: the encoder's schema scales);
    the encoder's schema turns them into samples (`encode_for`)."""
    return as_frame(inputs, "the rows to embed")


def encode_for(samples: Any, encoder: Any) -> Tensor:
    """Rows to embed as the encoder's samples: by its schema (columns by name; an array's
    columns by position), as characters for a tuple-matching `row_encoder`, or as they are
    when the encoder has neither (numbers only)."""
    schema = getattr(encoder, "schema", None)
    frame = samples if isinstance(samples, pd.DataFrame) else as_frame(samples, "the rows")
    if isinstance(encoder, RowEncoder):  # tuple matching reads every cell as characters
        return encode_table(frame, what="the rows to embed")
    if schema is None:
        return as_float_tensor(frame.to_numpy(), "the rows to embed (an encoder without a "
                                                 "table schema reads numbers only)")
    by_position = [ARRAY_COLUMN.format(j) for j in range(frame.shape[1])]
    if list(frame.columns) == by_position and len(by_position) == len(schema.columns) \
            and not set(schema.columns) <= set(frame.columns):
        frame = frame.set_axis(schema.columns, axis=1)
    samples, unseen = schema.encode(frame, "the rows to embed")
    if unseen:
        counted = ", ".join(f"{column!r}: {count}" for column, count in unseen.items())
        warnings.warn(f"categorical values unseen in training encoded as unseen (all-zero "
                      f"one-hot): {counted}", UserWarning, stacklevel=2)
    return samples


def splits_for(splits: DatasetSplits, encoder: Any) -> DatasetSplits:
    """The splits as the encoder reads them: rows made by another schema (a table read
    afresh for an encoder trained before) are encoded again by the encoder's own."""
    schema = getattr(encoder, "schema", None)
    parts = [part for part in (splits.train, splits.test) if part is not None]
    if schema is None or all(not isinstance(part, TableDataset) or part.schema == schema
                             for part in parts):
        return splits

    def again(part: Any) -> Any:
        if not isinstance(part, TableDataset) or part.frame is None or part.schema == schema:
            return part
        samples, _ = schema.encode(part.frame, f"{part.name} rows")
        return replace(part, x=samples, schema=schema)

    info = {**splits.info, "sample_shape": [schema.layout.width],
            "notes": [*splits.info.get("notes", []),
                      "rows encoded by the encoder's own schema (its training statistics)"]}
    return replace(splits, train=again(splits.train), test=again(splits.test), info=info)
