"""`data.options` of a multimodal recipe."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class MultimodalOptions(BaseModel):
    """`missing`: a record that lacks one modality is an error (default) or is left out
    ("skip", counted in the run's notes); `modalities`: the fields of a records file to use, in
    order (default: every field named by a room); `label_field`: the field of class labels."""

    model_config = ConfigDict(extra="forbid")
    missing: Literal["error", "skip"] = "error"
    modalities: list[str] | None = None
    label_field: str = "label"
