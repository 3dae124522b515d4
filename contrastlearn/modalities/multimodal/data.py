"""Paired records: a dict modality -> column (arrays or lists), one entry per record, split into
train/test here and handed column by column to each room's own splitter (through the registry),
so every room validates and scales its own data as it always does."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from contrastlearn.core.registry import MODALITIES
from contrastlearn.data.arrays import (
    ArrayDataset,
    DataError,
    DatasetSplits,
    as_labels,
    stratified_holdout,
)
from contrastlearn.modalities.multimodal.batch import MultiBatch

MULTIMODAL = "multimodal"


@dataclass
class MultimodalDataset(ArrayDataset):
    """Records whose modality `parts` are the rooms' own datasets (row i of each is record i).
    `x` holds the record numbers (it gives the length; samples live in `parts`)."""

    parts: dict[str, Any] = field(default_factory=dict)

    @property
    def modalities(self) -> list[str]:
        return list(self.parts)

    def batch_x(self, indices: Tensor) -> MultiBatch:
        return MultiBatch({name: part.batch_x(indices) for name, part in self.parts.items()})

    def subset(self, indices: Tensor) -> MultimodalDataset:
        return replace(self, x=self.x[indices], y=None if self.y is None else self.y[indices],
                       ids=self.ids[indices],
                       parts={name: part.subset(indices) for name, part in self.parts.items()})

    def raw_inputs(self) -> MultiBatch:
        """Every record at once, for the rooms' raw-feature baselines."""
        return self.batch_x(torch.arange(len(self)))

    def with_parts(self, parts: dict[str, Any]) -> MultimodalDataset:
        return replace(self, parts=parts)

    def embed_with(self, encoder: Any, *, batch_size: int = 512,
                   device: str | torch.device = "cpu") -> Tensor:
        """The encoder's fused representation of every record (see `MultimodalEncoder`)."""
        return embed_records(self, encoder, batch_size=batch_size, device=device)

    def modality_embeddings(self, encoder: Any, name: str, *, batch_size: int = 512,
                            device: str | torch.device = "cpu") -> Tensor:
        """Every record's embedding in the shared space from modality `name` alone."""
        return embed_records(self, encoder, batch_size=batch_size, device=device, only=name)


@torch.no_grad()
def embed_records(data: MultimodalDataset, encoder: Any, *, batch_size: int,
                  device: str | torch.device, only: str | None = None) -> Tensor:
    """Embeddings of every record in batches, in eval mode (the fused vector, or one
    modality's shared-space embedding with `only`)."""
    was_training = encoder.training
    encoder.eval()
    outputs = []
    try:
        for start in range(0, len(data), batch_size):
            indices = torch.arange(start, min(start + batch_size, len(data)))
            batch = data.batch_x(indices).to(device)
            out = encoder(batch) if only is None else encoder.embed(only, batch.parts[only])
            outputs.append(out.float().cpu())
    finally:
        encoder.train(was_training)
    return torch.cat(outputs)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float):
        return bool(np.isnan(value))
    return False


def _column_length(column: Any, name: str) -> int:
    try:
        return len(column)
    except TypeError:
        raise DataError(f"modality {name!r} must be an array or a list with one entry per "
                        f"record; got {type(column).__name__}") from None


def _missing_rows(column: Any) -> np.ndarray:
    """Which records have no value in this column (None, blank text, an all-NaN row)."""
    if isinstance(column, (np.ndarray, Tensor)) and np.asarray(column).dtype != object:
        array = np.asarray(column)
        if not np.issubdtype(array.dtype, np.floating):
            return np.zeros(len(array), dtype=bool)
        return np.isnan(array.reshape(len(array), -1)).all(axis=1)
    return np.array([_is_missing(value) for value in column], dtype=bool)


def _take(column: Any, rows: np.ndarray) -> Any:
    if isinstance(column, (np.ndarray, Tensor)):
        return column[torch.as_tensor(rows) if isinstance(column, Tensor) else rows]
    return [column[index] for index in rows.tolist()]


