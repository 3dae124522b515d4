"""Log-mel and MFCC features of waveform batches, computed on the batch's device.

`LogMel` turns (B, 1, T) waveforms into (B, 1, n_mels, frames) log-mel features: a centred
short-time Fourier transform (periodic Hann window, zero padding at both ends), the power
spectrum, a bank of triangular mel filters and a natural log with a floor. `MFCC` takes an
orthonormal DCT-II of the log-mel over the mel axis (Davis & Mermelstein 1980).

The mel scale is HTK's, mel(f) = 2595 log10(1 + f / 700), with filters of peak 1 (no area
normalisation): the choice of the KWS front ends of Speech Commands baselines and torchaudio's
default, and one formula over the whole range (Slaney's scale is linear below 1 kHz, then
logarithmic). The defaults are a 25 ms window, a 10 ms hop and the next power of two as FFT
size: 400 / 160 / 512 samples at 16 kHz.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

SAMPLE_RATE = 16_000
"""The room's default sample rate (Hz): Speech Commands' and most keyword sets'."""


def hz_to_mel(frequencies: Tensor) -> Tensor:
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * torch.log10(1.0 + frequencies / 700.0)


def mel_to_hz(mels: Tensor) -> Tensor:
    """Inverse of `hz_to_mel`."""
    return 700.0 * (torch.pow(10.0, mels / 2595.0) - 1.0)


def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """(n_fft // 2 + 1, n_mels) triangular filters on the HTK mel scale, peak 1.

    The n_mels + 2 edges are equally spaced in mel between f_min and f_max (None: the Nyquist
    frequency); filter m rises linearly from edge m to edge m + 1 and falls to edge m + 2, in
    Hz, evaluated at the frequencies of the rfft bins. A filter that covers no bin (too many
    mels for the FFT size) is an error rather than a silent constant feature."""
    nyquist = sample_rate / 2.0
    f_max = nyquist if f_max is None else float(f_max)
    if sample_rate <= 0 or n_fft < 2 or n_mels < 1:
        raise ValueError(f"mel_filterbank needs sample_rate > 0, n_fft >= 2 and n_mels >= 1; "
                         f"got {sample_rate}, {n_fft}, {n_mels}")
    if not 0.0 <= f_min < f_max <= nyquist:
        raise ValueError(f"mel_filterbank needs 0 <= f_min < f_max <= sample_rate / 2 = "
                         f"{nyquist:g}; got f_min={f_min:g}, f_max={f_max:g}")
    bin_frequencies = torch.linspace(0.0, nyquist, n_fft // 2 + 1, dtype=torch.float64)
    mel_edges = torch.linspace(hz_to_mel(torch.tensor(float(f_min), dtype=torch.float64)),
                               hz_to_mel(torch.tensor(f_max, dtype=torch.float64)),
                               n_mels + 2, dtype=torch.float64)
    edges = mel_to_hz(mel_edges)
    left, center, right = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_frequencies[:, None] - left) / (center - left)
    falling = (right - bin_frequencies[:, None]) / (right - center)
    filters = torch.clamp(torch.minimum(rising, falling), min=0.0)
    empty = (filters.amax(dim=0) == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"mel filters {empty} cover no FFT bin (n_mels={n_mels} is too many for "
                         f"n_fft={n_fft} between {f_min:g} and {f_max:g} Hz): lower n_mels, raise "
                         "n_fft or f_min")
    return filters.to(dtype)


