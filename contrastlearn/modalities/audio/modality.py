"""The audio room's `Modality`: (n, 1, samples) mono waveforms of one length; folders of
WAV/FLAC clips; spectrograms of views in the report; MFCC features as the raw baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from contrastlearn.core.registry import MODALITIES
from contrastlearn.data.arrays import DatasetSplits
from contrastlearn.data.modality import Modality
from contrastlearn.modalities.audio.data import audio_splits, to_waveforms
from contrastlearn.modalities.audio.features import MFCC, SAMPLE_RATE
from contrastlearn.modalities.audio.files import AUDIO_SUFFIXES, read_audio_file
from contrastlearn.modalities.audio.folders import audio_folder_splits
from contrastlearn.modalities.audio.options import AudioOptions


def audio_samples(inputs: Any, scale: float | None = None) -> Tensor:
    """Validated float32 (N, 1, T) waveforms to embed (several channels averaged to mono);
    `scale` is not used: waveforms are read in [-1, 1] and never rescaled."""
    return to_waveforms(inputs, "audio samples")


def read_clip_file(path: Path, sample_rate: int = SAMPLE_RATE) -> dict[str, Any]:
    """One WAV/FLAC/OGG file as a batch of one clip (to embed it: `contrastlearn embed RUN
    clip.wav`), mono at `sample_rate`."""
    waveform, _ = read_audio_file(path, sample_rate=sample_rate)
    return {"x": waveform[None, None, :]}


def audio_encoder_inputs(splits: DatasetSplits) -> dict[str, Any]:
    """The encoder's front end reads clips at the data's sample rate."""
    return {"sample_rate": int(splits.info.get("sample_rate", SAMPLE_RATE))}


def audio_view_inputs(sample_shape: tuple[int, ...], encoder: Any) -> dict[str, Any]:
    """Views that end in the log-mel domain (SpecAugment) use the encoder's own front end."""
    frontend = getattr(encoder, "frontend", None)
    if frontend is None:
        return {}
    return {"frontend": frontend, "sample_rate": int(frontend.sample_rate)}


def mfcc_features(waveforms: Tensor) -> tuple[Tensor, str]:
    """The raw baseline of audio: 13 MFCC per 10-ms frame at 16 kHz, flattened."""
    transform = MFCC()
    with torch.no_grad():  # in chunks: one STFT of every clip at once is gigabytes
        features = torch.cat([transform(chunk.float()) for chunk in waveforms.split(512)])
    note = f"MFCC ({features.shape[-2]} x {features.shape[-1]} frames), flattened"
    return features.flatten(1), note


AUDIO = MODALITIES.register("audio")(Modality(
    name="audio",
    description="audio: (n, samples) or (n, channels, samples) waveforms, .npz files, folders "
                "of WAV/FLAC clips (one sub-folder per class, or labels.csv)",
    split_arrays=audio_splits,
    to_samples=audio_samples,
    options=AudioOptions,
    file_readers={suffix: read_clip_file for suffix in AUDIO_SUFFIXES},
    read_folder=audio_folder_splits,
    encoder_inputs=audio_encoder_inputs,
    view_inputs=audio_view_inputs,
    preview="audio",
    raw_features=mfcc_features,
    free_axes=(2,),
    default_recipe="kws-simclr",
    protocols=("linear_probe", "knn"),
    extra="audio",
))
