"""Audio views: batched torch ops on mono waveform batches (B, 1, T) at a sample rate, and
SpecAugment masks on log-mel features (B, 1, n_mels, frames).

Every op draws its per-sample parameters from the `torch.Generator` it is given (`draw`), then
transforms the whole batch with them (`transform`), with no Python loop over samples; the two
steps are public so callers and tests can transform with chosen parameters. Each op keeps the
batch's shape, dtype (half precision is computed in float32) and device, and is the identity at
zero strength (a range of 0, an SNR of inf, no masks).

Sources: speed perturbation (Ko et al. 2015, Interspeech), synthetic reverberation (Ko et al.
2017, ICASSP), SpecAugment (Park et al. 2019, arXiv 1904.08779), background mixing as a view
(Niizumi et al. 2021, BYOL-A, arXiv 2103.06695), speed/volume views for keyword spotting
(Dai et al. 2024, CAB-KWS, arXiv 2409.00356), the phase vocoder (Laroche & Dolson 1999).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.augment.base import Augmentation, Compose, RandomApply, uniform
from contrastlearn.augment.views import Views
from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.audio.features import SAMPLE_RATE

NOISE_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}
"""Power spectral density of each noise colour falls as 1 / f**exponent (0, -3, -6 dB/octave)."""
MIN_RT60 = 1e-3
"""Shortest reverberation time (s) used, so a drawn RT60 of 0 is a (near) dry impulse."""


def check_waveforms(x: Tensor, owner: str) -> None:
    """Raise a clear error unless `x` is a floating (B, 1, T) batch of mono waveforms."""
    if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[1] != 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        hint = (" (that looks like log-mel features: put waveform ops before ToLogMel)"
                if isinstance(x, Tensor) and x.dim() == 4 else
                " (add a channel axis with x.unsqueeze(1), mix channels with "
                "x.mean(1, keepdim=True))")
        raise ValueError(f"{owner} expects mono waveforms of shape (batch, 1, samples); got "
                         f"{shape}{hint}")
    if not x.is_floating_point():
        raise ValueError(f"{owner} expects floating-point waveforms with values about [-1, 1]; "
                         f"got {x.dtype} (int16 PCM: x.float() / 32768)")


def check_features(x: Tensor, owner: str) -> None:
    """Raise a clear error unless `x` is a floating (B, 1, n_mels, frames) feature batch."""
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{owner} expects log-mel features of shape (batch, 1, n_mels, frames); "
                         f"got {shape} (on waveforms, put ToLogMel(frontend) before it)")
    if not x.is_floating_point():
        raise ValueError(f"{owner} expects floating-point features; got {x.dtype}")


def _check_range(owner: str, name: str, value: Sequence[float], minimum: float = -math.inf,
                 maximum: float = math.inf) -> tuple[float, float]:
    """`value` as a (low, high) pair of floats inside [minimum, maximum], or a clear error."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner} {name} must be a pair (low, high); got {value!r}") from None
    if not minimum <= low <= high <= maximum:  # also refuses NaN
        raise ValueError(f"{owner} {name} must satisfy {minimum} <= low <= high <= {maximum}; "
                         f"got ({low}, {high})")
    return low, high


def _check_snr(owner: str, snr_db: Sequence[float]) -> tuple[float, float]:
    """An SNR range in dB: both ends finite, or both inf (no noise: the identity)."""
    low, high = _check_range(owner, "snr_db", snr_db)
    if math.isinf(low) != math.isinf(high) or low == -math.inf:
        raise ValueError(f"{owner} snr_db must be two finite dB values, or (inf, inf) for no "
                         f"mixing; got ({low}, {high})")
    return low, high


def _check_sample_rate(owner: str, sample_rate: int) -> int:
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"{owner} sample_rate must be a positive whole number of Hz; got "
                         f"{sample_rate}")
    return int(sample_rate)


def active_power(x: Tensor) -> Tensor:
    """(B, 1, 1) mean square of each clip over its samples that are not exactly 0, so the zero
    padding after a short clip does not lower it (0 for an all-zero clip). The SNRs of this
    module compare these powers."""
    count = (x != 0).sum(dim=(1, 2), keepdim=True).clamp(min=1)
    return x.square().sum(dim=(1, 2), keepdim=True) / count


def mix_at_snr(x: Tensor, other: Tensor, snr_db: Tensor) -> Tensor:
    """x + other scaled so that active_power(x) / active_power(scaled other) = 10**(snr/10)
    per sample (`snr_db` (B,)); a silent `other` or x adds nothing."""
    other_power = active_power(other)
    target = active_power(x) / torch.pow(10.0, snr_db.to(x.dtype) / 10)[:, None, None]
    scale = torch.where(other_power > 0, target / other_power.clamp(min=1e-30), 0.0).sqrt()
    return x + scale * other


def fast_fft_size(length: int) -> int:
    """Smallest n >= length with no prime factor above 5 (a fast FFT size)."""
    size = max(1, int(length))
    while True:
        rest = size
        for prime in (2, 3, 5):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return size
        size += 1


