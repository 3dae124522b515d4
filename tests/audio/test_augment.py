"""Audio views: property tests of every op (shape, dtype, seeded determinism, identity at zero
strength) and behaviour checks measured on synthetic clips (SNRs, spectra, frequencies,
shifts, decay tails, masks)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile
import torch
from torch import nn

from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.audio.augment import (
    AdditiveNoise,
    BackgroundNoise,
    BandPass,
    BatchMixing,
    FrequencyMasking,
    Gain,
    PitchShift,
    Reverberation,
    SpeedChange,
    TimeMasking,
    TimeShift,
    ToLogMel,
    audio_pipeline,
    audio_views,
    kws_speed_volume_views,
    read_background_folder,
)

pytestmark = pytest.mark.usefixtures("one_thread")

SR = 16000
INF = math.inf


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tones(frequencies=(300.0, 440.0, 700.0, 1000.0), dtype=torch.float32,
          padded: bool = True) -> torch.Tensor:
    """1-s clips at 16 kHz: a sine tone (amplitude 0.5) plus a little noise each; with
    `padded`, the last clip ends at 0.7 s and is zero-padded after."""
    time = torch.arange(SR, dtype=torch.float64) / SR
    waves = torch.stack([0.5 * torch.sin(2 * math.pi * f * time) for f in frequencies])
    waves = waves + 0.01 * torch.randn(waves.shape, generator=generator(7), dtype=torch.float64)
    if padded:
        waves[-1, int(0.7 * SR):] = 0
    return waves[:, None].to(dtype)


def bank() -> torch.Tensor:
    """3 background clips shorter than a clip (they loop)."""
    return torch.randn(3, 4000, generator=generator(3))


def features(batch: int = 4) -> torch.Tensor:
    return torch.randn(batch, 1, 40, 101, generator=generator(5)) - 4


class StandInLogMel(nn.Module):
    """Stand-in frontend (B, 1, T) -> (B, 1, 16, frames): log power of an STFT pooled into 16
    bands, enough to test the feature end of a pipeline."""

    n_mels = 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spectrum = torch.stft(x[:, 0], 400, 160, window=torch.hann_window(400),
                              return_complex=True).abs().square()
        pooled = spectrum[:, :192].reshape(x.shape[0], 16, 12, -1).mean(dim=2)
        return torch.log(pooled + 1e-6)[:, None]


# name -> (kwargs at strength, kwargs at zero strength, whether it takes features)
OPS = {
    "speed_change": ({"max_change": 0.1}, {"max_change": 0.0}, False),
    "gain": ({"max_db": 6.0}, {"max_db": 0.0}, False),
    "time_shift": ({"max_fraction": 0.1}, {"max_fraction": 0.0}, False),
    "additive_noise": ({"snr_db": (5.0, 30.0)}, {"snr_db": (INF, INF)}, False),
    "background_noise": ({"source": bank()}, {"source": bank(), "snr_db": (INF, INF)}, False),
    "reverberation": ({"rt60": (0.1, 0.6)}, {"rt60": (0.0, 0.0)}, False),
    "pitch_shift": ({"max_semitones": 2.0}, {"max_semitones": 0.0}, False),
    "band_pass": ({}, {"low_hz": (0.0, 0.0), "high_hz": (8000.0, 8000.0)}, False),
    "batch_mixing": ({"snr_db": (10.0, 30.0)}, {"snr_db": (INF, INF)}, False),
    "frequency_masking": ({"count": 2, "max_width": 8}, {"count": 2, "max_width": 0}, True),
    "time_masking": ({"count": 2, "max_width": 10}, {"count": 0, "max_width": 10}, True),
}


def build(name: str, zero: bool = False):
    strong, weak, _ = OPS[name]
    return AUGMENTATIONS.get(name)(**(weak if zero else strong))


def batch_for(name: str, dtype=torch.float32) -> torch.Tensor:
    return features().to(dtype) if OPS[name][2] else tones(dtype=dtype)


def octave_slope_db(noise: torch.Tensor) -> float:
    """Least-squares slope (dB per octave) of the mean power per bin in octaves 125 Hz-4 kHz."""
    power = torch.fft.rfft(noise.double(), dim=-1).abs().square().mean(dim=(0, 1))
    frequencies = torch.fft.rfftfreq(noise.shape[-1], 1 / SR)
    edges = [125 * 2 ** k for k in range(6)]
    levels = [10 * math.log10(float(power[(frequencies >= lo) & (frequencies < 2 * lo)].mean()))
              for lo in edges[:-1]]
    return float(np.polyfit(np.arange(len(levels)), levels, 1)[0])


def measured_snr_db(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """(B,) SNR of the clip to what was added, both powers over non-zero samples (an
    independent computation of the definition AdditiveNoise documents)."""
    added = (out - x).double()[:, 0]
    clean = x.double()[:, 0]
    signal = torch.stack([row[row != 0].square().mean() for row in clean])
    noise = torch.stack([row[row != 0].square().mean() for row in added])
    return 10 * torch.log10(signal / noise)


# --- properties of every op -------------------------------------------------------------


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_op_keeps_shape_and_dtype(name, dtype):
    x = batch_for(name, dtype)
    out = build(name)(x, generator())
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert bool(torch.isfinite(out.float()).all())


@pytest.mark.parametrize("name", OPS)
def test_op_is_deterministic_under_a_seed(name):
    x, op = batch_for(name), build(name)
    first, again, other = op(x, generator(0)), op(x, generator(0)), op(x, generator(1))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert not torch.equal(first, x)


@pytest.mark.parametrize("name", OPS)
def test_op_is_the_identity_at_zero_strength(name):
    x = batch_for(name)
    assert torch.equal(build(name, zero=True)(x, generator()), x)


@pytest.mark.parametrize("name", OPS)
def test_op_checks_its_input(name):
    op, takes_features = build(name), OPS[name][2]
    wrong_rank = tones() if takes_features else features()
    with pytest.raises(ValueError, match="expects"):
        op(wrong_rank, generator())
    with pytest.raises(ValueError, match="floating-point"):
        op((batch_for(name) * 1000).long(), generator())
    if not takes_features:
        with pytest.raises(ValueError, match=r"\(batch, 1, samples\)"):
            op(tones()[:, 0], generator())
        with pytest.raises(ValueError, match=r"\(batch, 1, samples\)"):
            op(tones().expand(-1, 2, -1), generator())


@pytest.mark.parametrize("make, message", [
    (lambda: SpeedChange(1.0), "max_change"),
    (lambda: SpeedChange(-0.1), "max_change"),
    (lambda: Gain(-1.0), "max_db"),
    (lambda: TimeShift(1.5), "max_fraction"),
    (lambda: AdditiveNoise(snr_db=(20.0, 10.0)), "snr_db"),
    (lambda: AdditiveNoise(snr_db=(10.0, INF)), "snr_db"),
    (lambda: AdditiveNoise(snr_db=10.0), "pair"),
    (lambda: AdditiveNoise(colours=("blue",)), "colours"),
    (lambda: BackgroundNoise(torch.zeros(0, 100)), "non-empty bank"),
    (lambda: BackgroundNoise(torch.ones(2, 100, dtype=torch.long)), "floating-point"),
    (lambda: Reverberation(rt60=(-0.1, 0.5)), "rt60"),
    (lambda: Reverberation(wet=1.5), "wet"),
    (lambda: Reverberation(match="loudness"), "match"),
    (lambda: Reverberation(sample_rate=0), "sample_rate"),
    (lambda: PitchShift(-1.0), "max_semitones"),
    (lambda: PitchShift(n_fft=256, hop_length=200), "hop_length"),
    (lambda: BandPass(low_hz=(500.0, 4000.0), high_hz=(3000.0, 6000.0)), "low cut"),
    (lambda: BandPass(high_hz=(3000.0, 9000.0)), "high_hz"),
    (lambda: BandPass(skirt_octaves=0.0), "skirt_octaves"),
    (lambda: BatchMixing(snr_db=(INF, 10.0)), "snr_db"),
    (lambda: TimeMasking(count=-1), "count"),
    (lambda: FrequencyMasking(max_width=2.5), "max_width"),
    (lambda: TimeMasking(max_fraction=2.0), "max_fraction"),
    (lambda: audio_views(strength=-0.5), "strength"),
    (lambda: kws_speed_volume_views(strength=math.nan), "strength"),
    (lambda: audio_views(sample_rate=-16000), "sample_rate"),
])
def test_bad_settings_raise_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_every_op_and_policy_is_registered_under_its_name():
    names = set(AUGMENTATIONS.names())
    assert set(OPS) | {"to_log_mel", "audio_views", "kws_speed_volume_views"} <= names


# --- behaviour of each op ----------------------------------------------------------------


def test_gain_changes_rms_by_the_drawn_decibels():
    x, op = tones(), Gain(10.0)
    drawn = op.draw(x, generator(4))
    out = op(x, generator(4))
    change = 20 * torch.log10(out.double().square().mean(-1).sqrt()
                              / x.double().square().mean(-1).sqrt())[:, 0]
    assert torch.allclose(change, drawn.double(), atol=1e-4)
    assert drawn.abs().max() <= 10 and drawn.std() > 1


@pytest.mark.parametrize("colour", ["white", "pink", "brown"])
def test_noise_reaches_the_requested_snr(colour):
    x = tones()
    out = AdditiveNoise(snr_db=(12.0, 12.0), colours=(colour,))(x, generator())
    assert torch.allclose(measured_snr_db(x, out), torch.full((4,), 12.0, dtype=torch.float64),
                          atol=0.5)


@pytest.mark.parametrize("colour, slope", [("white", 0.0), ("pink", -3.0), ("brown", -6.0)])
def test_noise_spectrum_slopes_down_by_colour(colour, slope):
    x = tones(frequencies=(440.0,) * 8)
    added = AdditiveNoise(snr_db=(0.0, 0.0), colours=(colour,))(x, generator()) - x
    assert octave_slope_db(added) == pytest.approx(slope, abs=1.0)


def test_noise_colour_is_drawn_per_sample():
    x = tones(frequencies=(440.0,) * 16)
    op = AdditiveNoise(snr_db=(0.0, 0.0))
    _, exponents, _ = op.draw(x, generator())
    assert set(exponents.tolist()) == {0.0, 1.0, 2.0}


def test_speed_factor_moves_a_tone_and_shortens_it():
    x = tones(frequencies=(1000.0,), padded=False)
    out = SpeedChange(0.1).transform(x, torch.tensor([1.1]))
    spectrum = torch.fft.rfft(out[0, 0, :14000] * torch.hann_window(14000)).abs()
    peak_hz = float(spectrum.argmax()) * SR / 14000
    assert peak_hz == pytest.approx(1100.0, rel=0.01)
    assert out[0, 0, int(SR / 1.1) + 2:].abs().max() == 0  # the clip ends earlier


@pytest.mark.parametrize("semitones", [2.0, -3.0])
def test_pitch_shift_moves_the_pitch_and_keeps_the_duration(semitones):
    x = tones(frequencies=(440.0,), padded=False)
    out = PitchShift(4.0).transform(x, torch.tensor([semitones]))
    assert out.shape == x.shape
    spectrum = torch.fft.rfft(out[0, 0] * torch.hann_window(SR)).abs()
    assert float(spectrum.argmax()) == pytest.approx(440.0 * 2 ** (semitones / 12), rel=0.02)
    quarters = out[0, 0].reshape(4, -1).square().mean(dim=1)
    assert quarters.min() > 0.6 * quarters.max()  # sound all along, neither cut nor padded
    assert quarters.mean() == pytest.approx(x.square().mean().item(), rel=0.2)


def test_band_pass_removes_energy_outside_the_band():
    noise = torch.randn(4, 1, SR, generator=generator(2))
    out = BandPass(low_hz=(500.0, 500.0), high_hz=(2000.0, 2000.0))(noise, generator())
    window = torch.hann_window(SR)
    before = torch.fft.rfft(noise[:, 0] * window).abs().square().mean(0)
    after = torch.fft.rfft(out[:, 0] * window).abs().square().mean(0)
    frequencies = torch.fft.rfftfreq(SR, 1 / SR)
    inside = (frequencies > 600) & (frequencies < 1800)
    outside = (frequencies < 500 / 2 ** 0.5 * 0.9) | (frequencies > 2000 * 2 ** 0.5 * 1.1)
    assert float(after[inside].sum() / before[inside].sum()) == pytest.approx(1.0, abs=0.05)
    assert float(after[outside].mean()) < 1e-3 * float(after[inside].mean())


def test_reverberation_lengthens_the_decay_of_an_impulse():
    impulse = torch.zeros(1, 1, SR)
    impulse[0, 0, 2000] = 0.8

    def tail_fraction(rt60: float) -> float:
        out = Reverberation(rt60=(rt60, rt60))(impulse, generator())
        assert float(out.abs().max()) == pytest.approx(0.8, rel=1e-4)  # dry peak kept
        assert out[0, 0, :2000].abs().max() < 1e-6  # causal (up to FFT round-off)
        energy = out[0, 0].square()
        return float(energy[2000 + 1600:2000 + 8000].sum() / energy.sum())

    long_tail, short_tail = tail_fraction(0.5), tail_fraction(0.1)
    assert long_tail > 0.01 and long_tail > 100 * short_tail


def test_reverberation_wet_mix_and_rms_match():
    x = tones()
    dry_rms = x.square().mean(-1).sqrt()
    mostly_dry = Reverberation(wet=0.1, match="rms")(x, generator())
    assert torch.allclose(mostly_dry.square().mean(-1).sqrt()[:3], dry_rms[:3], rtol=1e-3)
    fully_wet = Reverberation(match="rms")(x, generator())
    assert (mostly_dry - x).abs().mean() < (fully_wet - x).abs().mean()


def test_time_shift_moves_an_impulse_by_the_drawn_amount_without_wrapping():
    x = torch.zeros(6, 1, SR)
    x[:, 0, 8000] = 1.0
    op = TimeShift(0.1)
    shifts = op.draw(x, generator(9))
    out = op(x, generator(9))
    assert torch.equal(out[:, 0].argmax(dim=1), 8000 + shifts)
    assert shifts.abs().max() <= 1600 and len(set(shifts.tolist())) > 1
    edge = torch.zeros(1, 1, SR)
    edge[0, 0, 10] = 1.0
    assert op.transform(edge, torch.tensor([-100])).abs().max() == 0


@pytest.mark.parametrize("op", [TimeMasking(3, 20), FrequencyMasking(3, 10)])
def test_spec_masks_fill_contiguous_bands_with_the_sample_mean(op):
    x = features(6)
    starts, widths = op.draw(x, generator(1))
    out = op(x, generator(1))
    axis_size = x.shape[op.axis]
    assert widths.max() <= op.max_width and (starts + widths).max() <= axis_size
    changed = (out != x).flatten(0, 1).movedim(op.axis - 1, 1).reshape(6, axis_size, -1).all(2)
    steps = torch.arange(axis_size)
    for sample in range(6):
        expected = torch.zeros(axis_size, dtype=torch.bool)
        for start, width in zip(starts[sample].tolist(), widths[sample].tolist()):
            expected |= (steps >= start) & (steps < start + width)
        assert torch.equal(changed[sample], expected)
        assert torch.allclose(out[sample][out[sample] != x[sample]], x[sample].mean())


def test_time_mask_width_respects_max_fraction():
    _, widths = TimeMasking(4, 50, max_fraction=0.1).draw(features(32), generator())
    assert widths.max() <= 10 and widths.max() > 0


def test_batch_mixing_mixes_another_clip_at_the_drawn_snr():
    x = tones(frequencies=(300.0, 440.0, 700.0, 1000.0, 1300.0))
    op = BatchMixing(snr_db=(15.0, 15.0))
    _, partners = op.draw(x, generator())
    out = op(x, generator())
    assert not bool((partners == torch.arange(5)).any())
    assert torch.allclose(measured_snr_db(x, out), torch.full((5,), 15.0, dtype=torch.float64),
                          atol=0.5)
    added = (out - x)[:, 0]
    cosine = torch.nn.functional.cosine_similarity(added, x[partners, 0], dim=1)
    assert torch.allclose(cosine, torch.ones(5), atol=1e-4)
    single = x[:1]
    assert torch.equal(op(single, generator()), single)


def test_background_noise_mixes_a_looped_crop_at_the_drawn_snr():
    x, clips = tones(), bank()
    op = BackgroundNoise(clips, snr_db=(10.0, 10.0))
    _, chosen, offsets = op.draw(x, generator(2))
    out = op(x, generator(2))
    assert torch.allclose(measured_snr_db(x, out), torch.full((4,), 10.0, dtype=torch.float64),
                          atol=0.5)
    for sample in range(4):
        clip = clips[chosen[sample]]
        crop = clip[(offsets[sample] + torch.arange(SR)) % clip.numel()]
        added = (out - x)[sample, 0]
        assert float(torch.nn.functional.cosine_similarity(added, crop, dim=0)) > 0.9999


def test_background_folder_is_read_as_mono_at_the_sample_rate(tmp_path):
    soundfile.write(tmp_path / "a_stereo_8k.wav", np.random.default_rng(0).normal(
        0, 0.1, (8000, 2)).astype("float32"), 8000)
    soundfile.write(tmp_path / "b_mono.wav", np.full(3000, 0.25, dtype="float32"), SR)
    (tmp_path / "notes.txt").write_text("not audio")
    clips = read_background_folder(tmp_path, SR)
    assert [tuple(c.shape) for c in clips] == [(16000,), (3000,)]
    assert clips[0].dtype == torch.float32 and clips[0].abs().max() > 0
    out = BackgroundNoise(tmp_path, snr_db=(20.0, 20.0))(tones(), generator())
    assert out.shape == (4, 1, SR)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no .wav files"):
        BackgroundNoise(empty)


def test_to_log_mel_applies_the_frontend_and_checks_its_output():
    x = tones()
    out = ToLogMel(StandInLogMel())(x, generator())
    assert torch.equal(out, StandInLogMel()(x)) and out.dim() == 4
    with pytest.raises(ValueError, match="it made"):
        ToLogMel(nn.Identity())(x, generator())


# --- view policies -----------------------------------------------------------------------


@pytest.mark.parametrize("policy", [audio_views, kws_speed_volume_views])
def test_policies_make_two_views_and_are_the_identity_at_zero_strength(policy):
    x = tones()
    views = policy()(x, generator())
    assert len(views) == 2 and all(v.shape == x.shape for v in views)
    assert not torch.equal(views[0], views[1])
    assert all(torch.equal(v, x) for v in policy(strength=0.0)(x, generator()))
    adjustable = policy()
    adjustable.set_strength(0.0)
    assert all(torch.equal(v, x) for v in adjustable(x, generator()))


@pytest.mark.parametrize("policy", [audio_views, kws_speed_volume_views])
def test_policies_end_in_masked_log_mels_with_a_frontend(policy):
    x, frontend = tones(), StandInLogMel()
    views = policy(frontend=frontend)(x, generator())
    assert all(v.shape == frontend(x).shape for v in views)
    plain = frontend(x)
    assert all(torch.equal(v, plain) for v in policy(0.0, frontend=frontend)(x, generator()))
    unmasked = policy(0.0, frontend=frontend, spec_masking=False)
    assert "Masking" not in repr(unmasked)


def test_full_pipeline_applies_every_step_somewhere_in_a_batch():
    x = tones(frequencies=tuple(200.0 + 50 * k for k in range(16)))
    pipeline = audio_pipeline(sample_rate=SR)
    names = [type(step.augmentation).__name__ for step in pipeline.augmentations[:-1]]
    assert names == ["SpeedChange", "PitchShift", "TimeShift", "Reverberation", "BatchMixing",
                     "AdditiveNoise", "BandPass"]
    out = pipeline(x, generator())
    assert out.shape == x.shape and not torch.equal(out, x)


def test_policy_with_the_room_log_mel_frontend():
    features_module = pytest.importorskip("contrastlearn.modalities.audio.features")
    frontend = features_module.LogMel(sample_rate=SR, n_mels=40)
    x = tones()
    views = audio_views(frontend=frontend)(x, generator())
    expected = frontend(x).shape
    assert len(views) == 2 and all(v.shape == expected for v in views)
    assert "FrequencyMasking(count=2, max_width=8" in " ".join(
        audio_views(frontend=frontend).describe())
