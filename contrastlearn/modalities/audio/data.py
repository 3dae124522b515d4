"""Audio data: mono waveforms as (n, 1, samples) float tensors of one fixed length.

Clips shorter than the fixed length are zero-padded at the end (silence) and their valid
lengths kept beside them, so the padding is known (the query-by-example baseline compares
only the valid frames). Recordings by one speaker (or one synthetic voice) share a *group*:
held-out splits keep groups whole, so test speakers are never heard in training. Groups only
decide the split; they never make two clips positives of each other (a speaker says many
words).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from contrastlearn.data.arrays import (
    ArrayDataset,
    DataError,
    DatasetSplits,
    as_labels,
    check_real_numbers,
    stratified_holdout,
)
from contrastlearn.modalities.audio.features import SAMPLE_RATE
from contrastlearn.modalities.audio.protocols import QueryByExampleProtocol

MIN_RMS = 1e-4
"""A clip whose root-mean-square amplitude is below this is silent (about -80 dBFS)."""


@dataclass
class AudioDataset(ArrayDataset):
    """Waveforms `x` (N, 1, T), labels, ids, and each clip's valid length in samples."""

    lengths: Tensor | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lengths is None:
            self.lengths = torch.full((len(self.x),), self.x.shape[-1], dtype=torch.int64)

    def subset(self, indices: Tensor) -> AudioDataset:
        return replace(self, x=self.x[indices], y=None if self.y is None else self.y[indices],
                       ids=self.ids[indices], lengths=self.lengths[indices])


