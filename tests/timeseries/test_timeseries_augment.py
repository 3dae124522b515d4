"""Time-series views: property tests (shape, dtype, seed determinism, identity at zero
strength, padding kept) and op-specific checks against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.timeseries.augment import (
    Cutout,
    FrequencyPerturbation,
    Jitter,
    MagnitudeWarp,
    Scaling,
    SegmentPermutation,
    Subsequence,
    TimestampMask,
    TimeWarp,
    WindowSlice,
    WindowWarp,
    interpolate,
    magnitude_views,
    timeseries_views,
    ts_tcc_views,
    valid_lengths,
)

OPS = {
    "jitter": (Jitter, {"sigma": 0.1}, {"sigma": 0.0}),
    "scaling": (Scaling, {"sigma": 0.2}, {"sigma": 0.0}),
    "magnitude_warp": (MagnitudeWarp, {"sigma": 0.2}, {"sigma": 0.0}),
    "time_warp": (TimeWarp, {"sigma": 0.3}, {"sigma": 0.0}),
    "window_slice": (WindowSlice, {"ratio": 0.7}, {"ratio": 1.0}),
    "window_warp": (WindowWarp, {"window_ratio": 0.3}, {"window_ratio": 0.0}),
    "segment_permutation": (SegmentPermutation, {"max_segments": 4}, {"max_segments": 1}),
    "timestamp_mask": (TimestampMask, {"p": 0.3}, {"p": 0.0}),
    "cutout": (Cutout, {"ratio": 0.25}, {"ratio": 0.0}),
    "frequency_perturbation": (FrequencyPerturbation, {"amplitude": 0.2, "phase": 0.1},
                               {"amplitude": 0.0, "phase": 0.0}),
    "subsequence": (Subsequence, {"ratio": 0.5}, {"ratio": 1.0}),
}
SHAPE_KEEPING = [name for name in OPS if name != "subsequence"]


def padded_batch(dtype=torch.float32) -> torch.Tensor:
    """4 series, 3 channels, length 40; series 1 and 3 are NaN-padded to 25 and 7 steps."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 40, generator=generator, dtype=dtype).cumsum(-1) / 5
    x[1, :, 25:] = float("nan")
    x[3, :, 7:] = float("nan")
    return x


def _generator(seed=1):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", list(OPS))
def test_registered_shape_dtype_determinism(name):
    cls, strong, _ = OPS[name]
    assert AUGMENTATIONS.get(name) is cls
    x = padded_batch()
    first = cls(**strong)(x, _generator())
    second = cls(**strong)(x, _generator())
    assert first.dtype == x.dtype and first.shape[:2] == x.shape[:2]
    if name != "subsequence":
        assert first.shape == x.shape
    torch.testing.assert_close(first, second, equal_nan=True)
    different = cls(**strong)(x, _generator(2))
    assert not torch.equal(torch.nan_to_num(first), torch.nan_to_num(different))


@pytest.mark.parametrize("name", list(OPS))
def test_identity_at_zero_strength(name):
    cls, _, zero = OPS[name]
    x = padded_batch()
    torch.testing.assert_close(cls(**zero)(x, _generator()), x, equal_nan=True)


@pytest.mark.parametrize("name", SHAPE_KEEPING)
def test_padding_stays_padding(name):
    cls, strong, _ = OPS[name]
    x = padded_batch()
    out = cls(**strong)(x, _generator())
    assert torch.equal(torch.isnan(out), torch.isnan(x))
    assert torch.equal(valid_lengths(out), torch.tensor([40, 25, 40, 7]))


@pytest.mark.parametrize("name", list(OPS))
def test_float64_and_bad_input(name):
    cls, strong, _ = OPS[name]
    assert cls(**strong)(padded_batch(torch.float64), _generator()).dtype == torch.float64
    with pytest.raises(ValueError, match="batch, channels, length"):
        cls(**strong)(torch.zeros(4, 40), _generator())


def test_valid_lengths_and_interpolate_match_numpy():
    assert valid_lengths(padded_batch()).tolist() == [40, 25, 40, 7]
    generator = np.random.default_rng(0)
    xp = np.sort(generator.random((3, 5)), axis=1) * 10
    fp = generator.random((3, 5))
    query = generator.random((3, 7)) * 12 - 1
    expected = np.stack([np.interp(q, a, b) for q, a, b in zip(query, xp, fp)])
    got = interpolate(torch.tensor(query), torch.tensor(xp), torch.tensor(fp))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_jitter_and_scaling_statistics():
    x = torch.zeros(64, 2, 500)
    noise = Jitter(0.5)(x, _generator())
    assert abs(float(noise.std()) - 0.5) < 0.01
    ones = torch.ones(8, 3, 50)
    scaled = Scaling(0.3)(ones, _generator())
    # one factor per series and channel, constant over time
    assert torch.allclose(scaled, scaled[:, :, :1].expand_as(scaled))
    assert not torch.allclose(scaled[:, 0, 0], scaled[:, 1, 0])


