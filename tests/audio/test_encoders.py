"""audio_cnn and cab_kws: waveform and log-mel inputs agree, sizes, gradients, bad inputs."""

from __future__ import annotations

import pytest
import torch

import contrastlearn.modalities.audio.encoders  # noqa: F401  (registers the encoders)
from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.audio.features import normalize_utterance

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = ["audio_cnn", "cab_kws"]


def waveforms(batch=4, samples=4000, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(batch, 1, samples, generator=generator)


@pytest.mark.parametrize("name", NAMES)
def test_waveforms_and_their_log_mel_give_the_same_output(name):
    encoder = ENCODERS.build(name, width=8).eval()
    clips = waveforms()
    from_waveforms = encoder(clips)
    from_features = encoder(encoder.frontend(clips))
    assert from_waveforms.shape == (4, encoder.out_dim)
    torch.testing.assert_close(from_features, from_waveforms)


@pytest.mark.parametrize("name", NAMES)
def test_features_are_the_normalised_frontend_output(name):
    encoder = ENCODERS.build(name, width=8)
    clips = waveforms()
    torch.testing.assert_close(encoder.features(clips),
                               normalize_utterance(encoder.frontend(clips)))


@pytest.mark.parametrize("name", NAMES)
def test_output_is_invariant_to_the_gain(name):
    """Per-clip normalisation removes a volume change (up to the log floor)."""
    encoder = ENCODERS.build(name, width=8).eval()
    clips = waveforms()
    torch.testing.assert_close(encoder(0.25 * clips), encoder(clips), atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_forward_is_pool_of_bottleneck(name):
    encoder = ENCODERS.build(name, width=8, out_dim=24).eval()
    clips = waveforms()
    maps = encoder.bottleneck(clips)
    assert maps.dim() == 4 and maps.shape[:2] == (4, encoder.bottleneck_channels)
    assert encoder.out_dim == 24
    torch.testing.assert_close(encoder(clips), encoder.pool(maps))
    assert encoder.pool(maps).shape == (4, 24)


@pytest.mark.parametrize("name, width, expected_out", [("audio_cnn", 32, 128),
                                                      ("cab_kws", 32, 64),
                                                      ("audio_cnn", 16, 64)])
def test_out_dim_without_linear_is_the_bottleneck_width(name, width, expected_out):
    encoder = ENCODERS.build(name, width=width)
    assert encoder.out_dim == encoder.bottleneck_channels == expected_out
    assert encoder(waveforms(batch=2)).shape == (2, expected_out)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_at_defaults_is_small(name):
    count = sum(p.numel() for p in ENCODERS.build(name).parameters())
    assert 100_000 <= count <= 300_000


def test_the_two_encoders_have_similar_sizes():
    counts = [sum(p.numel() for p in ENCODERS.build(name).parameters()) for name in NAMES]
    assert max(counts) / min(counts) < 1.5


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_gets_a_gradient(name):
    encoder = ENCODERS.build(name, width=8, out_dim=16)
    clips = waveforms().requires_grad_(True)
    encoder(clips).square().sum().backward()
    for parameter_name, parameter in encoder.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, parameter_name
    assert clips.grad is not None and clips.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_frontend_settings_follow_the_encoder_arguments(name):
    encoder = ENCODERS.build(name, sample_rate=8000, n_mels=32, width=8)
    assert (encoder.frontend.sample_rate, encoder.frontend.n_mels) == (8000, 32)
    assert encoder.modality == "audio"
    assert encoder(waveforms(batch=2, samples=8000)).shape == (2, encoder.out_dim)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape, message", [
    ((2, 4000), "waveforms"),
    ((2, 2, 4000), "mono"),
    ((2, 1, 32, 26), "n_mels=32"),
    ((2, 3, 40, 26), "log-mel features"),
    ((2, 1, 1, 40, 26), "waveforms"),
])
def test_bad_input_shapes_are_refused(name, shape, message):
    encoder = ENCODERS.build(name, width=8)
    with pytest.raises(ValueError, match=message):
        encoder(torch.zeros(shape))


@pytest.mark.parametrize("name, kwargs", [("audio_cnn", {"width": 0}),
                                          ("audio_cnn", {"multipliers": []}),
                                          ("audio_cnn", {"out_dim": 0}),
                                          ("cab_kws", {"bottleneck_channels": 0}),
                                          ("cab_kws", {"dilations": [1, 0]})])
def test_bad_settings_are_refused(name, kwargs):
    with pytest.raises(ValueError, match="Encoder|AudioCNN|out_dim"):
        ENCODERS.build(name, **kwargs)