def read_at(x: Tensor, positions: Tensor) -> Tensor:
    """(B, 1, Q) clips x (B, 1, L) read at fractional sample `positions` (B, Q) >= 0 by linear
    interpolation; positions at or beyond L read zeros (a clip fades out past its end)."""
    length = x.shape[-1]
    padded = F.pad(x[:, 0], (0, 1))
    below = positions.floor()
    weight = (positions - below).to(x.dtype)
    below = below.long().clamp(0, length)
    above = (below + 1).clamp(max=length)
    first, second = padded.gather(1, below), padded.gather(1, above)
    return (first + weight * (second - first))[:, None]


def _working(x: Tensor) -> Tensor:
    """x in a precision the FFT and interpolation ops support (float32 for half types)."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


class AudioAugmentation(Augmentation):
    """An audio op in two steps: `draw(x, generator)` per-sample parameters, then
    `transform(x, parameters)` the batch. `is_identity` says the settings change nothing;
    `check` validates the input (waveforms unless a subclass says otherwise)."""

    def check(self, x: Tensor) -> None:
        check_waveforms(x, type(self).__name__)

    @property
    def is_identity(self) -> bool:
        raise NotImplementedError

    def draw(self, x: Tensor, generator: torch.Generator):
        raise NotImplementedError

    def transform(self, x: Tensor, parameters) -> Tensor:
        raise NotImplementedError

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        self.check(x)
        if self.is_identity:
            return x
        working = _working(x)
        return self.transform(working, self.draw(working, generator)).to(x.dtype)


@AUGMENTATIONS.register("speed_change")
class SpeedChange(AudioAugmentation):
    """Play each clip faster or slower by a factor drawn in [1 - max_change, 1 + max_change]
    (tempo and pitch change together, like sox `speed`; Ko et al. 2015), by linear
    interpolation of sample positions, then crop or zero-pad to the batch length. Linear
    interpolation filters weakly: a speed-up folds a little energy from near Nyquist back down."""

    def __init__(self, max_change: float = 0.1) -> None:
        if not 0 <= max_change < 1:
            raise ValueError(f"SpeedChange max_change must be in [0, 1) (factors stay > 0); got "
                             f"{max_change}")
        self.max_change = float(max_change)

    @property
    def is_identity(self) -> bool:
        return self.max_change == 0

    def draw(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """(B,) speed factors."""
        return uniform(generator, x.shape[0], 1 - self.max_change, 1 + self.max_change,
                       x.device).to(x.dtype)

    def transform(self, x: Tensor, factors: Tensor) -> Tensor:
        steps = torch.arange(x.shape[-1], device=x.device, dtype=x.dtype)
        return read_at(x, steps[None, :] * factors[:, None])


@AUGMENTATIONS.register("gain")
class Gain(AudioAugmentation):
    """Change each clip's volume by a gain drawn uniformly in [-max_db, max_db] dB (no
    clipping: values may leave [-1, 1])."""

    def __init__(self, max_db: float = 6.0) -> None:
        if not 0 <= max_db < math.inf:
            raise ValueError(f"Gain max_db must be a finite number >= 0; got {max_db}")
        self.max_db = float(max_db)

    @property
    def is_identity(self) -> bool:
        return self.max_db == 0

    def draw(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """(B,) gains in dB."""
        return uniform(generator, x.shape[0], -self.max_db, self.max_db, x.device).to(x.dtype)

    def transform(self, x: Tensor, gains_db: Tensor) -> Tensor:
        return x * torch.pow(10.0, gains_db / 20)[:, None, None]


@AUGMENTATIONS.register("time_shift")
class TimeShift(AudioAugmentation):
    """Delay (positive) or advance (negative) each clip by a whole number of samples drawn
    uniformly in [-m, m], m = round(max_fraction * T); zeros fill, nothing wraps around."""

    def __init__(self, max_fraction: float = 0.1) -> None:
        if not 0 <= max_fraction <= 1:
            raise ValueError(f"TimeShift max_fraction must be in [0, 1]; got {max_fraction}")
        self.max_fraction = float(max_fraction)

    @property
    def is_identity(self) -> bool:
        return self.max_fraction == 0

    def draw(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """(B,) int64 shifts in samples."""
        most = round(self.max_fraction * x.shape[-1])
        draws = torch.rand(x.shape[0], generator=generator, device=x.device)
        return (draws * (2 * most + 1)).long().clamp(max=2 * most) - most

    def transform(self, x: Tensor, shifts: Tensor) -> Tensor:
        length = x.shape[-1]
        source = torch.arange(length, device=x.device)[None, :] - shifts[:, None]
        inside = (source >= 0) & (source < length)
        moved = x[:, 0].gather(1, source.clamp(0, length - 1))
        return torch.where(inside, moved, 0.0)[:, None]


def coloured_noise(white: Tensor, exponents: Tensor) -> Tensor:
    """(B, 1, T) unit-power noise: white Gaussian noise `white` (B, T) shaped in the rFFT
    domain so its power spectral density falls as 1 / f**exponent (`exponents` (B,): 0 white,
    1 pink, 2 brown); the mean (frequency 0) is removed."""
    length = white.shape[-1]
    spectrum = torch.fft.rfft(white, dim=-1)
    bins = torch.arange(spectrum.shape[-1], device=white.device, dtype=white.dtype).clamp(min=1)
    weights = bins[None, :].pow(-exponents[:, None] / 2)
    weights[:, 0] = 0
    noise = torch.fft.irfft(spectrum * weights, n=length, dim=-1)
    return (noise / noise.square().mean(dim=-1, keepdim=True).sqrt().clamp(min=1e-12))[:, None]


@AUGMENTATIONS.register("additive_noise")
class AdditiveNoise(AudioAugmentation):
    """Add white, pink or brown Gaussian noise (colour chosen per sample among `colours`) at an
    SNR drawn uniformly in `snr_db`, against the clip's power over its non-zero samples
    (`active_power`: the padding of short clips does not count). snr_db=(inf, inf) adds
    nothing."""

    def __init__(self, snr_db: Sequence[float] = (5.0, 30.0),
                 colours: Sequence[str] = ("white", "pink", "brown")) -> None:
        self.snr_db = _check_snr("AdditiveNoise", snr_db)
        colours = [colours] if isinstance(colours, str) else list(colours)
        unknown = [c for c in colours if c not in NOISE_EXPONENTS]
        if not colours or unknown:
            raise ValueError(f"AdditiveNoise colours must be some of {sorted(NOISE_EXPONENTS)}; "
                             f"got {colours}")
        self.colours = colours

    @property
    def is_identity(self) -> bool:
        return math.isinf(self.snr_db[0])

    def draw(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """(B,) SNRs in dB, (B,) spectral exponents, (B, T) white Gaussian noise."""
        batch = x.shape[0]
        snr = uniform(generator, batch, *self.snr_db, x.device).to(x.dtype)
        choice = torch.randint(len(self.colours), (batch,), generator=generator, device=x.device)
        table = torch.tensor([NOISE_EXPONENTS[c] for c in self.colours], device=x.device,
                             dtype=x.dtype)
        white = torch.randn((batch, x.shape[-1]), generator=generator, device=x.device,
                            dtype=x.dtype)
        return snr, table[choice], white

    def transform(self, x: Tensor, parameters: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        snr, exponents, white = parameters
        return mix_at_snr(x, coloured_noise(white, exponents), snr)


def read_background_folder(folder: str | Path, sample_rate: int = SAMPLE_RATE) -> list[Tensor]:
    """Every .wav file directly in `folder` (sorted by name) as a float32 1-d tensor at
    `sample_rate`: channels averaged to mono, other rates resampled with julius."""
    import julius
    import soundfile

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"background folder {folder} does not exist or is not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav")
    if not files:
        raise ValueError(f"background folder {folder} has no .wav files")
    clips = []
    for path in files:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
        clip = torch.from_numpy(samples).mean(dim=1)
        if rate != sample_rate:
            clip = julius.resample_frac(clip, int(rate), int(sample_rate))
        clips.append(clip)
    return clips


@AUGMENTATIONS.register("background_noise")
class BackgroundNoise(AudioAugmentation):
    """Mix a random crop of a random background clip into each sample at an SNR drawn in
    `snr_db` (powers as in `AdditiveNoise`). `source`: a tensor bank (N, T_bg), a list of 1-d
    clips, or a folder of .wav files (`read_background_folder`, e.g. Speech Commands'
    `_background_noise_`). A crop starts anywhere a full T fits; clips shorter than T loop."""

    def __init__(self, source: Tensor | Sequence[Tensor] | str | Path,
                 snr_db: Sequence[float] = (5.0, 30.0),
                 sample_rate: int = SAMPLE_RATE) -> None:
        self.snr_db = _check_snr("BackgroundNoise", snr_db)
        self.sample_rate = _check_sample_rate("BackgroundNoise", sample_rate)
        if isinstance(source, (str, Path)):
            self.source = str(source)
            clips = read_background_folder(source, self.sample_rate)
        else:
            clips = list(source)
            self.source = f"{len(clips)} clips"
        if not clips or any(not isinstance(c, Tensor) or c.dim() != 1 or c.numel() == 0
                            or not c.is_floating_point() or not bool(torch.isfinite(c).all())
                            for c in clips):
            raise ValueError("BackgroundNoise needs a non-empty bank of finite floating-point "
                             "clips: a tensor (N, T_bg), a list of 1-d tensors or a folder of "
                             ".wav files")
        lengths = torch.tensor([c.numel() for c in clips])
        self._bank = (torch.cat([c.float() for c in clips]), lengths, lengths.cumsum(0) - lengths)

    def _bank_on(self, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        """(clips, lengths, starts) on `device`, moved there once and kept (the bank can be
        tens of MB: no copy per batch)."""
        if self._bank[0].device != device:
            self._bank = tuple(part.to(device) for part in self._bank)
        return self._bank

    @property
    def is_identity(self) -> bool:
        return math.isinf(self.snr_db[0])

    def draw(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """(B,) SNRs in dB, (B,) clip indices, (B,) crop offsets in samples."""
        batch, length = x.shape[0], x.shape[-1]
        snr = uniform(generator, batch, *self.snr_db, x.device).to(x.dtype)
        _, bank_lengths, _ = self._bank_on(x.device)
        clip = torch.randint(len(bank_lengths), (batch,), generator=generator, device=x.device)
        lengths = bank_lengths[clip]
        room = torch.where(lengths >= length, lengths - length + 1, lengths)
        offsets = (torch.rand(batch, generator=generator, device=x.device) * room).long()
        return snr, clip, torch.minimum(offsets, room - 1)

    def transform(self, x: Tensor, parameters: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        snr, clip, offsets = parameters
        bank, bank_lengths, starts = self._bank_on(x.device)
        lengths = bank_lengths[clip][:, None]
        steps = offsets[:, None] + torch.arange(x.shape[-1], device=x.device)[None, :]
        index = starts[clip][:, None] + steps % lengths
        noise = bank[index].to(x.dtype)
        return mix_at_snr(x, noise[:, None], snr)


def synthetic_rirs(rt60: Tensor, noise: Tensor, sample_rate: int,
                   direct_to_reverberant_db: float) -> Tensor:
    """(B, L) unit-energy room impulse responses: a direct-path impulse at 0 plus Gaussian
    noise `noise` (B, L) under an exponential envelope whose energy falls 60 dB at `rt60` (B,)
    seconds, the tail scaled to `direct_to_reverberant_db` below the direct path."""
    steps = torch.arange(noise.shape[-1], device=noise.device, dtype=noise.dtype)
    decay = 3 * math.log(10) / (rt60.clamp(min=MIN_RT60) * sample_rate)
    tail = noise * torch.exp(-decay[:, None] * steps[None, :])
    tail[:, 0] = 0
    tail_energy = tail.square().sum(dim=1, keepdim=True)
    wanted = 10 ** (-direct_to_reverberant_db / 10)
    tail = tail * torch.where(tail_energy > 0, wanted / tail_energy.clamp(min=1e-30), 0.0).sqrt()
    tail[:, 0] = 1
    return tail / tail.norm(dim=1, keepdim=True)


@AUGMENTATIONS.register("reverberation")
class Reverberation(AudioAugmentation):
    """Convolve each clip (by FFT) with a synthetic room impulse response (`synthetic_rirs`)
    of RT60 drawn in `rt60` seconds (Ko et al. 2017 use simulated RIRs alike), keep the first T
    samples, mix `wet` of it with 1 - wet of the dry clip, then rescale to the dry clip's peak
    (`match="peak"`) or active RMS (`match="rms"`). rt60=(0, 0) or wet=0 is the identity."""

    def __init__(self, rt60: Sequence[float] = (0.1, 0.6), sample_rate: int = SAMPLE_RATE,
                 direct_to_reverberant_db: float = 0.0, wet: float = 1.0,
                 match: str = "peak") -> None:
        self.rt60 = _check_range("Reverberation", "rt60", rt60, 0.0, 10.0)
        self.sample_rate = _check_sample_rate("Reverberation", sample_rate)
        if not math.isfinite(direct_to_reverberant_db):
            raise ValueError(f"Reverberation direct_to_reverberant_db must be finite; got "
                             f"{direct_to_reverberant_db}")
        if not 0 <= wet <= 1:
            raise ValueError(f"Reverberation wet must be in [0, 1]; got {wet}")
        if match not in ("peak", "rms"):
            raise ValueError(f"Reverberation match must be 'peak' or 'rms'; got {match!r}")
        self.direct_to_reverberant_db = float(direct_to_reverberant_db)
        self.wet, self.match = float(wet), match

    @property
    def is_identity(self) -> bool:
        return self.rt60[1] == 0 or self.wet == 0

    @property
    def rir_length(self) -> int:
        """Impulse responses last the longest RT60 of the range (60 dB of decay)."""
        return max(2, math.ceil(self.rt60[1] * self.sample_rate))

    def draw(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """(B,) RT60s in seconds, (B, L) Gaussian noise of the impulse responses' tails."""
        rt60 = uniform(generator, x.shape[0], *self.rt60, x.device).to(x.dtype)
        noise = torch.randn((x.shape[0], self.rir_length), generator=generator, device=x.device,
                            dtype=x.dtype)
        return rt60, noise

    def transform(self, x: Tensor, parameters: tuple[Tensor, Tensor]) -> Tensor:
        rt60, noise = parameters
        rirs = synthetic_rirs(rt60, noise, self.sample_rate, self.direct_to_reverberant_db)
        length = x.shape[-1]
        size = fast_fft_size(length + rirs.shape[-1] - 1)
        spectrum = torch.fft.rfft(x, n=size, dim=-1) * torch.fft.rfft(rirs, n=size)[:, None]
        wet = torch.fft.irfft(spectrum, n=size, dim=-1)[..., :length]
        mixed = self.wet * wet + (1 - self.wet) * x
        if self.match == "peak":
            dry, made = x.abs().amax(dim=-1, keepdim=True), mixed.abs().amax(dim=-1, keepdim=True)
        else:
            dry, made = active_power(x).sqrt(), active_power(mixed).sqrt()
        return mixed * torch.where(made > 0, dry / made.clamp(min=1e-30), 0.0)


