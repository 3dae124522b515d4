"""Time-series views: batched torch ops on (B, C, T) series with per-sample random parameters.

Series of unequal length arrive padded at the end with NaN (see `timeseries.data`). Every op
is mask-aware: it works on each series' valid part only (its length L = last finite timestamp
+ 1), keeps the padding NaN, and never moves padding into the valid part. Each op is the
identity at zero strength (sigma, p or ratio 0; `window_slice` at ratio 1; one segment for
`segment_permutation`), and the same generator state gives the same views.

The ops follow the time-series augmentation survey of Iwana & Uchida (2021, PLoS ONE) and the
views of TS-TCC (Eldele et al. 2021) and TS2Vec (Yue et al. 2022).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from contrastlearn.augment.base import Augmentation, Compose, Identity, uniform
from contrastlearn.augment.views import Views
from contrastlearn.core.registry import AUGMENTATIONS

EPSILON = 1e-6


def check_series(x: Tensor, owner: str) -> None:
    """Raise a clear error unless `x` is a floating (B, C, T) batch."""
    if not isinstance(x, Tensor) or x.dim() != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{owner} expects series of shape (batch, channels, length); got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"{owner} expects floating-point series; got {x.dtype}")


def valid_lengths(x: Tensor) -> Tensor:
    """(B,) number of leading timestamps of each series that are not NaN padding."""
    finite = torch.isfinite(x).all(dim=1)  # (B, T)
    steps = torch.arange(1, x.shape[-1] + 1, device=x.device)
    return (finite * steps).amax(dim=1)


def padding_mask(lengths: Tensor, length: int) -> Tensor:
    """(B, 1, T) True where a timestamp is padding."""
    steps = torch.arange(length, device=lengths.device)
    return (steps[None, :] >= lengths[:, None])[:, None, :]


def interpolate(query: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """Batched piecewise-linear interpolation: rows of `xp` (B, K) are increasing knots with
    values `fp` (B, K); `query` (B, Q) is clamped to each row's knot range."""
    query = torch.minimum(torch.maximum(query, xp[:, :1]), xp[:, -1:])
    right = torch.searchsorted(xp.contiguous(), query.contiguous(), right=True)
    right = right.clamp(1, xp.shape[1] - 1)
    left = right - 1
    x0, x1 = xp.gather(1, left), xp.gather(1, right)
    f0, f1 = fp.gather(1, left), fp.gather(1, right)
    weight = (query - x0) / (x1 - x0).clamp(min=EPSILON)
    return f0 + weight.clamp(0, 1) * (f1 - f0)


def resample(x: Tensor, positions: Tensor, lengths: Tensor) -> Tensor:
    """Read each series at fractional source `positions` (B, T') by linear interpolation
    between neighbouring timestamps; output steps at or beyond a series' length are NaN."""
    filled = torch.nan_to_num(x)
    last = (lengths - 1).clamp(min=0)[:, None].to(positions.dtype)
    positions = torch.minimum(positions.clamp(min=0), last)
    below = positions.floor().long()
    above = torch.minimum(below + 1, last.long())
    weight = (positions - below.to(positions.dtype))[:, None, :]
    channels = x.shape[1]
    gather_below = filled.gather(2, below[:, None, :].expand(-1, channels, -1))
    gather_above = filled.gather(2, above[:, None, :].expand(-1, channels, -1))
    out = gather_below + weight * (gather_above - gather_below)
    return out.masked_fill(padding_mask(lengths, positions.shape[1]), float("nan"))


def _time_grid(x: Tensor) -> Tensor:
    """(B, T) output timestamps 0..T-1 as floats."""
    steps = torch.arange(x.shape[-1], device=x.device, dtype=x.dtype)
    return steps.expand(x.shape[0], -1)


def _knots(lengths: Tensor, count: int, dtype: torch.dtype) -> Tensor:
    """(B, count) knots evenly spaced over each series' valid range [0, L-1]."""
    fractions = torch.linspace(0, 1, count, device=lengths.device, dtype=dtype)
    return fractions[None, :] * (lengths - 1).clamp(min=0)[:, None].to(dtype)


def _keep_padding(x: Tensor, out: Tensor) -> Tensor:
    return torch.where(torch.isnan(x), x, out)


