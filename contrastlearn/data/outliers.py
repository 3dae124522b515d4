"""Outlier-dominated data: one huge value sets a range or a standard deviation, and dividing by
it squashes every other value to 0. The rule here spots such data and clips it; every room that
scales by a statistic of the whole dataset uses it, so the rule is the same everywhere."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

OUTLIER_RATIO = 100.0
"""Data whose largest |value| exceeds this many times the ROBUST_PERCENTILE of its non-zero
|values| is dominated by outliers."""
ROBUST_PERCENTILE = 99.9
PERCENTILE_SAMPLE = 2_000_000
"""The percentile of larger arrays is taken on a seeded sample of this many values (fast)."""


def finite_values(values: Tensor) -> Tensor:
    """The finite entries of `values` (flat), without a copy when all of them are finite."""
    flat = values.flatten()
    if not flat.is_floating_point():
        return flat
    finite = torch.isfinite(flat)
    return flat if bool(finite.all()) else flat[finite]


def outlier_limit(values: Tensor) -> float | None:
    """The ROBUST_PERCENTILE of the finite, non-zero |values| when the largest of them exceeds
    it OUTLIER_RATIO times (outlier-dominated data), else None. Zeros are left out, so mostly
    black images with a few bright pixels are not taken for outliers."""
    flat = values.detach().flatten()
    if flat.dtype == torch.bool:
        return None
    finite = finite_values(flat)
    if finite.numel() == 0:
        return None
    largest = max(float(finite.max()), -float(finite.min()))
    sample = finite
    if len(sample) > PERCENTILE_SAMPLE:
        generator = torch.Generator().manual_seed(0)
        sample = sample[torch.randint(len(sample), (PERCENTILE_SAMPLE,), generator=generator)]
    magnitudes = sample.double().abs()
    magnitudes = magnitudes[magnitudes > 0]
    if magnitudes.numel() == 0:
        return None
    # "lower": with under 1,000 values a linear percentile would lean on the outlier itself
    limit = float(np.percentile(magnitudes.cpu().numpy(), ROBUST_PERCENTILE, method="lower"))
    return limit if largest > OUTLIER_RATIO * limit else None


def clip_finite(values: Tensor, limit: float | Tensor) -> Tensor:
    """Finite values clipped to [-limit, limit] (a tensor `limit` broadcasts, e.g. one per
    channel); NaN and Inf stay, so padding survives and validation still names bad values."""
    bound = torch.as_tensor(limit, dtype=values.dtype)
    return torch.where(torch.isfinite(values), values.clamp(-bound, bound), values)


def count_beyond(values: Tensor, limit: float | Tensor) -> int:
    """How many finite values lie beyond [-limit, limit]."""
    beyond = values.double().abs() > torch.as_tensor(limit, dtype=torch.float64)
    return int((beyond & torch.isfinite(values)).sum())


def robust_note(clipped: int) -> str:
    """How outlier-dominated data were scaled, as runs record it (`input_scale_method`)."""
    return f"robust ({ROBUST_PERCENTILE:g}th percentile); {clipped} values clipped"


def outlier_warning(what: str, limit: str, clipped: int, scaled_by: str) -> str:
    """The one-line warning when outlier-dominated data are scaled robustly."""
    return (f"{what} is dominated by outliers (its largest |value| is over {OUTLIER_RATIO:g}x "
            f"the {ROBUST_PERCENTILE:g}th percentile of |values|, {limit}), so it is scaled by "
            f"{scaled_by} after clipping {clipped} value(s) beyond that percentile; fix or drop "
            "the outliers to silence this")