def nearest_peaks(magnitude: Tensor) -> Tensor:
    """(B, M, F) for each bin of each frame of `magnitude` (B, M, F: frames, then bins), the
    bin of the nearest local maximum of that frame's spectrum (the peak whose region the bin is
    in)."""
    bins = magnitude.shape[-1]
    padded = F.pad(magnitude, (1, 1), value=-1.0)
    peaks = (magnitude >= padded[..., :-2]) & (magnitude > padded[..., 2:])
    index = torch.arange(bins, device=magnitude.device, dtype=magnitude.dtype)
    below = torch.where(peaks, index, -1.0).cummax(dim=-1).values
    above = torch.where(peaks, index, float(bins)).flip(-1).cummin(dim=-1).values.flip(-1)
    use_above = (below < 0) | ((above < bins) & (above - index < index - below))
    return torch.where(use_above, above, below).clamp(0, bins - 1).long()


def time_stretch(waves: Tensor, stretch: Tensor, n_fft: int, hop_length: int,
                 length: int) -> Tensor:
    """(B, length) clips `waves` (B, T) made `stretch` (B,) times longer without changing pitch
    by a phase vocoder with identity phase locking (Laroche & Dolson 1999): one STFT for the
    batch, each sample reading its own fractional frame positions; magnitudes are interpolated,
    each bin's phase advances by its measured frequency (a cumulative sum over frames), then
    every bin is locked to its nearest spectral peak with the phase offset it had in the
    analysis frame, which keeps partials coherent. Output past a clip's stretched end is 0.
    Works on (B, frames, bins) so that per-frame operations run along contiguous memory."""
    window = torch.hann_window(n_fft, device=waves.device, dtype=waves.dtype)
    spectrum = torch.stft(waves, n_fft, hop_length, window=window, center=True,
                          return_complex=True).transpose(1, 2).contiguous()
    frames, bins = spectrum.shape[1], spectrum.shape[2]
    out_frames = math.ceil(frames * float(stretch.max())) + 1
    positions = (torch.arange(out_frames, device=waves.device, dtype=waves.dtype)[None, :]
                 / stretch[:, None])
    inside = (positions <= frames - 1)[..., None]
    positions = positions.clamp(max=frames - 1)
    first = positions.floor().long()
    fraction = (positions - first)[..., None]
    second = (first + 1).clamp(max=frames - 1)
    magnitude, phase = spectrum.abs(), spectrum.angle()

    def at(values: Tensor, index: Tensor) -> Tensor:
        return values.gather(1, index[..., None].expand(-1, -1, bins))

    advance = (2 * math.pi * hop_length / n_fft) * torch.arange(
        bins, device=waves.device, dtype=waves.dtype)
    analysis = at(phase, first)
    step = at(phase, second) - analysis - advance
    step = step - 2 * math.pi * torch.round(step / (2 * math.pi)) + advance
    travelled = torch.cat([phase[:, :1], step[:, :-1]], dim=1).cumsum(dim=1)
    magnitude_out = torch.lerp(at(magnitude, first), at(magnitude, second), fraction) * inside
    peaks = nearest_peaks(magnitude_out)
    phase_out = travelled.gather(2, peaks) + analysis - analysis.gather(2, peaks)
    return torch.istft(torch.polar(magnitude_out, phase_out).transpose(1, 2), n_fft,
                       hop_length, window=window, center=True, length=length)