def check_records(columns: dict[str, Any], labels: Any, what: str,
                  missing: str = "error") -> tuple[dict[str, Any], Any, int]:
    """Columns of equal length, of registered rooms, at least two; records missing a modality
    are dropped (`missing="skip"`, counted) or refused (`"error"`). Returns the kept columns,
    labels and the number skipped."""
    if not isinstance(columns, dict) or len(columns) < 2:
        given = list(columns) if isinstance(columns, dict) else type(columns).__name__
        raise DataError(f"{what}: multimodal data is a dict of at least two modalities -> "
                        f"columns (e.g. {{'image': images, 'text': captions}}); got {given}")
    unknown = [name for name in columns if name not in MODALITIES.names()]
    if unknown:
        raise DataError(f"{what}: {unknown} are not modalities; use room names: "
                        f"{', '.join(n for n in MODALITIES.names() if n != MULTIMODAL)}")
    if MULTIMODAL in columns:
        raise DataError(f"{what}: a multimodal record cannot hold a multimodal column")
    lengths = {name: _column_length(column, name) for name, column in columns.items()}
    if labels is not None:
        lengths["labels"] = _column_length(labels, "labels")
    if len(set(lengths.values())) > 1:
        counts = ", ".join(f"{name} {count}" for name, count in lengths.items())
        raise DataError(f"{what}: the modalities have different record counts ({counts}); "
                        "give one entry per record in every modality (row i of each is one "
                        "record)")
    absent = np.zeros(next(iter(lengths.values())), dtype=bool)
    for name, column in columns.items():
        rows = _missing_rows(column)
        if rows.any() and missing == "error":
            first = int(rows.nonzero()[0][0])
            raise DataError(f"{what}: record {first} has no {name} ({int(rows.sum())} records "
                            f"miss one); fill them in, or set data.options.missing: skip to "
                            "leave such records out")
        absent |= rows
    if not absent.any():
        return columns, labels, 0
    kept = (~absent).nonzero()[0]
    if len(kept) == 0:
        raise DataError(f"{what}: every record misses a modality; nothing is left to train on")
    columns = {name: _take(column, kept) for name, column in columns.items()}
    labels = None if labels is None else _take(labels, kept)
    return columns, labels, int(absent.sum())


def _room_splits(name: str, train: Any, test: Any, y: Any, y_test: Any, *, dataset: str,
                 seed: int) -> DatasetSplits:
    """One modality's column split by its own room's splitter (given both splits, so no room
    re-splits); the rows must come back in order."""
    room = MODALITIES.get(name)
    splits = room.split_arrays(train, y, test, y_test, name=f"{dataset}: {name}",
                               holdout_fraction=0.2, seed=seed)
    expected = (_column_length(train, name), _column_length(test, name))
    got = (len(splits.train), 0 if splits.test is None else len(splits.test))
    if got != expected:
        raise DataError(f"{dataset}: the {name} room kept {got} of {expected} train/test rows; "
                        "records must stay aligned: remove the rows it refuses (see its notes)")
    return splits


ITEMS = ("text", "record")


def _record_ids(parts: dict[str, Any], count: int, items: str) -> Tensor:
    """With `items="text"`, records with an identical text are one item (the text cannot tell
    them apart, so they are never each other's negatives); with "record" (or no text), every
    record is its own item (when a shared text does not make records the same thing)."""
    ids = getattr(parts.get("text"), "ids", None) if items == "text" else None
    return torch.arange(count) if ids is None else torch.as_tensor(ids, dtype=torch.int64)


