"""Dynamic time warping between every pair of series of a set, batched on any device.

The dynamic programme is swept one anti-diagonal at a time for many pairs at once: cells on an
anti-diagonal depend only on the two before it, so each step is a few tensor operations over
(pairs, cells) instead of a Python loop over cells or pairs.
"""

from __future__ import annotations

import torch
from torch import Tensor


def series_lengths(x: Tensor) -> Tensor:
    """Valid lengths of (N, C, L) series NaN-padded at the end."""
    return (~torch.isnan(x).any(dim=1)).sum(dim=-1)


def _pair_dtw(a: Tensor, b: Tensor, length_a: Tensor, length_b: Tensor) -> Tensor:
    """DTW of P pairs of (P, L, C) series with their valid lengths: the square root of the
    smallest sum of squared Euclidean costs along a warping path from the first timestamps
    to the last valid ones."""
    pairs, steps, _ = a.shape
    # anti-diagonal k holds cell (i, k - i) at position i + 1; position 0 stays infinite, so
    # the cell above (i - 1) is a plain slice; three buffers rotate (diagonals k-2, k-1, k)
    buffers = [torch.full((pairs, steps + 2), float("inf"), dtype=a.dtype, device=a.device)
               for _ in range(3)]
    b_reversed = b.flip(1)  # b[k - i] for consecutive i is then a contiguous slice
    result = torch.full((pairs,), float("inf"), dtype=a.dtype, device=a.device)
    end_diagonal = length_a + length_b - 2
    end_position = length_a[:, None]
    for diagonal in range(2 * steps - 1):
        low, high = max(0, diagonal - steps + 1), min(diagonal, steps - 1)
        before_last, last, current = (buffers[(diagonal + shift) % 3] for shift in (1, 2, 0))
        offset = steps - 1 - diagonal
        cost = (a[:, low:high + 1] - b_reversed[:, offset + low:offset + high + 1])
        cost = cost.square().sum(dim=-1)
        if diagonal == 0:
            current[:, 1] = cost[:, 0]
        else:
            best = torch.minimum(last[:, low + 1:high + 2], last[:, low:high + 1])
            best = torch.minimum(best, before_last[:, low:high + 1])
            torch.add(cost, best, out=current[:, low + 1:high + 2])
        current[:, low] = float("inf")
        current[:, high + 2] = float("inf")
        ends = end_diagonal == diagonal
        if ends.any():
            result = torch.where(ends, current.gather(1, end_position).squeeze(1), result)
    return result.sqrt()


def pairwise_dtw(x: Tensor, *, max_elements: int = 2 ** 23) -> Tensor:
    """(N, N) DTW distances between the N series of x (N, C, L), NaN-padded at the end, each
    pair over its own valid lengths (squared Euclidean cost across channels, as dependent
    multivariate DTW). Pairs are processed in chunks of about `max_elements` values per
    anti-diagonal to bound memory; the computation runs on x's device."""
    if x.dim() != 3:
        raise ValueError(f"pairwise_dtw expects series (N, C, L); got shape {tuple(x.shape)}")
    lengths = series_lengths(x)
    if len(x) and int(lengths.min()) == 0:
        raise ValueError("pairwise_dtw got a series with no valid timestamp")
    series = torch.nan_to_num(x, nan=0.0).transpose(1, 2)  # (N, L, C)
    first, second = torch.triu_indices(len(x), len(x), offset=1, device=x.device)
    distances = torch.zeros(len(x), len(x), dtype=x.dtype, device=x.device)
    chunk = max(1, max_elements // max(1, series.shape[1] * series.shape[2]))
    for start in range(0, len(first), chunk):
        i, j = first[start:start + chunk], second[start:start + chunk]
        values = _pair_dtw(series[i], series[j], lengths[i], lengths[j])
        distances[i, j] = values
        distances[j, i] = values
    return distances
