"""Audio splits: waveform validation, speaker-disjoint holdout, the query-by-example extra,
and the room's hooks (MFCC raw baseline, view inputs)."""

import numpy as np
import pytest
import torch

from contrastlearn.data.arrays import DataError
from contrastlearn.modalities.audio.data import AudioDataset, audio_splits, group_holdout
from contrastlearn.modalities.audio.modality import (
    audio_encoder_inputs,
    audio_samples,
    audio_view_inputs,
    mfcc_features,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def tones(count: int, length: int = 4000, seed: int = 0) -> np.ndarray:
    generator = np.random.default_rng(seed)
    steps = np.arange(length) / 16000
    frequencies = generator.uniform(200, 2000, size=(count, 1))
    return (0.3 * np.sin(2 * np.pi * frequencies * steps)).astype(np.float32)


def test_speaker_holdout_keeps_speakers_whole():
    labels = np.tile(np.arange(4), 10)
    speakers = np.repeat(np.arange(10), 4)
    splits = audio_splits(tones(40), labels, name="clips", groups=speakers,
                          holdout_fraction=0.3, seed=0)
    train_speakers = set(speakers[splits.train.ids.numpy()])
    test_speakers = set(speakers[splits.test.ids.numpy()])
    assert not train_speakers & test_speakers
    assert len(test_speakers) == 3 and len(splits.test) == 12
    assert splits.info["test_speakers"] == sorted(test_speakers)
    assert splits.train.x.shape == (28, 1, 4000)
    assert splits.train.ids.unique().numel() == 28  # speakers are no positives
    assert "query_by_example" in splits.extras


def test_group_holdout_is_seeded_and_leaves_training_speakers():
    groups = torch.arange(5).repeat_interleave(3)
    kept, held = group_holdout(groups, 0.9, seed=3)
    assert len(kept) >= 3  # at least one speaker stays for training
    assert torch.equal(held, group_holdout(groups, 0.9, seed=3)[1])
    with pytest.raises(DataError, match="at least 2 speakers"):
        group_holdout(torch.zeros(4, dtype=torch.long), 0.5, 0)


def test_stereo_is_downmixed_and_int16_scaled_with_a_note():
    stereo = np.stack([tones(6), tones(6, seed=1)], axis=1)  # (6, 2, T)
    splits = audio_splits(stereo, np.arange(6) % 2, name="clips", holdout_fraction=0.5)
    assert splits.train.x.shape[1] == 1
    assert any("downmixed to mono" in note for note in splits.info["notes"])
    pcm = (tones(6) * 32767).astype(np.int16)
    scaled = audio_splits(pcm, np.arange(6) % 2, name="pcm", holdout_fraction=0.5)
    assert float(scaled.train.x.abs().max()) <= 1.0
    assert float(scaled.train.x.abs().max()) > 0.25


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 4000), np.float32), "silent clip"),
    (np.zeros((4, 2, 3, 4000), np.float32), "waveforms of shape"),
    (np.full((4, 4000), np.nan, np.float32), "NaN or Inf"),
    (np.ones((4, 4000), np.int32), "int32 integers"),
    (np.zeros((0, 4000), np.float32), "empty"),
])
def test_bad_waveforms_are_one_line_errors(bad, message):
    with pytest.raises(DataError, match=message):
        audio_splits(bad, [0, 1, 0, 1][:len(bad)] or None, name="clips")


def test_test_split_must_match_clip_length_and_lengths_are_checked():
    with pytest.raises(DataError, match="one clip length"):
        audio_splits(tones(4), [0, 1, 0, 1], tones(4, length=3000), [0, 1, 0, 1], name="c")
    with pytest.raises(DataError, match="lengths must be"):
        audio_splits(tones(4), [0, 1, 0, 1], lengths=[4000, 4001, 10, 10], name="c")


def test_subset_carries_lengths():
    data = AudioDataset(torch.randn(5, 1, 100), lengths=torch.tensor([10, 20, 30, 40, 50]))
    assert data.subset(torch.tensor([4, 1])).lengths.tolist() == [50, 20]
    assert AudioDataset(torch.randn(2, 1, 100)).lengths.tolist() == [100, 100]


def test_room_hooks():
    from contrastlearn.modalities.audio.encoders import AudioCNN

    waveforms = torch.from_numpy(tones(3, length=16000))[:, None]
    features, note = mfcc_features(waveforms)
    assert features.shape == (3, 13 * 101) and "MFCC" in note
    assert audio_samples(tones(2)).shape == (2, 1, 4000)
    encoder = AudioCNN(sample_rate=8000)
    inputs = audio_view_inputs((1, 16000), encoder)
    assert inputs["frontend"] is encoder.frontend and inputs["sample_rate"] == 8000
    assert audio_view_inputs((1, 16000), torch.nn.Linear(2, 2)) == {}
    splits = audio_splits(tones(4), [0, 1, 0, 1], name="c", sample_rate=8000,
                          holdout_fraction=0.5)
    assert audio_encoder_inputs(splits) == {"sample_rate": 8000}