def dct_matrix(n_inputs: int, n_outputs: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """(n_inputs, n_outputs) orthonormal DCT-II: `x @ dct_matrix(n, k)` is the first k
    coefficients of scipy.fft.dct(x, type=2, norm="ortho")."""
    if not 1 <= n_outputs <= n_inputs:
        raise ValueError(f"dct_matrix needs 1 <= n_outputs <= n_inputs; got {n_outputs} outputs "
                         f"of {n_inputs} inputs")
    positions = torch.arange(n_inputs, dtype=torch.float64)[:, None] + 0.5
    orders = torch.arange(n_outputs, dtype=torch.float64)[None, :]
    matrix = torch.cos(math.pi / n_inputs * positions * orders) * math.sqrt(2.0 / n_inputs)
    matrix[:, 0] /= math.sqrt(2.0)
    return matrix.to(dtype)


def normalize_utterance(features: Tensor, eps: float = 1e-5) -> Tensor:
    """Each clip's features with zero mean and unit variance over time, per feature bin
    (cepstral mean and variance normalisation): (..., bins, frames) -> same shape."""
    mean = features.mean(dim=-1, keepdim=True)
    variance = features.var(dim=-1, unbiased=False, keepdim=True)
    return (features - mean) * torch.rsqrt(variance + eps)


def _check_waveforms(x: Tensor, owner: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[1] != 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{owner} expects mono waveforms of shape (batch, 1, samples); got "
                         f"{shape}: add the channel axis with x.unsqueeze(1) or average the "
                         "channels to mono")
    if not x.is_floating_point():
        raise TypeError(f"{owner} expects floating-point waveforms (about [-1, 1]); got "
                        f"{x.dtype}: scale integer PCM, e.g. x.float() / 32768")
    if x.shape[-1] < 1:
        raise ValueError(f"{owner} got clips of 0 samples")


class LogMel(nn.Module):
    """(B, 1, T) waveforms -> (B, 1, n_mels, frames) log(mel power + floor).

    `n_fft`, `win_length`, `hop_length` given as None are 25 ms, 10 ms and the smallest power of
    two >= the window (512 / 400 / 160 at 16 kHz). Frames are centred on samples 0, hop, 2 hop,
    ... with zeros beyond the clip, so a clip of n samples has 1 + n // hop frames
    (`frames`, `frame_lengths`). The window and the filterbank are buffers rebuilt in
    `__init__` (not in the state dict), so `.to(device)` moves them and checkpoints stay small.
    Computation is in float32 (float64 for float64 inputs), with autocast off.
    """

    def __init__(
        self, sample_rate: int = SAMPLE_RATE, n_fft: int | None = None,
        win_length: int | None = None, hop_length: int | None = None, n_mels: int = 40,
        f_min: float = 20.0, f_max: float | None = None, floor: float = 1e-6,
    ) -> None:
        super().__init__()
        self.sample_rate = int(sample_rate)
        if self.sample_rate <= 0:
            raise ValueError(f"LogMel sample_rate must be > 0; got {sample_rate}")
        self.win_length = int(round(0.025 * self.sample_rate) if win_length is None
                              else win_length)
        self.hop_length = int(round(0.010 * self.sample_rate) if hop_length is None
                              else hop_length)
        self.n_fft = int(2 ** math.ceil(math.log2(max(self.win_length, 2))) if n_fft is None
                         else n_fft)
        if self.hop_length < 1 or not 1 <= self.win_length <= self.n_fft:
            raise ValueError(f"LogMel needs hop_length >= 1 and 1 <= win_length <= n_fft; got "
                             f"hop_length={self.hop_length}, win_length={self.win_length}, "
                             f"n_fft={self.n_fft}")
        if floor <= 0:
            raise ValueError(f"LogMel floor must be > 0 (log of 0 is -inf); got {floor}")
        self.n_mels = int(n_mels)
        self.f_min = float(f_min)
        self.f_max = self.sample_rate / 2.0 if f_max is None else float(f_max)
        self.floor = float(floor)
        self.register_buffer("window", torch.hann_window(self.win_length), persistent=False)
        self.register_buffer(
            "filterbank",
            mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, self.f_min, self.f_max),
            persistent=False)

    def frames(self, num_samples: int) -> int:
        """Frames of a clip of `num_samples` samples."""
        return 1 + int(num_samples) // self.hop_length

    def frame_lengths(self, lengths: Tensor) -> Tensor:
        """(B,) valid lengths in samples -> (B,) int64 frames each clip alone would give."""
        return 1 + torch.div(lengths.long(), self.hop_length, rounding_mode="floor")

    def forward(self, x: Tensor) -> Tensor:
        _check_waveforms(x, "LogMel")
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        with torch.autocast(device_type=x.device.type, enabled=False):
            spectrum = torch.stft(
                x.reshape(-1, x.shape[-1]).to(dtype), n_fft=self.n_fft,
                hop_length=self.hop_length, win_length=self.win_length,
                window=self.window.to(x.device, dtype), center=True, pad_mode="constant",
                return_complex=True)  # (B, n_fft // 2 + 1, frames)
            power = spectrum.real.square() + spectrum.imag.square()
            filterbank = self.filterbank.to(x.device, dtype)
            mel = torch.matmul(power.transpose(1, 2), filterbank)  # (B, F, M)
            return torch.log(mel + self.floor).transpose(1, 2).unsqueeze(1)


class MFCC(nn.Module):
    """(B, 1, T) waveforms -> (B, 1, n_mfcc, frames): the first `n_mfcc` coefficients of an
    orthonormal DCT-II of `LogMel` over the mel axis (no liftering, no deltas). Keyword
    arguments other than `n_mfcc` go to `LogMel` (`self.log_mel`)."""

    def __init__(self, n_mfcc: int = 13, **log_mel_kwargs) -> None:
        super().__init__()
        self.log_mel = LogMel(**log_mel_kwargs)
        self.n_mfcc = int(n_mfcc)
        self.register_buffer("dct", dct_matrix(self.log_mel.n_mels, self.n_mfcc),
                             persistent=False)

    def frames(self, num_samples: int) -> int:
        """Frames of a clip of `num_samples` samples."""
        return self.log_mel.frames(num_samples)

    def frame_lengths(self, lengths: Tensor) -> Tensor:
        """(B,) valid lengths in samples -> (B,) int64 frames each clip alone would give."""
        return self.log_mel.frame_lengths(lengths)

    def forward(self, x: Tensor) -> Tensor:
        log_mel = self.log_mel(x)  # (B, 1, M, F)
        coefficients = torch.matmul(log_mel.transpose(-1, -2), self.dct.to(log_mel.dtype))
        return coefficients.transpose(-1, -2)
