"""Batched DTW against the textbook dynamic programme, cell by cell in Python."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlearn.evaluation.dtw import pairwise_dtw, series_lengths


def textbook_dtw(a: torch.Tensor, b: torch.Tensor) -> float:
    """a (La, C), b (Lb, C): sqrt of the least sum of squared costs along a warping path."""
    rows, cols = len(a), len(b)
    table = [[math.inf] * (cols + 1) for _ in range(rows + 1)]
    table[0][0] = 0.0
    for i in range(1, rows + 1):
        for j in range(1, cols + 1):
            cost = float(((a[i - 1] - b[j - 1]) ** 2).sum())
            table[i][j] = cost + min(table[i - 1][j], table[i][j - 1], table[i - 1][j - 1])
    return math.sqrt(table[rows][cols])


def _valid(series: torch.Tensor) -> torch.Tensor:
    keep = ~torch.isnan(series).any(dim=0)
    return series[:, keep].T


@pytest.mark.parametrize("channels,max_elements", [(1, 2 ** 23), (3, 40)])
def test_pairwise_dtw_matches_the_textbook_programme(channels, max_elements):
    generator = torch.Generator().manual_seed(channels)
    x = torch.randn(6, channels, 11, generator=generator, dtype=torch.float64)
    x[1, :, 8:] = float("nan")   # unequal lengths, NaN-padded at the end
    x[4, :, 3:] = float("nan")
    got = pairwise_dtw(x, max_elements=max_elements)  # 40: a few pairs per chunk
    assert got.shape == (6, 6) and got.dtype == torch.float64
    for p in range(6):
        for q in range(6):
            expected = textbook_dtw(_valid(x[p]), _valid(x[q]))
            assert float(got[p, q]) == pytest.approx(expected, rel=1e-9, abs=1e-12), (p, q)


def test_dtw_properties_and_shifts():
    t = torch.linspace(0, 6.28, 40)
    wave = torch.sin(t)
    shifted = torch.sin(t - 0.3)
    far = torch.sin(3 * t)
    x = torch.stack([wave, shifted, far])[:, None, :]
    distances = pairwise_dtw(x)
    torch.testing.assert_close(distances, distances.T)
    assert torch.all(distances.diagonal() == 0)
    # warping absorbs a time shift: the shifted copy is far closer than another frequency
    assert distances[0, 1] < 0.3 * distances[0, 2]
    # never above the lock-step Euclidean distance (the diagonal path is one warping path)
    assert distances[0, 2] <= torch.linalg.vector_norm(wave - far) + 1e-6


def test_dtw_bad_input():
    assert torch.equal(series_lengths(torch.tensor([[[1.0, 2.0, float("nan")]]])),
                       torch.tensor([2]))
    with pytest.raises(ValueError, match=r"\(N, C, L\)"):
        pairwise_dtw(torch.zeros(3, 5))
    empty = torch.zeros(2, 1, 4)
    empty[1] = float("nan")
    with pytest.raises(ValueError, match="no valid timestamp"):
        pairwise_dtw(empty)