@AUGMENTATIONS.register("jitter")
class Jitter(Augmentation):
    """Add Gaussian noise N(0, sigma^2) to every value."""

    def __init__(self, sigma: float = 0.03) -> None:
        if sigma < 0:
            raise ValueError(f"Jitter sigma must be >= 0, got {sigma}")
        self.sigma = float(sigma)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        check_series(x, "Jitter")
        if self.sigma == 0:
            return x
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x + self.sigma * noise


@AUGMENTATIONS.register("scaling")
class Scaling(Augmentation):
    """Multiply each channel of each series by a factor drawn from N(1, sigma^2)."""

    def __init__(self, sigma: float = 0.1) -> None:
        if sigma < 0:
            raise ValueError(f"Scaling sigma must be >= 0, got {sigma}")
        self.sigma = float(sigma)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        check_series(x, "Scaling")
        if self.sigma == 0:
            return x
        shape = (x.shape[0], x.shape[1], 1)
        factor = 1 + self.sigma * torch.randn(shape, generator=generator, device=x.device,
                                              dtype=x.dtype)
        return x * factor


@AUGMENTATIONS.register("magnitude_warp")
class MagnitudeWarp(Augmentation):
    """Multiply each channel by a smooth random curve: values N(1, sigma^2) at `knots` + 2
    evenly spaced knots over the valid part, linearly interpolated."""

    def __init__(self, sigma: float = 0.2, knots: int = 4) -> None:
        if sigma < 0 or knots < 0:
            raise ValueError(f"MagnitudeWarp needs sigma >= 0 and knots >= 0; got {sigma}, "
                             f"{knots}")
        self.sigma, self.knots = float(sigma), int(knots)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        check_series(x, "MagnitudeWarp")
        if self.sigma == 0:
            return x
        batch, channels, length = x.shape
        count = self.knots + 2
        values = 1 + self.sigma * torch.randn((batch * channels, count), generator=generator,
                                              device=x.device, dtype=x.dtype)
        knots = _knots(valid_lengths(x), count, x.dtype).repeat_interleave(channels, dim=0)
        grid = _time_grid(x).repeat_interleave(channels, dim=0)
        curve = interpolate(grid, knots, values).reshape(batch, channels, length)
        return x * curve


@AUGMENTATIONS.register("time_warp")
class TimeWarp(Augmentation):
    """Smoothly speed up and slow down time: random speeds N(1, sigma^2) (at least 0.1)
    between `knots` + 2 evenly spaced knots define a monotone warp of the valid part, which is
    then resampled by linear interpolation. Channels share the warp."""

    def __init__(self, sigma: float = 0.2, knots: int = 4) -> None:
        if sigma < 0 or knots < 0:
            raise ValueError(f"TimeWarp needs sigma >= 0 and knots >= 0; got {sigma}, {knots}")
        self.sigma, self.knots = float(sigma), int(knots)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        check_series(x, "TimeWarp")
        if self.sigma == 0:
            return x
        lengths = valid_lengths(x)
        count = self.knots + 2
        speeds = 1 + self.sigma * torch.randn((x.shape[0], count - 1), generator=generator,
                                              device=x.device, dtype=x.dtype)
        travelled = torch.cat([torch.zeros_like(speeds[:, :1]), speeds.clamp(min=0.1).cumsum(1)],
                              dim=1)
        span = (lengths - 1).clamp(min=0)[:, None].to(x.dtype)
        warped = travelled / travelled[:, -1:] * span
        positions = interpolate(_time_grid(x), _knots(lengths, count, x.dtype), warped)
        return resample(x, positions, lengths)


@AUGMENTATIONS.register("window_slice")
class WindowSlice(Augmentation):
    """Take a random window covering `ratio` of the valid part and stretch it back to the
    full length (Le Guennec et al. 2016). ``ratio=1`` is the identity."""

    def __init__(self, ratio: float = 0.9) -> None:
        if not 0 < ratio <= 1:
            raise ValueError(f"WindowSlice ratio must be in (0, 1], got {ratio}")
        self.ratio = float(ratio)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        check_series(x, "WindowSlice")
        if self.ratio == 1:
            return x
        lengths = valid_lengths(x)
        span = (lengths - 1).clamp(min=0).to(x.dtype)
        width = self.ratio * span
        start = uniform(generator, x.shape[0], 0, 1, x.device).to(x.dtype) * (span - width)
        fraction = _time_grid(x) / span.clamp(min=1)[:, None]
        positions = start[:, None] + fraction * width[:, None]
        return resample(x, positions, lengths)


