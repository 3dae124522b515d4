"""Training diagnostics against hand computations and naive loops."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contrastlearn.diagnostics import (
    COLLAPSE_STD_RATIO,
    collapse_warning,
    effective_rank,
    embedding_diagnostics,
    histogram_steps,
    similarity_histogram,
)


def _unprefixed(stats: dict) -> dict:
    assert all(key.startswith("diag_") for key in stats)
    return {key.removeprefix("diag_"): value for key, value in stats.items()}


def test_hand_computed_two_by_two():
    first = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    second = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # item 1's positive points at item 0
    stats = _unprefixed(embedding_diagnostics([first, second]))
    assert stats["pos_similarity"] == pytest.approx(0.5)  # (1 + 0) / 2
    assert stats["neg_similarity"] == pytest.approx(0.5)  # (first0·second1=1, first1·second0=0)
    # anchor 0: best match is column 0 (tie with 1 goes to the first) -> correct;
    # anchor 1: sims (0, 0) -> argmax 0 -> wrong
    assert stats["contrastive_accuracy"] == pytest.approx(0.5)
    assert stats["alignment"] == pytest.approx((0.0 + 2.0) / 2)
    # one pair at squared distance 2: log(exp(-4))
    assert stats["uniformity"] == pytest.approx(-4.0)
    # two unit rows, centred: (0.5, -0.5) and its negative span one direction -> rank 1
    assert stats["effective_rank"] == pytest.approx(1.0, rel=1e-5)
    assert stats["dim_std_mean"] == pytest.approx(math.sqrt(0.5), rel=1e-5)
    assert stats["std_ratio"] == pytest.approx(math.sqrt(0.5) * math.sqrt(2), rel=1e-5)


def test_against_naive_loops():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(12, 5, generator=generator), torch.randn(12, 5, generator=generator)
    ids = torch.tensor([0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 9])
    stats = _unprefixed(embedding_diagnostics([a, b], ids))
    na, nb = F.normalize(a, dim=1), F.normalize(b, dim=1)
    pos, neg, correct = [], [], 0
    for i in range(12):
        row = [float(na[i] @ nb[j]) for j in range(12)]
        for j in range(12):
            (pos if ids[i] == ids[j] else neg).append(row[j])
        best = max(range(12), key=lambda j: row[j])
        correct += int(ids[best] == ids[i])
    assert stats["pos_similarity"] == pytest.approx(sum(pos) / len(pos), abs=1e-6)
    assert stats["neg_similarity"] == pytest.approx(sum(neg) / len(neg), abs=1e-6)
    assert stats["contrastive_accuracy"] == pytest.approx(correct / 12)
    pairs = [float((na[i] - na[j]).pow(2).sum()) for i in range(12) for j in range(i + 1, 12)]
    expected = math.log(sum(math.exp(-2 * d) for d in pairs) / len(pairs))
    assert stats["uniformity"] == pytest.approx(expected, abs=1e-5)


def test_effective_rank_bounds_and_collapse():
    generator = torch.Generator().manual_seed(1)
    healthy = torch.randn(256, 16, generator=generator)
    assert 12 < effective_rank(F.normalize(healthy, dim=1)) <= 16
    collapsed = torch.ones(256, 16) + 1e-6 * torch.randn(256, 16, generator=generator)
    assert effective_rank(F.normalize(collapsed, dim=1)) < 1.1
    stats = embedding_diagnostics([collapsed, collapsed])
    assert stats["diag_std_ratio"] < COLLAPSE_STD_RATIO
    message = collapse_warning(stats, rank_limit=16)
    assert message is not None and "collapsed" in message and "std" in message
    # a shared offset is not collapse: the rank is measured on the centred batch
    offset = F.normalize(healthy, dim=1) + 5.0
    assert embedding_diagnostics([offset, offset])["diag_effective_rank"] > 12
    line = torch.randn(256, 1, generator=generator) * torch.randn(1, 16, generator=generator)
    assert embedding_diagnostics([line, line])["diag_effective_rank"] < 1.1
    assert collapse_warning(embedding_diagnostics([healthy, healthy + 0.1]), rank_limit=16) is None
    # two 2-D embeddings can never show a rank of 2 or more: no rank-based warning then
    tiny = {"diag_effective_rank": 1.5, "diag_std_ratio": 1.0}
    assert collapse_warning(tiny, rank_limit=2) is None
    assert "effective rank" in collapse_warning(tiny, rank_limit=64)


def test_histogram_counts_every_pair():
    generator = torch.Generator().manual_seed(2)
    a, b = torch.randn(10, 4, generator=generator), torch.randn(10, 4, generator=generator)
    histogram = similarity_histogram([a, b], bins=20)
    assert histogram["bins"] == 20 and histogram["range"] == [-1.0, 1.0]
    assert len(histogram["positive"]) == 20 and sum(histogram["positive"]) == 10
    assert sum(histogram["negative"]) == 90
    identical = similarity_histogram([a, a], bins=20)
    assert identical["positive"][-1] == 10  # cosine 1 falls into the last bin


def test_histogram_steps():
    assert histogram_steps(100, 0) == set()
    assert histogram_steps(100, 1) == {100}
    assert histogram_steps(100, 3) == {1, 50, 100} or histogram_steps(100, 3) == {1, 51, 100}
    assert histogram_steps(3, 8) == {1, 2, 3}


def test_bad_views():
    with pytest.raises(ValueError, match="at least 2 views"):
        embedding_diagnostics([torch.randn(4, 3)])
    with pytest.raises(ValueError, match="one shape"):
        embedding_diagnostics([torch.randn(4, 3), torch.randn(5, 3)])
