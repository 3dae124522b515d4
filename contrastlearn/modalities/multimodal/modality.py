"""The multimodal room's `Modality`: paired records of two or more other rooms. Everything
about one modality's data (validation, scaling, tokenising, views, previews, raw features) is
asked of that room's own `Modality` through the registry."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from contrastlearn.core.registry import MODALITIES
from contrastlearn.data.arrays import ArrayDataset, DataError, DatasetSplits
from contrastlearn.data.modality import Modality
from contrastlearn.modalities.multimodal.batch import MultiBatch
from contrastlearn.modalities.multimodal.data import (
    MULTIMODAL,
    MultimodalDataset,
    check_records,
    multimodal_splits,
)
from contrastlearn.modalities.multimodal.options import MultimodalOptions
from contrastlearn.modalities.multimodal.protocols import CrossModalProtocols
from contrastlearn.modalities.multimodal.records import RECORD_SUFFIXES, read_records
from contrastlearn.report.preview import write_views_preview


def room_splits(splits: DatasetSplits) -> dict[str, DatasetSplits]:
    """Each modality's own train/test splits, as its room made them."""
    rooms = splits.info.get("modalities", {})
    return {name: DatasetSplits(part, None if splits.test is None else splits.test.parts[name],
                                name, dict(rooms.get(name, {})))
            for name, part in splits.train.parts.items()}


def encoder_inputs(splits: DatasetSplits) -> dict[str, Any]:
    """Each room decides its own encoder's inputs from its own splits."""
    return {"modality_splits": room_splits(splits)}


def prepare_splits(splits: DatasetSplits, encoder: Any) -> DatasetSplits:
    """Each modality's data as its room's encoder reads it (texts -> token ids)."""
    train_parts, test_parts = {}, {}
    for name, own in room_splits(splits).items():
        hook = MODALITIES.get(name).prepare_splits
        prepared = own if hook is None else hook(own, encoder.encoders[name])
        train_parts[name], test_parts[name] = prepared.train, prepared.test
    train = splits.train.with_parts(train_parts)
    test = None if splits.test is None else splits.test.with_parts(test_parts)
    extras = dict(splits.extras)
    if test is not None:
        extras["cross_modal"] = CrossModalProtocols(train, test, extras.get("class_prompts"))
    return replace(splits, train=train, test=test, extras=extras)


def to_samples(inputs: Any, scale: dict[str, Any] | None = None) -> dict[str, Any]:
    """Records to embed: a dict modality -> column (or a records file's arrays), each
    validated and scaled by its own room as its training data were (`scale`: each room's)."""
    columns = inputs.get("x", inputs) if isinstance(inputs, dict) else inputs
    columns, _, _ = check_records(columns, None, "records to embed")
    scales = scale if isinstance(scale, dict) else {}
    return {name: MODALITIES.get(name).to_samples(column, scales.get(name))
            for name, column in columns.items()}


def prepare_samples(samples: dict[str, Any], encoder: Any) -> MultimodalDataset:
    """Validated records as the encoder reads them."""
    parts = {}
    for name, column in samples.items():
        hook = MODALITIES.get(name).prepare_samples
        prepared = column if hook is None else hook(column, encoder.encoders[name])
        parts[name] = prepared if hasattr(prepared, "batch_x") else ArrayDataset(prepared)
    count = len(next(iter(parts.values())))
    return MultimodalDataset(torch.arange(count, dtype=torch.float32), None,
                             torch.arange(count), "records", parts=parts)


def view_inputs(sample_shape: tuple[int, ...], encoder: Any) -> dict[str, Any]:
    """What each room offers its own view factories (an image size, a tokenizer)."""
    if encoder is None:
        return {}
    offered = {}
    for name, room_encoder in encoder.encoders.items():
        hook = MODALITIES.get(name).view_inputs
        if hook is not None:
            offered[name] = hook(tuple(encoder.sample_shapes.get(name, ())), room_encoder)
    return {"room_view_inputs": offered}


def read_records_file(path: Path, modalities: list[str] | None = None,
                      label_field: str = "label", missing: str = "error",
                      items: str = "text") -> dict[str, Any]:
    """A JSONL/CSV records file as the arrays the splitter takes (with the recipe's choices
    for records missing a modality and for which records are one item)."""
    return {**read_records(path, modalities, label_field), "missing": missing, "items": items}


def raw_features(records: MultiBatch) -> tuple[Tensor, str]:
    """The raw baseline: each room's own raw features of its modality, concatenated."""
    features, notes = [], []
    for name, part in records.parts.items():
        hook = MODALITIES.get(name).raw_features
        if hook is None:
            if not isinstance(part, Tensor) or part.is_floating_point() is False:
                continue  # token ids are no features
            made, note = part.flatten(1).float(), "flattened"
        else:
            made, note = hook(part)
        features.append(made.float())
        notes.append(f"{name}: {note}")
    if not features:
        raise DataError("no modality of these records has raw features")
    return torch.cat(features, dim=1), "; ".join(notes)


def write_preview(views: Any, samples: MultiBatch, plots_dir: Path, *, encoder: Any,
                  seed: int) -> None:
    """Each modality's views drawn by its own room: plots/views.png for the first modality
    with a picture style, views_<modality>.png for the others, text rooms' own files."""
    named_first = False
    for name, policy in getattr(views, "policies", {}).items():
        preview = MODALITIES.get(name).preview
        part = samples.parts[name]
        if callable(preview):
            preview(policy, part, plots_dir, encoder=encoder.encoders[name], seed=seed)
            continue
        file = "views.png" if not named_first else f"views_{name}.png"
        named_first = True
        write_views_preview(policy, part, plots_dir / file, style=preview, seed=seed)


MULTIMODAL_ROOM = MODALITIES.register(MULTIMODAL)(Modality(
    name=MULTIMODAL,
    description="multimodal: paired records of two or more rooms (dicts of modality -> "
                "column, .npz with a column per modality, JSONL/CSV records with file paths)",
    split_arrays=multimodal_splits,
    to_samples=to_samples,
    options=MultimodalOptions,
    file_readers={suffix: read_records_file for suffix in RECORD_SUFFIXES},
    accepts_objects=True,
    encoder_inputs=encoder_inputs,
    prepare_splits=prepare_splits,
    prepare_samples=prepare_samples,
    view_inputs=view_inputs,
    preview=write_preview,
    raw_features=raw_features,
    default_recipe="clip-fashion",
    protocols=("linear_probe", "knn"),
))