def to_waveforms(array: Any, what: str, notes: list[str] | None = None) -> Tensor:
    """Validated float32 (N, 1, T) waveforms from (N, T) or (N, C, T) arrays: several channels
    are averaged to mono (and `notes` says so), 16-bit integer PCM is scaled to [-1, 1]."""
    if isinstance(array, Tensor):
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    check_real_numbers(array, what)
    if array.ndim == 2:
        array = array[:, None, :]
    if array.ndim != 3:
        raise DataError(f"{what} must be waveforms of shape (clips, samples) or (clips, "
                        f"channels, samples); got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[-1] == 0:
        raise DataError(f"{what} is empty (shape {array.shape})")
    if array.dtype == np.int16:
        array = array / 32768.0
    elif array.dtype.kind in "iu":
        raise DataError(f"{what} holds {array.dtype} integers; give float waveforms in [-1, 1] "
                        "or 16-bit PCM (int16)")
    waveforms = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if not bool(torch.isfinite(waveforms).all()):
        bad = int((~torch.isfinite(waveforms)).flatten(1).any(dim=1).sum())
        raise DataError(f"{what}: {bad} clip(s) hold NaN or Inf samples; fix or drop them")
    if waveforms.shape[1] > 1:
        if notes is not None:
            notes.append(f"{what}: {waveforms.shape[1]} channels downmixed to mono")
        waveforms = waveforms.mean(dim=1, keepdim=True)
    return waveforms


def _lengths(lengths: Any, waveforms: Tensor, what: str) -> Tensor:
    if lengths is None:
        return torch.full((len(waveforms),), waveforms.shape[-1], dtype=torch.int64)
    lengths = torch.as_tensor(np.asarray(lengths), dtype=torch.int64).reshape(-1)
    if len(lengths) != len(waveforms) or bool((lengths < 1).any()) or bool(
            (lengths > waveforms.shape[-1]).any()):
        raise DataError(f"{what}: lengths must be one value in [1, {waveforms.shape[-1]}] per "
                        f"clip ({len(waveforms)} clips)")
    return lengths


def check_not_silent(waveforms: Tensor, what: str, min_rms: float = MIN_RMS) -> None:
    """A DataError naming the silent clips (RMS below `min_rms`): they carry no word, and
    normalising them would only amplify noise."""
    rms = waveforms.flatten(1).square().mean(dim=1).sqrt()
    silent = torch.nonzero(rms < min_rms).flatten()
    if len(silent):
        listed = ", ".join(str(int(i)) for i in silent[:5])
        raise DataError(f"{what}: {len(silent)} silent clip(s) (RMS < {min_rms:g}), e.g. "
                        f"index {listed}; drop them (or lower data.options.min_rms)")


def group_holdout(groups: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(kept, held) indices with whole groups held out: groups in a seeded random order are
    held out until at least `fraction` of the clips are."""
    if not 0 < fraction < 1:
        raise DataError(f"holdout_fraction must be in (0, 1), got {fraction}")
    names, inverse, counts = torch.unique(groups, return_inverse=True, return_counts=True)
    if len(names) < 2:
        raise DataError("a split by speaker needs at least 2 speakers (groups); give more, "
                        "or no groups for a random split")
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed))
    needed = fraction * len(groups)
    taken = int(torch.searchsorted(counts[order].cumsum(0).double(), needed)) + 1
    held_groups = torch.zeros(len(names), dtype=torch.bool)
    held_groups[order[:min(taken, len(names) - 1)]] = True
    held = held_groups[inverse]
    return torch.nonzero(~held).flatten(), torch.nonzero(held).flatten()


def audio_splits(
    x: Any, y: Any = None, x_test: Any = None, y_test: Any = None, *, name: str,
    holdout_fraction: float = 0.2, seed: int = 0, groups: Any = None, lengths: Any = None,
    lengths_test: Any = None, sample_rate: int = SAMPLE_RATE, classes: Sequence[str] | None = None,
    group_names: Sequence[str] | None = None, notes: Sequence[str] = (),
    min_rms: float = MIN_RMS, qbe_per_class: int | None = 10,
) -> DatasetSplits:
    """Validate waveform arrays and make train/test splits. Without `x_test`, whole `groups`
    (speakers) are held out when given, else a stratified random part. The test split also
    gets a query-by-example protocol (`splits.extras["query_by_example"]`, at most
    `qbe_per_class` clips per word, with its MFCC + DTW baseline)."""
    notes = list(notes)
    waveforms = to_waveforms(x, f"{name}: x", notes)
    labels = as_labels(y, len(waveforms), f"{name}: y")
    valid = _lengths(lengths, waveforms, f"{name}: lengths")
    check_not_silent(waveforms, f"{name}: x", min_rms)
    full = AudioDataset(waveforms, labels, name=name, lengths=valid)
    info: dict[str, Any] = {"name": name, "sample_rate": int(sample_rate),
                            "clip_seconds": waveforms.shape[-1] / sample_rate}
    if x_test is not None:
        test_x = to_waveforms(x_test, f"{name}: x_test", notes)
        if test_x.shape[-1] != waveforms.shape[-1]:
            raise DataError(f"{name}: x_test clips have {test_x.shape[-1]} samples, x clips "
                            f"{waveforms.shape[-1]}; give both one clip length")
        check_not_silent(test_x, f"{name}: x_test", min_rms)
        test_y = as_labels(y_test, len(test_x), f"{name}: y_test")
        if (test_y is None) != (labels is None):
            raise DataError(f"{name}: give labels for both splits (y and y_test) or for neither")
        train = full
        test = AudioDataset(test_x, test_y, torch.arange(len(test_x)) + len(full), name=name,
                            lengths=_lengths(lengths_test, test_x, f"{name}: lengths_test"))
        info["test_split"] = "test"
    elif groups is not None:
        group_ids = torch.as_tensor(np.unique(np.asarray(groups), return_inverse=True)[1]
                                    .reshape(-1))
        if len(group_ids) != len(full):
            raise DataError(f"{name}: groups has {len(group_ids)} entries for {len(full)} clips")
        kept, held = group_holdout(group_ids, holdout_fraction, seed)
        train, test = full.subset(kept), full.subset(held)
        info["test_split"] = f"holdout_speakers_{holdout_fraction:g}_seed{seed}"
        test_groups = torch.unique(group_ids[held]).tolist()
        info["num_speakers"] = int(torch.unique(group_ids).numel())
        info["test_speakers"] = ([str(group_names[g]) for g in test_groups]
                                 if group_names is not None else test_groups)
    else:
        kept, held = stratified_holdout(labels, len(full), holdout_fraction, seed)
        train, test = full.subset(kept), full.subset(held)
        info["test_split"] = f"holdout_{holdout_fraction:g}_seed{seed}"
    info.update({"num_train": len(train), "num_test": len(test),
                 "sample_shape": list(waveforms.shape[1:]),
                 "num_classes": None if labels is None else int(labels.max()) + 1,
                 "padded_clips": int((full.lengths < waveforms.shape[-1]).sum())})
    if classes is not None:
        info["classes"] = [str(c) for c in classes]
    if notes:
        info["notes"] = notes
    splits = DatasetSplits(train, test, "audio", info)
    repeated = test.y is not None and bool((torch.bincount(test.y) >= 2).any())
    if qbe_per_class is not None and test.y is not None and not repeated:
        info["query_by_example"] = "left out: no word occurs twice among the test clips"
    if qbe_per_class is not None and repeated:
        splits.extras["query_by_example"] = QueryByExampleProtocol(
            test.x, test.y, test.lengths, sample_rate=sample_rate, per_class=qbe_per_class)
    return splits