@AUGMENTATIONS.register("window_warp")
class WindowWarp(Augmentation):
    """Speed up or slow down a random window (`window_ratio` of the valid part) by a factor
    chosen per series from `scales`, then resample the whole series to its length (Le Guennec
    et al. 2016). ``window_ratio=0`` is the identity."""

    def __init__(self, window_ratio: float = 0.1, scales: Sequence[float] = (0.5, 2.0)) -> None:
        if not 0 <= window_ratio <= 1:
            raise ValueError(f"WindowWarp window_ratio must be in [0, 1], got {window_ratio}")
        scales = [float(s) for s in scales]
        if not scales or min(scales) <= 0:
            raise ValueError(f"WindowWarp scales must be > 0, got {scales}")
        self.window_ratio, self.scales = float(window_ratio), scales

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        check_series(x, "WindowWarp")
        if self.window_ratio == 0:
            return x
        batch = x.shape[0]
        lengths = valid_lengths(x)
        span = (lengths - 1).clamp(min=0).to(x.dtype)
        width = self.window_ratio * span
        start = uniform(generator, batch, 0, 1, x.device).to(x.dtype) * (span - width)
        choice = torch.randint(len(self.scales), (batch,), generator=generator, device=x.device)
        scale = torch.tensor(self.scales, device=x.device, dtype=x.dtype)[choice]
        source = torch.stack([torch.zeros_like(span), start, start + width, span], dim=1)
        stretched = torch.stack([torch.zeros_like(span), start, start + width * scale,
                                 start + width * scale + (span - start - width)], dim=1)
        stretched = stretched / stretched[:, -1:].clamp(min=EPSILON) * span[:, None]
        positions = interpolate(_time_grid(x), stretched, source)
        return resample(x, positions, lengths)


@AUGMENTATIONS.register("segment_permutation")
class SegmentPermutation(Augmentation):
    """Cut the valid part into 1..`max_segments` pieces at random points and shuffle them
    (TS-TCC's strong view). ``max_segments=1`` is the identity."""

    def __init__(self, max_segments: int = 5) -> None:
        if int(max_segments) < 1:
            raise ValueError(f"SegmentPermutation max_segments must be >= 1, got {max_segments}")
        self.max_segments = int(max_segments)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        check_series(x, "SegmentPermutation")
        if self.max_segments == 1:
            return x
        batch, channels, length = x.shape
        device = x.device
        segments = self.max_segments
        lengths = valid_lengths(x)
        count = torch.randint(1, segments + 1, (batch,), generator=generator, device=device)
        cuts = (torch.rand((batch, segments - 1), generator=generator, device=device)
                * lengths[:, None]).long()
        unused = torch.arange(segments - 1, device=device)[None, :] >= (count - 1)[:, None]
        cuts = torch.where(unused, lengths[:, None], cuts).sort(dim=1).values
        starts = torch.cat([torch.zeros_like(cuts[:, :1]), cuts], dim=1)
        sizes = torch.cat([cuts, lengths[:, None]], dim=1) - starts
        order = torch.rand((batch, segments), generator=generator, device=device).argsort(dim=1)
        moved_sizes = sizes.gather(1, order)
        moved_ends = moved_sizes.cumsum(dim=1)
        steps = torch.arange(length, device=device).expand(batch, -1).contiguous()
        slot = torch.searchsorted(moved_ends, steps, right=True).clamp(max=segments - 1)
        offset = steps - (moved_ends - moved_sizes).gather(1, slot)
        source = starts.gather(1, order.gather(1, slot)) + offset
        source = torch.minimum(source, (lengths - 1).clamp(min=0)[:, None])
        out = x.gather(2, source[:, None, :].expand(-1, channels, -1))
        return out.masked_fill(padding_mask(lengths, length), float("nan"))


