"""A user's folder of clips as train/test splits (the room's `read_folder`)."""

from __future__ import annotations

from pathlib import Path

from contrastlearn.data.arrays import DatasetSplits
from contrastlearn.modalities.audio.data import MIN_RMS, audio_splits
from contrastlearn.modalities.audio.features import SAMPLE_RATE
from contrastlearn.modalities.audio.files import read_audio_folder


def audio_folder_splits(path: str | Path, *, holdout_fraction: float = 0.2, seed: int = 0,
                        sample_rate: int = SAMPLE_RATE, clip_seconds: float = 1.0,
                        labels_file: str | None = None, skip_silent: bool = False,
                        min_rms: float = MIN_RMS, qbe_per_class: int | None = 10
                        ) -> DatasetSplits:
    """Read every clip of the folder (nothing is written there), then split: whole speakers
    held out when the labels CSV names them, else a stratified random part."""
    arrays = read_audio_folder(path, sample_rate=sample_rate, clip_seconds=clip_seconds,
                               labels_file=labels_file, min_rms=min_rms,
                               skip_silent=skip_silent)
    splits = audio_splits(
        arrays["x"], arrays["y"], name=Path(path).name, holdout_fraction=holdout_fraction,
        seed=seed, groups=arrays["groups"], lengths=arrays["lengths"], sample_rate=sample_rate,
        classes=arrays["classes"], group_names=arrays["group_names"], notes=arrays["notes"],
        min_rms=min_rms, qbe_per_class=qbe_per_class)
    splits.info["source"] = str(Path(path))
    return splits