@AUGMENTATIONS.register("pitch_shift")
class PitchShift(AudioAugmentation):
    """Shift each clip's pitch by n semitones drawn uniformly in [-max_semitones,
    max_semitones] without changing its duration: time-stretch by 2**(n/12) with the batched
    phase vocoder (`time_stretch`, per-sample rates, one STFT setting), then resample by
    2**(n/12) (linear interpolation) back to T samples. The costliest op of this module."""

    def __init__(self, max_semitones: float = 2.0, n_fft: int = 512,
                 hop_length: int = 128) -> None:
        if not 0 <= max_semitones <= 24:
            raise ValueError(f"PitchShift max_semitones must be in [0, 24]; got {max_semitones}")
        if not 0 < hop_length <= n_fft // 2:
            raise ValueError(f"PitchShift needs 0 < hop_length <= n_fft / 2; got n_fft={n_fft}, "
                             f"hop_length={hop_length}")
        self.max_semitones = float(max_semitones)
        self.n_fft, self.hop_length = int(n_fft), int(hop_length)

    @property
    def is_identity(self) -> bool:
        return self.max_semitones == 0

    def draw(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """(B,) shifts in semitones."""
        return uniform(generator, x.shape[0], -self.max_semitones, self.max_semitones,
                       x.device).to(x.dtype)

    def transform(self, x: Tensor, semitones: Tensor) -> Tensor:
        if x.shape[-1] <= self.n_fft // 2:
            raise ValueError(f"PitchShift needs clips longer than n_fft / 2 = {self.n_fft // 2} "
                             f"samples; got {x.shape[-1]} (lower n_fft)")
        factors = torch.pow(2.0, semitones / 12)
        length = x.shape[-1]
        stretched = time_stretch(x[:, 0], factors, self.n_fft, self.hop_length,
                                 math.ceil(length * float(factors.max())) + 1)
        steps = torch.arange(length, device=x.device, dtype=x.dtype)
        return read_at(stretched[:, None], steps[None, :] * factors[:, None])


def band_gains(frequencies: Tensor, low: Tensor, high: Tensor, skirt_octaves: float) -> Tensor:
    """(B, F) gains of band-pass masks: 1 inside [low, high] (B,) Hz, raised-cosine skirts
    `skirt_octaves` wide outside each edge, 0 beyond. low = 0 keeps the lowest frequencies;
    high >= Nyquist keeps the highest."""
    floor = frequencies[1] / 2 if frequencies.numel() > 1 else frequencies.new_tensor(1.0)
    log_frequency = torch.log2(frequencies.clamp(min=floor))[None, :]
    below = (torch.log2(low)[:, None] - log_frequency) / skirt_octaves  # octaves under the band
    above = (log_frequency - torch.log2(high)[:, None]) / skirt_octaves

    def skirt(octaves: Tensor) -> Tensor:
        return 0.5 * (1 + torch.cos(math.pi * octaves.clamp(0, 1)))

    return skirt(below) * skirt(above)


@AUGMENTATIONS.register("band_pass")
class BandPass(AudioAugmentation):
    """Keep a frequency band of each clip: low and high cut-offs (Hz) drawn in `low_hz` and
    `high_hz`, applied as a zero-phase mask in the rFFT domain (`band_gains`: the pass band is
    [low, high], smooth raised-cosine skirts `skirt_octaves` wide lie outside it). The clip is
    zero-padded by T/8 first so filter ringing does not wrap around. low_hz=(0, 0) with
    high_hz at Nyquist is the identity."""

    def __init__(self, low_hz: Sequence[float] = (50.0, 400.0),
                 high_hz: Sequence[float] = (3000.0, 7500.0), sample_rate: int = SAMPLE_RATE,
                 skirt_octaves: float = 0.5) -> None:
        self.sample_rate = _check_sample_rate("BandPass", sample_rate)
        nyquist = self.sample_rate / 2
        self.low_hz = _check_range("BandPass", "low_hz", low_hz, 0.0, nyquist)
        self.high_hz = _check_range("BandPass", "high_hz", high_hz, 0.0, nyquist)
        if self.low_hz[1] > self.high_hz[0] or self.high_hz[1] == 0:
            raise ValueError(f"BandPass needs every low cut below every high cut (low_hz[1] <= "
                             f"high_hz[0], high_hz > 0); got low_hz={self.low_hz}, "
                             f"high_hz={self.high_hz}")
        if not 0 < skirt_octaves < math.inf:
            raise ValueError(f"BandPass skirt_octaves must be > 0; got {skirt_octaves}")
        self.skirt_octaves = float(skirt_octaves)

    @property
    def is_identity(self) -> bool:
        return self.low_hz[1] == 0 and self.high_hz[0] >= self.sample_rate / 2

    def draw(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """(B,) low cut-offs and (B,) high cut-offs in Hz."""
        low = uniform(generator, x.shape[0], *self.low_hz, x.device).to(x.dtype)
        high = uniform(generator, x.shape[0], *self.high_hz, x.device).to(x.dtype)
        return low, high

    def transform(self, x: Tensor, parameters: tuple[Tensor, Tensor]) -> Tensor:
        low, high = parameters
        length = x.shape[-1]
        size = fast_fft_size(length + length // 8)
        frequencies = torch.fft.rfftfreq(size, 1 / self.sample_rate, device=x.device,
                                         dtype=x.dtype)
        gains = band_gains(frequencies, low, high, self.skirt_octaves)
        spectrum = torch.fft.rfft(x, n=size, dim=-1) * gains[:, None, :]
        return torch.fft.irfft(spectrum, n=size, dim=-1)[..., :length]


@AUGMENTATIONS.register("batch_mixing")
class BatchMixing(AudioAugmentation):
    """Mix into each clip another clip of the same batch (a random derangement: never itself)
    at an SNR drawn in `snr_db`: a background-speech view whose label stays the first clip's
    (not mixup of labels; BYOL-A's background mixing, Niizumi et al. 2021). A batch of one clip
    is returned unchanged; inside RandomApply the partners come from the chosen clips."""

    def __init__(self, snr_db: Sequence[float] = (10.0, 30.0)) -> None:
        self.snr_db = _check_snr("BatchMixing", snr_db)

    @property
    def is_identity(self) -> bool:
        return math.isinf(self.snr_db[0])

    def draw(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """(B,) SNRs in dB, (B,) index of each clip's partner."""
        batch = x.shape[0]
        snr = uniform(generator, batch, *self.snr_db, x.device).to(x.dtype)
        order = torch.randperm(batch, generator=generator, device=x.device)
        partners = torch.empty_like(order)
        partners[order] = order.roll(-1)
        return snr, partners

    def transform(self, x: Tensor, parameters: tuple[Tensor, Tensor]) -> Tensor:
        snr, partners = parameters
        itself = partners == torch.arange(x.shape[0], device=x.device)
        return mix_at_snr(x, x[partners], torch.where(itself, math.inf, snr))


class _SpecMasking(AudioAugmentation):
    """SpecAugment masks along one feature axis (Park et al. 2019): `count` masks per sample,
    each of a width drawn uniformly in [0, min(max_width, max_fraction * axis size)] at a
    uniform start, filled with the sample's mean feature value (on mean-normalised features,
    Park et al.'s zero)."""

    axis: int

    def __init__(self, count: int = 2, max_width: int = 10, max_fraction: float = 1.0) -> None:
        name = type(self).__name__
        if int(count) != count or count < 0 or int(max_width) != max_width or max_width < 0:
            raise ValueError(f"{name} count and max_width must be whole numbers >= 0; got "
                             f"count={count}, max_width={max_width}")
        if not 0 <= max_fraction <= 1:
            raise ValueError(f"{name} max_fraction must be in [0, 1]; got {max_fraction}")
        self.count, self.max_width = int(count), int(max_width)
        self.max_fraction = float(max_fraction)

    def check(self, x: Tensor) -> None:
        check_features(x, type(self).__name__)

    @property
    def is_identity(self) -> bool:
        return self.count == 0 or self.max_width == 0 or self.max_fraction == 0

    def draw(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """(B, count) mask starts and (B, count) widths, in bins or frames."""
        size = x.shape[self.axis]
        widest = min(self.max_width, math.floor(self.max_fraction * size))
        shape = (x.shape[0], self.count)
        widths = (torch.rand(shape, generator=generator, device=x.device) * (widest + 1)).long()
        widths = widths.clamp(max=widest)
        room = (size - widths + 1).float()
        starts = (torch.rand(shape, generator=generator, device=x.device) * room).long()
        return torch.minimum(starts, size - widths), widths

    def transform(self, x: Tensor, parameters: tuple[Tensor, Tensor]) -> Tensor:
        starts, widths = parameters
        steps = torch.arange(x.shape[self.axis], device=x.device)[None, None, :]
        masked = ((steps >= starts[..., None]) & (steps < (starts + widths)[..., None])).any(1)
        shape = [x.shape[0], 1, 1, 1]
        shape[self.axis] = x.shape[self.axis]
        fill = x.mean(dim=(1, 2, 3), keepdim=True)
        return torch.where(masked.reshape(shape), fill, x)


@AUGMENTATIONS.register("frequency_masking")
class FrequencyMasking(_SpecMasking):
    """SpecAugment frequency masks on (B, 1, n_mels, frames): `count` bands of up to
    `max_width` mel bins per sample (Park et al. 2019's m_F and F)."""

    axis = 2


@AUGMENTATIONS.register("time_masking")
class TimeMasking(_SpecMasking):
    """SpecAugment time masks on (B, 1, n_mels, frames): `count` spans of up to `max_width`
    frames, and at most `max_fraction` of the frames each, per sample (Park et al. 2019's
    m_T, T and p)."""

    axis = 3


@AUGMENTATIONS.register("to_log_mel")
class ToLogMel(Augmentation):
    """Waveforms (B, 1, T) -> features (B, 1, n_mels, frames) by `frontend` (any nn.Module doing
    that, e.g. the room's LogMel), so a pipeline can go on with SpecAugment masks. Not random."""

    def __init__(self, frontend: nn.Module) -> None:
        if not callable(frontend):
            raise ValueError(f"ToLogMel needs a frontend module; got {type(frontend).__name__}")
        self.frontend = frontend

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        check_waveforms(x, "ToLogMel")
        features = self.frontend(x)
        if not isinstance(features, Tensor) or features.dim() != 4:
            shape = tuple(features.shape) if isinstance(features, Tensor) else type(features)
            raise ValueError(f"ToLogMel's frontend must map (batch, 1, samples) to (batch, 1, "
                             f"n_mels, frames); it made {shape}")
        return features


def _check_strength(owner: str, strength: float) -> float:
    if not 0 <= strength < math.inf:
        raise ValueError(f"{owner} strength must be a finite number >= 0 (0 = no augmentation); "
                         f"got {strength}")
    return float(strength)


def _weaker_snr(snr_db: tuple[float, float], strength: float) -> tuple[float, float]:
    """An SNR range at `strength`: the mixed signal's amplitude scales with strength (0: none)."""
    if strength == 0:
        return math.inf, math.inf
    return snr_db[0] - 20 * math.log10(strength), snr_db[1] - 20 * math.log10(strength)


def _feature_steps(frontend: nn.Module | None, strength: float,
                   spec_masking: bool) -> list[Augmentation]:
    """ToLogMel and, if `spec_masking`, 2 frequency masks of up to 20% of the mel bins and 2
    time masks of up to 10 frames (100 ms at a 10 ms hop), scaled by `strength`."""
    if frontend is None:
        return []
    steps: list[Augmentation] = [ToLogMel(frontend)]
    if spec_masking:
        n_mels = int(getattr(frontend, "n_mels", 40))
        steps += [FrequencyMasking(2, round(0.2 * n_mels * strength)),
                  TimeMasking(2, round(10 * strength))]
    return steps


def audio_pipeline(strength: float = 1.0, sample_rate: int = SAMPLE_RATE,
                   frontend: nn.Module | None = None, spec_masking: bool = True) -> Compose:
    """The full audio view stack for 1-s speech clips (one view), magnitudes times `strength`
    (0 = identity up to the frontend): speed ±10% (p 0.5), pitch ±2 semitones (p 0.3), shift
    ±10% of T (p 0.5), reverberation RT60 0.1-0.6 s (p 0.3), another batch clip at 10-30 dB
    (p 0.2), white/pink/brown noise at 5-30 dB SNR (p 0.5), band-pass low 50-400 Hz, high
    3-7.5 kHz (p 0.3), gain ±6 dB; then ToLogMel and SpecAugment masks when `frontend` is given."""
    s = _check_strength("audio_pipeline", strength)
    sample_rate = _check_sample_rate("audio_pipeline", sample_rate)
    nyquist = sample_rate / 2
    high_cut = [max(nyquist - s * (nyquist - min(hz, nyquist)), nyquist / 8)
                for hz in (3000.0, 7500.0)]
    low_cut = [min(s * hz, high_cut[0]) for hz in (50.0, 400.0)]
    steps: list[Augmentation] = [
        RandomApply(SpeedChange(min(0.1 * s, 0.9)), p=0.5),
        RandomApply(PitchShift(min(2.0 * s, 24.0)), p=0.3),
        RandomApply(TimeShift(min(0.1 * s, 1.0)), p=0.5),
        RandomApply(Reverberation((min(0.1 * s, 10.0), min(0.6 * s, 10.0)), sample_rate), p=0.3),
        RandomApply(BatchMixing(_weaker_snr((10.0, 30.0), s)), p=0.2),
        RandomApply(AdditiveNoise(_weaker_snr((5.0, 30.0), s)), p=0.5),
        RandomApply(BandPass(low_cut, high_cut, sample_rate), p=0.3),
        Gain(6.0 * s),
    ]
    return Compose(steps + _feature_steps(frontend, s, spec_masking))


@AUGMENTATIONS.register("audio_views")
def audio_views(strength: float = 1.0, sample_rate: int = SAMPLE_RATE,
                frontend: nn.Module | None = None, spec_masking: bool = True) -> Views:
    """Two views of speech clips for SimCLR, MoCo or BYOL: the full stack (`audio_pipeline`:
    speed, pitch, shift, reverberation, background speech, noise, band-pass, gain; ToLogMel and
    SpecAugment when a frontend is given), magnitudes times `strength` (0 = identity)."""
    pipeline = audio_pipeline(strength, sample_rate, frontend, spec_masking)
    return Views([pipeline, pipeline]).rebuild_with(
        lambda level: audio_views(strength * level, sample_rate, frontend, spec_masking))


@AUGMENTATIONS.register("kws_speed_volume_views")
def kws_speed_volume_views(strength: float = 1.0, sample_rate: int = SAMPLE_RATE,
                           frontend: nn.Module | None = None,
                           spec_masking: bool = True) -> Views:
    """CAB-KWS's views (Dai et al. 2024, arXiv 2409.00356): speed (±15%) and volume (±10 dB)
    changes only, magnitudes ours and times `strength` (0 = identity); ToLogMel and SpecAugment
    masks when a frontend is given. `sample_rate` is accepted like every audio policy's."""
    s = _check_strength("kws_speed_volume_views", strength)
    _check_sample_rate("kws_speed_volume_views", sample_rate)
    pipeline = Compose([SpeedChange(min(0.15 * s, 0.9)), Gain(10.0 * s)]
                       + _feature_steps(frontend, s, spec_masking))
    return Views([pipeline, pipeline]).rebuild_with(
        lambda level: kws_speed_volume_views(strength * level, sample_rate, frontend,
                                             spec_masking))
