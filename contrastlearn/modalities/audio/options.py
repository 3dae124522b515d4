"""`data.options` of an audio recipe."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from contrastlearn.modalities.audio.data import MIN_RMS
from contrastlearn.modalities.audio.features import SAMPLE_RATE


class AudioOptions(BaseModel):
    """How clips are read and split. Folders: one sub-folder per class, or a flat folder with a
    CSV of labels (`file,label[,speaker]`)."""

    model_config = ConfigDict(extra="forbid")
    sample_rate: int = Field(SAMPLE_RATE, gt=0)
    """Clips at another rate are resampled to this one (and the data summary says so)."""
    clip_seconds: float = Field(1.0, gt=0)
    """Every clip is cut or zero-padded at the end to this duration."""
    labels_file: str | None = None
    """CSV of labels for a flat folder (default: labels.csv inside it)."""
    skip_silent: bool = False
    """Skip silent files of a folder (and say how many) instead of stopping with an error."""
    min_rms: float = Field(MIN_RMS, gt=0)
    """Clips quieter than this root-mean-square amplitude are silent."""
    qbe_per_class: int | None = Field(10, ge=2)
    """Held-out clips per word in the query-by-example protocol (None: all of them)."""
    words: list[str] | None = None
    """spoken-words only: build the set with these keywords (default: all 35)."""
    voices: int | list[str] | None = None
    """spoken-words only: these espeak-ng voices, or this many of the default 48 (default:
    all)."""
