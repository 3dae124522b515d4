"""Query by example on held-out clips: the MFCC + DTW baseline and the encoder's mAP."""

import math

import pytest
import torch

from contrastlearn.modalities.audio.protocols import QueryByExampleProtocol, mfcc_frames

pytestmark = pytest.mark.usefixtures("one_thread")


def chirps(labels: torch.Tensor, length: int = 8000, seed: int = 0) -> torch.Tensor:
    """Rising (label 0) or falling (label 1) chirps at random speeds: DTW tells them apart."""
    generator = torch.Generator().manual_seed(seed)
    clips = []
    for label in labels.tolist():
        duration = int(length * (0.5 + 0.4 * float(torch.rand(1, generator=generator))))
        t = torch.arange(duration) / 16000
        sweep = 300 + 2500 * t / t[-1]
        if label == 1:
            sweep = sweep.flip(0)
        phase = 2 * math.pi * torch.cumsum(sweep, 0) / 16000
        clip = torch.zeros(length)
        clip[:duration] = 0.5 * torch.sin(phase)
        clips.append(clip)
    return torch.stack(clips)[:, None]


def test_mfcc_frames_mark_padding_and_normalise():
    clips = chirps(torch.tensor([0, 1]))
    lengths = torch.tensor([4000, 8000])
    frames = mfcc_frames(clips, lengths, 16000)
    assert frames.shape == (2, 13, 51)
    assert torch.isnan(frames[0, :, 26:]).all() and not torch.isnan(frames[0, :, :26]).any()
    valid = frames[1]
    assert torch.allclose(valid.mean(dim=-1), torch.zeros(13), atol=1e-4)


def test_dtw_baseline_separates_chirps_and_encoder_result_is_scored():
    labels = torch.tensor([0, 1] * 6)
    clips = chirps(labels)
    lengths = (clips.squeeze(1) != 0).cumsum(-1).argmax(-1) + 1
    protocol = QueryByExampleProtocol(clips, labels, lengths, sample_rate=16000, per_class=5)
    assert len(protocol.labels) == 10
    baseline = protocol.baseline()
    assert baseline.value > 0.9 and baseline.settings["representation"] == "MFCC + DTW"
    assert protocol.baseline() is baseline  # computed once

    class Energy(torch.nn.Module):  # a feature that cannot tell rising from falling
        out_dim = 2

        def forward(self, x):
            return torch.stack([x.square().mean(dim=(1, 2)), torch.ones(len(x))], dim=1)

    learned, again = protocol.evaluate(Energy())
    assert again is baseline
    assert learned.protocol == "query_by_example" and learned.value < baseline.value
