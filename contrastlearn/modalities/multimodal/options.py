"""`data.options` of a multimodal recipe."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class MultimodalOptions(BaseModel):
    """`missing`: a record that lacks one modality is an error (default) or is left out
    ("skip", counted in the run's notes); `modalities`: the fields of a records file to use, in
    order (default: every field named by a room); `label_field`: the field of class labels."""

    model_config = ConfigDict(extra="forbid")
    missing: Literal["error", "skip"] = "error"
    modalities: list[str] | None = None
    label_field: str = "label"
    items: Literal["text", "record"] | None = None
    """Which records are one item (never each other's negatives): those with an identical
    text ("text", the default), or each record alone ("record")."""
    relation: Literal["same", "sum"] | None = None
    """words-three-ways: one word in all three modalities (same) or speech = text + picture
    (sum, information only in the joint)."""
    pairings: int | None = Field(None, ge=1)
    """words-three-ways with relation sum: how many (text, picture) pairings per clip."""
    train_size: int | None = Field(None, ge=1)
    """fashion-captions: a stratified subset of this many training records."""
    test_size: int | None = Field(None, ge=1)
    """fashion-captions: a stratified subset of this many test records."""