def multimodal_splits(
    x: dict[str, Any] | None = None, y: Any = None, x_test: dict[str, Any] | None = None,
    y_test: Any = None, *, name: str = "records", holdout_fraction: float = 0.2, seed: int = 0,
    missing: str = "error", items: str = "text", class_names: list[str] | None = None,
    class_prompts: dict[str, list[str]] | None = None, notes: list[str] | None = None,
    **columns: Any,
) -> DatasetSplits:
    """Paired records -> splits whose train/test are `MultimodalDataset`s. Records come as `x`
    (modality -> column) or as keyword columns named by modality (a `.npz` with `image` and
    `text` arrays); without `x_test`, a stratified seeded `holdout_fraction` is held out.
    `class_names`/`class_prompts` (class name -> prompt texts) enable zero-shot evaluation;
    `items` says which records are one item (see `_record_ids`)."""
    if x is None:
        x = {key: value for key, value in columns.items() if not key.endswith("_test")}
        tests = {key[:-5]: value for key, value in columns.items() if key.endswith("_test")}
        x_test = x_test if x_test is not None or not tests else tests
    elif columns:
        raise DataError(f"{name}: give the records once, as x or as columns, not both "
                        f"(got x and {sorted(columns)})")
    if items not in ITEMS:
        raise DataError(f"{name}: data.options.items must be one of {ITEMS}; got {items!r}")
    if missing not in ("error", "skip"):
        raise DataError(f"{name}: data.options.missing must be 'error' or 'skip'; got "
                        f"{missing!r}")
    x, y, skipped = check_records(x, y, f"{name}: x", missing)
    if x_test is not None:
        if set(x_test) != set(x):
            raise DataError(f"{name}: the test records have modalities {sorted(x_test)}, the "
                            f"training records {sorted(x)}; give the same in both")
        x_test, y_test, skipped_test = check_records(
            {key: x_test[key] for key in x}, y_test, f"{name}: x_test", missing)
        skipped += skipped_test
        train_x, test_x, train_y, test_y, test_split = x, x_test, y, y_test, "test"
    else:
        count = _column_length(next(iter(x.values())), "records")
        labels = as_labels(y, count, f"{name}: y")
        kept, held = stratified_holdout(labels, count, holdout_fraction, seed)
        if len(held) == 0 or len(kept) == 0:
            raise DataError(f"{name}: holding out {holdout_fraction:g} of {count} records leaves "
                            "an empty split; give more records or another holdout_fraction")
        train_x = {key: _take(column, kept.numpy()) for key, column in x.items()}
        test_x = {key: _take(column, held.numpy()) for key, column in x.items()}
        train_y = None if labels is None else labels[kept]
        test_y = None if labels is None else labels[held]
        test_split = f"holdout_{holdout_fraction:g}_seed{seed}"
    rooms = {key: _room_splits(key, train_x[key], test_x[key], train_y, test_y,
                               dataset=name, seed=seed) for key in train_x}
    train = _dataset({key: splits.train for key, splits in rooms.items()}, train_y, name, items)
    test = _dataset({key: splits.test for key, splits in rooms.items()}, test_y, f"{name} test",
                    items)
    test.ids = test.ids + int(train.ids.max()) + 1
    info = {
        "name": name, "num_train": len(train), "num_test": len(test), "test_split": test_split,
        "modalities": {key: splits.info for key, splits in rooms.items()},
        "skipped_records": skipped, "items": items, "notes": list(notes or []),
    }
    scales = {key: splits.info["input_scale"] for key, splits in rooms.items()
              if splits.info.get("input_scale") is not None}
    if scales:
        info["input_scale"] = scales  # each room's, so records to embed are scaled alike
    if skipped:
        info["notes"].append(f"{skipped} record(s) missing a modality were left out")
    if class_names is not None:
        info["classes"] = list(class_names)
    extras: dict[str, Any] = {}
    if class_prompts is not None:
        extras["class_prompts"] = check_prompts(class_prompts, class_names, test.y, name)
    return DatasetSplits(train, test, MULTIMODAL, info, extras)


def _dataset(parts: dict[str, Any], labels: Any, name: str, items: str) -> MultimodalDataset:
    count = len(next(iter(parts.values())))
    y = None if labels is None else as_labels(labels, count, f"{name}: y")
    return MultimodalDataset(torch.arange(count, dtype=torch.float32), y,
                             _record_ids(parts, count, items), name, parts=parts)


def check_prompts(class_prompts: dict[str, list[str]], class_names: list[str] | None,
                  labels: Tensor | None, name: str) -> ClassPrompts:
    """Prompt texts for every class the labels use, in class order."""
    if class_names is None:
        raise DataError(f"{name}: class_prompts need class_names (label i is class_names[i])")
    lacking = [label for label in class_names if not class_prompts.get(label)]
    if lacking:
        raise DataError(f"{name}: no class prompts for {lacking}; give at least one prompt text "
                        "per class name")
    if labels is not None and len(labels) and int(labels.max()) >= len(class_names):
        raise DataError(f"{name}: label {int(labels.max())} has no class name (there are "
                        f"{len(class_names)}); give a name and prompts for every label")
    return ClassPrompts([list(class_prompts[label]) for label in class_names], list(class_names))


@dataclass
class ClassPrompts:
    """Prompt texts per class (class i is `names[i]`), for zero-shot classification."""

    prompts: list[list[str]]
    names: list[str]