@AUGMENTATIONS.register("timestamp_mask")
class TimestampMask(Augmentation):
    """Set each valid timestamp (all channels) to `value` with probability `p`."""

    def __init__(self, p: float = 0.1, value: float = 0.0) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"TimestampMask p must be in [0, 1], got {p}")
        self.p, self.value = float(p), float(value)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        check_series(x, "TimestampMask")
        if self.p == 0:
            return x
        shape = (x.shape[0], 1, x.shape[2])
        masked = torch.rand(shape, generator=generator, device=x.device) < self.p
        return _keep_padding(x, x.masked_fill(masked, self.value))


@AUGMENTATIONS.register("cutout")
class Cutout(Augmentation):
    """Set a random window of round(`ratio` * L) timestamps of each series to `value`."""

    def __init__(self, ratio: float = 0.1, value: float = 0.0) -> None:
        if not 0 <= ratio <= 1:
            raise ValueError(f"Cutout ratio must be in [0, 1], got {ratio}")
        self.ratio, self.value = float(ratio), float(value)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        check_series(x, "Cutout")
        if self.ratio == 0:
            return x
        lengths = valid_lengths(x)
        width = torch.round(self.ratio * lengths.to(x.dtype)).long()
        start = (uniform(generator, x.shape[0], 0, 1, x.device)
                 * (lengths - width + 1).to(torch.float32)).long()
        steps = torch.arange(x.shape[-1], device=x.device)[None, :]
        inside = (steps >= start[:, None]) & (steps < (start + width)[:, None])
        return _keep_padding(x, x.masked_fill(inside[:, None, :], self.value))


@AUGMENTATIONS.register("frequency_perturbation")
class FrequencyPerturbation(Augmentation):
    """Perturb the spectrum of each channel: amplitudes times N(1, amplitude^2) and phases
    plus N(0, (pi * phase)^2), frequency by frequency (the mean, frequency 0, is kept).
    Padding is zero while the spectrum is taken and NaN again afterwards."""

    def __init__(self, amplitude: float = 0.1, phase: float = 0.1) -> None:
        if amplitude < 0 or phase < 0:
            raise ValueError(f"FrequencyPerturbation needs amplitude, phase >= 0; got "
                             f"{amplitude}, {phase}")
        self.amplitude, self.phase = float(amplitude), float(phase)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        check_series(x, "FrequencyPerturbation")
        if self.amplitude == 0 and self.phase == 0:
            return x
        length = x.shape[-1]
        spectrum = torch.fft.rfft(torch.nan_to_num(x).float(), dim=-1)
        shape = spectrum.shape
        gain = 1 + self.amplitude * torch.randn(shape, generator=generator, device=x.device)
        shift = math.pi * self.phase * torch.randn(shape, generator=generator, device=x.device)
        gain[..., 0], shift[..., 0] = 1.0, 0.0
        perturbed = spectrum * gain * torch.polar(torch.ones_like(shift), shift)
        out = torch.fft.irfft(perturbed, n=length, dim=-1).to(x.dtype)
        return _keep_padding(x, out)


@AUGMENTATIONS.register("subsequence")
class Subsequence(Augmentation):
    """A random contiguous crop of round(`ratio` * T) timestamps from each series (the batch
    keeps one length; a crop of a short series may include its padding). ``ratio=1`` is the
    identity."""

    def __init__(self, ratio: float = 0.5) -> None:
        if not 0 < ratio <= 1:
            raise ValueError(f"Subsequence ratio must be in (0, 1], got {ratio}")
        self.ratio = float(ratio)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        check_series(x, "Subsequence")
        if self.ratio == 1:
            return x
        width = max(1, round(self.ratio * x.shape[-1]))
        room = (valid_lengths(x) - width).clamp(min=0)
        start = (uniform(generator, x.shape[0], 0, 1, x.device)
                 * (room + 1).to(torch.float32)).long()
        steps = start[:, None] + torch.arange(width, device=x.device)[None, :]
        return x.gather(2, steps[:, None, :].expand(-1, x.shape[1], -1))


@AUGMENTATIONS.register("timeseries_views")
def timeseries_views(strength: float = 1.0) -> Views:
    """Two views of instance contrast for z-normalised series: scaling, magnitude and time
    warps, jitter, timestamp masking and a cutout, all scaled by `strength` (0 = identity)."""
    if strength < 0:
        raise ValueError(f"timeseries_views strength must be >= 0, got {strength}")
    s = float(strength)
    pipeline = Compose([
        Scaling(0.2 * s), MagnitudeWarp(0.2 * s), TimeWarp(0.2 * s), Jitter(0.05 * s),
        TimestampMask(min(1.0, 0.1 * s)), Cutout(min(1.0, 0.1 * s)),
    ])
    return Views([pipeline, pipeline])