def test_resampling_ops_stay_in_range_and_keep_order():
    ramp = torch.arange(60.0).expand(5, 2, -1).clone()
    for op in (TimeWarp(0.5), WindowSlice(0.5), WindowWarp(0.4)):
        out = op(ramp, _generator())
        # linear interpolation of a monotone warp of a ramp: still non-decreasing, in range
        assert bool((out.diff(dim=-1) >= -1e-4).all()), type(op).__name__
        assert float(out.min()) >= -1e-4 and float(out.max()) <= 59 + 1e-4
        assert out[:, :, 0].le(59).all()


def test_window_slice_hand_computed():
    x = torch.arange(11.0)[None, None, :]  # L = 11, span 10
    out = WindowSlice(0.5)(x, _generator())
    start = float(out[0, 0, 0])
    # a window of width 5 starting at `start`, stretched over 11 steps
    expected = start + torch.arange(11.0) * 0.5
    torch.testing.assert_close(out[0, 0], expected)


def test_segment_permutation_is_a_permutation_of_the_valid_part():
    x = padded_batch()
    out = SegmentPermutation(5)(x, _generator())
    for row in range(4):
        length = int(valid_lengths(x)[row])
        original = x[row, :, :length]
        shuffled = out[row, :, :length]
        torch.testing.assert_close(shuffled.sort(dim=-1).values, original.sort(dim=-1).values)
        # channels move together: each output step is one input step
        columns = {tuple(original[:, t].tolist()) for t in range(length)}
        assert all(tuple(shuffled[:, t].tolist()) in columns for t in range(length))
    assert not torch.equal(torch.nan_to_num(out), torch.nan_to_num(x))


def test_cutout_and_timestamp_mask():
    ones = torch.ones(6, 2, 40)
    cut = Cutout(0.25)(ones, _generator())
    zeros_per_series = (cut[:, 0] == 0).sum(dim=1)
    assert zeros_per_series.tolist() == [10] * 6
    assert torch.equal(cut[:, 0], cut[:, 1])  # whole timestamps
    masked = TimestampMask(0.3)(torch.ones(32, 2, 200), _generator())
    rate = float((masked[:, 0] == 0).float().mean())
    assert abs(rate - 0.3) < 0.03 and torch.equal(masked[:, 0], masked[:, 1])


def test_frequency_perturbation_keeps_the_mean():
    x = torch.randn(8, 2, 64, generator=_generator(3))
    out = FrequencyPerturbation(0.3, 0.2)(x, _generator())
    torch.testing.assert_close(out.mean(-1), x.mean(-1), atol=1e-5, rtol=0)
    assert not torch.allclose(out, x)


def test_subsequence_is_a_contiguous_slice():
    x = padded_batch()
    out = Subsequence(0.25)(x, _generator())
    assert out.shape == (4, 3, 10)
    for row in range(4):
        windows = x[row].unfold(-1, 10, 1)  # (C, positions, 10)
        match = [torch.equal(torch.nan_to_num(windows[:, p]), torch.nan_to_num(out[row]))
                 for p in range(windows.shape[1])]
        assert any(match)
    # series 0 (no padding) never takes a window past its end; series 3 (length 7) starts at 0
    torch.testing.assert_close(out[3], x[3, :, :10], equal_nan=True)


def test_presets():
    x = padded_batch()
    views = timeseries_views(1.0)(x, _generator())
    assert len(views) == 2 and all(v.shape == x.shape for v in views)
    assert not torch.equal(torch.nan_to_num(views[0]), torch.nan_to_num(views[1]))
    weak, strong = ts_tcc_views()(x, _generator())
    assert weak.shape == strong.shape == x.shape
    for preset in (timeseries_views, ts_tcc_views, magnitude_views):
        same = preset(0.0)(x, _generator())
        for view in same:
            torch.testing.assert_close(view, x, equal_nan=True)
    with pytest.raises(ValueError, match="strength"):
        timeseries_views(-1)
    with pytest.raises(ValueError, match="strength"):
        magnitude_views(-1)


def test_magnitude_views_keep_timing():
    """Values change, timing does not: padding stays where it was and each view is a smooth,
    positive rescaling of the series plus small noise, so sign changes line up."""
    x = padded_batch()
    first, second = magnitude_views(1.0)(x, _generator())
    for view in (first, second):
        assert view.shape == x.shape and view.dtype == x.dtype
        assert torch.equal(torch.isnan(view), torch.isnan(x))
        assert not torch.allclose(torch.nan_to_num(view), torch.nan_to_num(x))
    again = magnitude_views(1.0)(x, _generator())
    torch.testing.assert_close(again[0], first, equal_nan=True)
    big = torch.nan_to_num(x).abs() > 1.0
    assert torch.equal(torch.sign(torch.nan_to_num(first))[big], torch.sign(x)[big])


def test_invalid_settings():
    for build in (lambda: Jitter(-1), lambda: WindowSlice(0), lambda: WindowWarp(2.0),
                  lambda: SegmentPermutation(0), lambda: TimestampMask(1.5),
                  lambda: Cutout(-0.1), lambda: Subsequence(1.5),
                  lambda: WindowWarp(0.1, scales=[0.0])):
        with pytest.raises(ValueError):
            build()
