"""LogMel and MFCC against a numpy reference written here from the formulas (framing + rfft,
HTK mel triangles, DCT-II by its cosine sum), plus shapes, frame counts, dtypes and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from contrastlearn.modalities.audio.features import (
    MFCC,
    LogMel,
    dct_matrix,
    mel_filterbank,
    normalize_utterance,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def reference_filterbank(sample_rate, n_fft, n_mels, f_min, f_max):
    def mel(hz):
        return 2595.0 * math.log10(1.0 + hz / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    step = (mel(f_max) - mel(f_min)) / (n_mels + 1)
    edges = [hz(mel(f_min) + i * step) for i in range(n_mels + 2)]
    bank = np.zeros((n_fft // 2 + 1, n_mels))
    for k in range(n_fft // 2 + 1):
        frequency = k * sample_rate / n_fft
        for m in range(n_mels):
            low, peak, high = edges[m], edges[m + 1], edges[m + 2]
            if low < frequency <= peak:
                bank[k, m] = (frequency - low) / (peak - low)
            elif peak < frequency < high:
                bank[k, m] = (high - frequency) / (high - peak)
    return bank


def reference_log_mel(signal, sample_rate=16000, n_fft=512, win_length=400, hop=160,
                      n_mels=40, f_min=20.0, f_max=8000.0, floor=1e-6):
    """(T,) -> (n_mels, frames): zero-padded centred frames, periodic Hann, |rfft|^2, mel, log."""
    n = np.arange(win_length)
    window = np.zeros(n_fft)
    offset = (n_fft - win_length) // 2
    window[offset:offset + win_length] = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)
    padded = np.concatenate([np.zeros(n_fft // 2), signal, np.zeros(n_fft // 2)])
    frames = 1 + len(signal) // hop
    power = np.stack([np.abs(np.fft.rfft(padded[t * hop:t * hop + n_fft] * window)) ** 2
                      for t in range(frames)])  # (frames, bins)
    bank = reference_filterbank(sample_rate, n_fft, n_mels, f_min, f_max)
    return np.log(power @ bank + floor).T


def reference_dct(log_mel, n_mfcc):
    """Orthonormal DCT-II over axis 0 by its cosine sum."""
    size = log_mel.shape[0]
    out = np.zeros((n_mfcc, log_mel.shape[1]))
    for k in range(n_mfcc):
        scale = math.sqrt(1.0 / size) if k == 0 else math.sqrt(2.0 / size)
        for i in range(size):
            out[k] += scale * log_mel[i] * math.cos(math.pi * k * (2 * i + 1) / (2 * size))
    return out


def clips(lengths=(16000, 9000), total=16000, seed=0):
    """Tones plus noise, zero-padded at the end to `total` samples: (B, 1, total) float64."""
    rng = np.random.default_rng(seed)
    batch = np.zeros((len(lengths), 1, total))
    for row, length in enumerate(lengths):
        t = np.arange(length) / 16000
        batch[row, 0, :length] = (0.5 * np.sin(2 * np.pi * (300 + 500 * row) * t)
                                  + 0.1 * rng.standard_normal(length))
    return batch


def test_filterbank_matches_the_formula():
    ours = mel_filterbank(16000, 512, 40, 20.0, 8000.0, dtype=torch.float64).numpy()
    np.testing.assert_allclose(ours, reference_filterbank(16000, 512, 40, 20.0, 8000.0),
                               atol=1e-12)


def test_log_mel_matches_numpy_reference_in_float32():
    batch = clips()
    ours = LogMel()(torch.tensor(batch, dtype=torch.float32)).double().numpy()
    assert ours.shape == (2, 1, 40, 101)
    for row in range(2):
        expected = reference_log_mel(batch[row, 0])
        np.testing.assert_allclose(ours[row, 0], expected, rtol=1e-4, atol=1e-4)


def test_log_mel_other_settings_match_the_reference():
    batch = clips(lengths=(8000,), total=8000)
    ours = LogMel(sample_rate=8000, n_fft=256, win_length=200, hop_length=80, n_mels=20,
                  f_min=0.0, f_max=3000.0)(torch.tensor(batch))
    assert ours.dtype == torch.float64  # float64 in, float64 out (window, filters: float32)
    expected = reference_log_mel(batch[0, 0], 8000, 256, 200, 80, 20, 0.0, 3000.0)
    np.testing.assert_allclose(ours[0, 0].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_mfcc_matches_cosine_dct_of_reference_log_mel():
    batch = clips()
    ours = MFCC(n_mfcc=13)(torch.tensor(batch, dtype=torch.float32)).double().numpy()
    assert ours.shape == (2, 1, 13, 101)
    for row in range(2):
        expected = reference_dct(reference_log_mel(batch[row, 0]), 13)
        np.testing.assert_allclose(ours[row, 0], expected, rtol=1e-4, atol=2e-4)


def test_dct_matrix_is_scipy_orthonormal_dct():
    fft = pytest.importorskip("scipy.fft")
    values = np.random.default_rng(1).standard_normal((5, 40))
    ours = values @ dct_matrix(40, 13, dtype=torch.float64).numpy()
    np.testing.assert_allclose(ours, fft.dct(values, type=2, norm="ortho")[:, :13], atol=1e-12)


def test_log_mel_matches_librosa_when_installed():
    librosa = pytest.importorskip("librosa")
    signal = clips(lengths=(16000,))[0, 0]
    mel = librosa.feature.melspectrogram(
        y=signal, sr=16000, n_fft=512, win_length=400, hop_length=160, n_mels=40, fmin=20.0,
        fmax=8000.0, htk=True, norm=None, center=True, pad_mode="constant", power=2.0)
    ours = LogMel()(torch.tensor(signal[None, None]))[0, 0].numpy()
    np.testing.assert_allclose(ours, np.log(mel + 1e-6), rtol=1e-4, atol=1e-4)


def test_default_window_hop_and_fft_follow_the_sample_rate():
    assert (LogMel().win_length, LogMel().hop_length, LogMel().n_fft) == (400, 160, 512)
    slow = LogMel(sample_rate=8000, n_mels=20)
    assert (slow.win_length, slow.hop_length, slow.n_fft) == (200, 80, 256)


@pytest.mark.parametrize("samples", [1, 159, 160, 16000, 16001])
def test_frame_counts_match_the_output(samples):
    log_mel = LogMel()
    out = log_mel(torch.zeros(1, 1, samples))
    assert out.shape[-1] == log_mel.frames(samples) == 1 + samples // 160
    mfcc = MFCC()
    assert mfcc(torch.zeros(1, 1, samples)).shape[-1] == mfcc.frames(samples)


def test_frame_lengths_are_the_frames_of_each_clip_alone():
    log_mel = LogMel()
    lengths = torch.tensor([16000, 9000, 161, 1])
    expected = [log_mel(torch.zeros(1, 1, int(n))).shape[-1] for n in lengths]
    assert log_mel.frame_lengths(lengths).tolist() == expected
    assert log_mel.frame_lengths(lengths).dtype == torch.int64
    assert MFCC().frame_lengths(lengths).tolist() == expected


def test_valid_frames_are_those_of_the_clip_without_padding():
    log_mel = LogMel()
    batch = torch.tensor(clips(lengths=(9000,)), dtype=torch.float32)
    alone = log_mel(batch[..., :9000])
    valid = int(log_mel.frame_lengths(torch.tensor([9000]))[0])
    assert alone.shape[-1] == valid
    torch.testing.assert_close(log_mel(batch)[..., :valid], alone)


def test_silence_is_the_log_floor_and_gain_shifts_the_log_mel():
    log_mel = LogMel()
    assert torch.allclose(log_mel(torch.zeros(1, 1, 1600)),
                          torch.full((1, 1, 40, 11), math.log(1e-6)))
    batch = torch.tensor(clips(lengths=(16000,)), dtype=torch.float32)
    shift = log_mel(0.5 * batch) - log_mel(batch)
    torch.testing.assert_close(shift, torch.full_like(shift, 2 * math.log(0.5)), atol=2e-3,
                               rtol=0)


def test_buffers_follow_the_module_and_stay_out_of_the_state_dict():
    log_mel = MFCC()
    names = {name for name, _ in log_mel.named_buffers()}
    assert names == {"dct", "log_mel.window", "log_mel.filterbank"}
    assert len(log_mel.state_dict()) == 0
    log_mel = log_mel.to(torch.float64)
    assert all(buffer.dtype == torch.float64 for buffer in log_mel.buffers())
    out = log_mel(torch.randn(2, 1, 1600))
    assert out.dtype == torch.float32  # float32 waveforms give float32 features


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_inputs_device():
    batch = torch.tensor(clips(), dtype=torch.float32)
    expected = MFCC()(batch)
    on_device = MFCC().cuda()(batch.cuda())
    assert on_device.device.type == "cuda"
    torch.testing.assert_close(on_device.cpu(), expected, rtol=1e-4, atol=1e-3)


def test_normalize_utterance_gives_zero_mean_unit_variance_per_bin():
    features = torch.randn(3, 1, 40, 101) * 4 + 7
    normalised = normalize_utterance(features)
    torch.testing.assert_close(normalised.mean(dim=-1), torch.zeros(3, 1, 40), atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(normalised.std(dim=-1, unbiased=False), torch.ones(3, 1, 40),
                               atol=1e-4, rtol=0)


@pytest.mark.parametrize("shape", [(16000,), (2, 16000), (2, 2, 16000), (2, 1, 40, 101),
                                   (2, 1, 0)])
def test_bad_waveform_shapes_are_refused(shape):
    with pytest.raises(ValueError, match="LogMel"):
        LogMel()(torch.zeros(shape))


def test_integer_waveforms_are_refused():
    with pytest.raises(TypeError, match="floating-point"):
        LogMel()(torch.zeros(2, 1, 1600, dtype=torch.int16))


@pytest.mark.parametrize("kwargs, message", [
    ({"win_length": 600, "n_fft": 512}, "win_length"),
    ({"hop_length": 0}, "hop_length"),
    ({"f_max": 9000.0}, "f_max"),
    ({"f_min": 9000.0, "f_max": 8000.0}, "f_min"),
    ({"n_mels": 200, "n_fft": 128, "win_length": 128}, "cover no FFT bin"),
    ({"floor": 0.0}, "floor"),
    ({"sample_rate": 0}, "sample_rate"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LogMel(**kwargs)


def test_too_many_coefficients_are_refused():
    with pytest.raises(ValueError, match="n_outputs"):
        MFCC(n_mfcc=41)