@AUGMENTATIONS.register("magnitude_views")
def magnitude_views(strength: float = 1.0) -> Views:
    """Two views that change values but never timing (scaling, a smooth magnitude warp and
    jitter, scaled by `strength`; 0 = identity), so timestamp t of one view still matches
    timestamp t of the other: the view policy for methods with temporal contrast (TS2Vec)."""
    if strength < 0:
        raise ValueError(f"magnitude_views strength must be >= 0, got {strength}")
    s = float(strength)
    pipeline = Compose([Scaling(0.1 * s), MagnitudeWarp(0.1 * s), Jitter(0.03 * s)])
    return Views([pipeline, pipeline])


@AUGMENTATIONS.register("ts_tcc_views")
def ts_tcc_views(strength: float = 1.0, max_segments: int = 5) -> Views:
    """TS-TCC's pair (Eldele et al. 2021): a weak view (jitter and scaling) and a strong view
    (segment permutation and stronger jitter). Magnitudes are ours, for z-normalised series,
    scaled by `strength`."""
    if strength < 0:
        raise ValueError(f"ts_tcc_views strength must be >= 0, got {strength}")
    s = float(strength)
    weak = Compose([Scaling(0.2 * s), Jitter(0.05 * s)])
    strong = Compose([SegmentPermutation(max_segments if s > 0 else 1), Jitter(0.2 * s)])
    return Views([weak, strong])


@AUGMENTATIONS.register("identity_views")
def identity_views() -> Views:
    """One view: the batch itself (for methods that make their own views, like TS2Vec)."""
    return Views([Identity()])


def take_windows(x: Tensor, starts: Tensor, length: int) -> Tensor:
    """(B, C, length) windows of `x` starting at `starts` (B,); steps outside the series are
    NaN (padding)."""
    steps = starts[:, None] + torch.arange(length, device=x.device)[None, :]
    inside = (steps >= 0) & (steps < x.shape[-1])
    windows = x.gather(2, steps.clamp(0, x.shape[-1] - 1)[:, None, :].expand(-1, x.shape[1], -1))
    return windows.masked_fill(~inside[:, None, :], float("nan"))


def overlapping_crops(
    x: Tensor, generator: torch.Generator, min_overlap: int = 2,
    second_source: Tensor | None = None, rows: tuple[int, int] | None = None,
) -> tuple[Tensor, Tensor, int]:
    """TS2Vec's contextual-consistency crops: two windows of each series that share a span of
    `overlap` timestamps (at least `min_overlap`), at a random per-series shift. Returns
    ``(first, second, overlap)``: the last `overlap` steps of `first` and the first `overlap`
    steps of `second` are the same timestamps. With `second_source` (another view of x, same
    shape), the second window is cut from it instead of from x. With `rows` = (offset, size),
    x is rows offset.. of a batch of `size` (one process's share): the shifts are drawn for
    the whole batch and this share's are used."""
    check_series(x, "overlapping_crops")
    if second_source is not None and second_source.shape != x.shape:
        raise ValueError(f"second_source has shape {tuple(second_source.shape)}, x has "
                         f"{tuple(x.shape)}")
    length = x.shape[-1]
    if length < min_overlap:
        raise ValueError(f"series of length {length} are shorter than the crop overlap "
                         f"{min_overlap}")

    def draw(low: int, high: int, size: int = 1) -> Tensor:
        return torch.randint(low, high, (size,), generator=generator,
                             device=generator.device).to(x.device)

    overlap = int(draw(min_overlap, length + 1))
    left = int(draw(0, length - overlap + 1))
    right = left + overlap
    outer_left = int(draw(0, left + 1))
    outer_right = int(draw(right, length + 1))
    offset, size = (0, x.shape[0]) if rows is None else rows
    shift = draw(-outer_left, length - outer_right + 1, size)[offset:offset + x.shape[0]]
    first = take_windows(x, shift + outer_left, right - outer_left)
    second = take_windows(x if second_source is None else second_source, shift + left,
                          outer_right - left)
    return first, second, overlap
