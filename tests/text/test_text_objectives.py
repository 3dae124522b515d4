"""Text objectives: multiple negatives ranking against a per-anchor loop and hand-computed
values; shuffled group whitening against a numpy reference and its defining property."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives.multiple_negatives import MultipleNegativesRanking
from contrastlearn.objectives.whitening import (
    group_sizes,
    shuffled_group_whitening,
    zca_whiten,
)


def reference_mnrl(anchors, positives, hard=None, ids=None, scale=20.0, symmetric=False,
                   hard_weight=0.0):
    """Per-anchor loop: -log softmax of the own positive among the positives of other items
    and every hard negative (own hard negatives get `hard_weight` added)."""
    batch = len(anchors)
    ids = list(range(batch)) if ids is None else [int(i) for i in ids]
    if hard is not None and hard.dim() == 2:
        hard = hard[:, None, :]

    def cosine(u, v):
        return float((u @ v) / (u.norm() * v.norm()))

    forward = []
    for i in range(batch):
        logits = [scale * cosine(anchors[i], positives[j]) for j in range(batch)
                  if j == i or ids[j] != ids[i]]
        if hard is not None:
            for owner in range(batch):
                for row in hard[owner]:
                    bonus = hard_weight if owner == i else 0.0
                    logits.append(scale * cosine(anchors[i], row) + bonus)
        target = scale * cosine(anchors[i], positives[i])
        forward.append(math.log(sum(math.exp(logit) for logit in logits)) - target)
    loss = sum(forward) / batch
    if not symmetric:
        return loss
    backward = []
    for i in range(batch):
        logits = [scale * cosine(positives[i], anchors[j]) for j in range(batch)
                  if j == i or ids[j] != ids[i]]
        target = scale * cosine(positives[i], anchors[i])
        backward.append(math.log(sum(math.exp(logit) for logit in logits)) - target)
    return (loss + sum(backward) / batch) / 2


def random_rows(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64)


def test_registered():
    assert OBJECTIVES.get("multiple_negatives_ranking") is MultipleNegativesRanking


@pytest.mark.parametrize("case", [
    {},
    {"hard": (6, 5)},
    {"hard": (6, 3, 5)},
    {"symmetric": True},
    {"symmetric": True, "hard": (6, 5)},
    {"hard": (6, 2, 5), "hard_weight": 0.7},
    {"ids": [0, 1, 0, 2, 1, 3]},
    {"ids": [4, 4, 4, 2, 2, 9], "hard": (6, 5), "symmetric": True, "hard_weight": -0.3},
    {"scale": 1.0},
])
def test_matches_the_loop_reference(case):
    anchors, positives = random_rows(6, 5, seed=1), random_rows(6, 5, seed=2)
    hard = random_rows(*case["hard"], seed=3) if "hard" in case else None
    ids = torch.tensor(case["ids"]) if "ids" in case else None
    scale = case.get("scale", 20.0)
    objective = MultipleNegativesRanking(scale, symmetric=case.get("symmetric", False),
                                         hard_negative_weight=case.get("hard_weight", 0.0))
    loss = objective(anchors, positives, hard, ids=ids).loss
    expected = reference_mnrl(anchors, positives, hard, ids, scale, case.get("symmetric", False),
                              case.get("hard_weight", 0.0))
    assert float(loss) == pytest.approx(expected, rel=1e-10, abs=1e-10)


def test_hand_computed_two_by_two():
    """a1 = (1, 0), a2 = (0, 1); p1 = (1, 0), p2 = (1, 1)/sqrt2; scale 1. Row 1 scores
    (1, 1/sqrt2) with target 1; row 2 scores (0, 1/sqrt2) with target 1/sqrt2."""
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    positives = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    root = 1 / math.sqrt(2)
    row_1 = math.log(1 + math.exp(root - 1))
    row_2 = math.log(1 + math.exp(0 - root))
    loss = MultipleNegativesRanking(scale=1.0)(anchors, positives).loss
    assert float(loss) == pytest.approx((row_1 + row_2) / 2, rel=1e-12)
    # positive -> anchor: p1 scores (1, 0) target 1; p2 scores (root, root) target root
    backward = (math.log(1 + math.exp(-1)) + math.log(2)) / 2
    symmetric = MultipleNegativesRanking(scale=1.0, symmetric=True)(anchors, positives).loss
    assert float(symmetric) == pytest.approx(((row_1 + row_2) / 2 + backward) / 2, rel=1e-12)


def test_duplicate_ids_leave_the_duplicate_out_of_the_denominator():
    """Rows 0 and 1 are the same text: with ids, each loses the other's positive from its
    denominator (and nothing else changes); row 2 keeps all candidates."""
    anchors, positives = random_rows(3, 4, seed=5), random_rows(3, 4, seed=6)
    scale = 20.0
    s = torch.nn.functional.normalize(anchors, dim=1) @ torch.nn.functional.normalize(
        positives, dim=1).T * scale
    s = s.tolist()
    rows = [
        math.log(math.exp(s[0][0]) + math.exp(s[0][2])) - s[0][0],
        math.log(math.exp(s[1][1]) + math.exp(s[1][2])) - s[1][1],
        math.log(sum(math.exp(v) for v in s[2])) - s[2][2],
    ]
    objective = MultipleNegativesRanking(scale)
    masked = objective(anchors, positives, ids=torch.tensor([7, 7, 8])).loss
    unmasked = objective(anchors, positives).loss
    assert float(masked) == pytest.approx(sum(rows) / 3, rel=1e-10)
    assert float(unmasked) == pytest.approx(reference_mnrl(anchors, positives), rel=1e-10)
    assert float(masked) < float(unmasked)  # a removed candidate only shrinks the denominator


def test_gradients_are_finite_with_masked_candidates():
    anchors = random_rows(4, 3, seed=8).requires_grad_()
    positives = random_rows(4, 3, seed=9).requires_grad_()
    hard = random_rows(4, 2, 3, seed=10).requires_grad_()
    loss = MultipleNegativesRanking(symmetric=True, hard_negative_weight=0.5)(
        anchors, positives, hard, ids=torch.tensor([0, 0, 0, 1])).loss
    loss.backward()
    for tensor in (anchors, positives, hard):
        assert torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0


def test_metrics():
    basis = torch.eye(3, dtype=torch.float64)
    output = MultipleNegativesRanking()(basis, basis, -basis)
    assert float(output.metrics["contrastive_accuracy"]) == 1.0
    assert float(output.metrics["positive_similarity"]) == pytest.approx(1.0)
    assert float(output.metrics["negative_similarity"]) == pytest.approx(-1 / 5)
    assert float(output.metrics["hard_negative_similarity"]) == pytest.approx(-1.0)


def test_rejects_bad_inputs():
    anchors = random_rows(3, 4)
    with pytest.raises(ValueError, match="scale"):
        MultipleNegativesRanking(scale=0.0)
    with pytest.raises(ValueError, match="anchors and positives"):
        MultipleNegativesRanking()(anchors, random_rows(2, 4))
    with pytest.raises(ValueError, match="hard_negatives"):
        MultipleNegativesRanking()(anchors, anchors, random_rows(2, 4))
    with pytest.raises(ValueError, match="ids"):
        MultipleNegativesRanking()(anchors, anchors, ids=torch.tensor([0, 1]))


# -- shuffled group whitening ------------------------------------------------------------------

def numpy_shuffled_group_whitening(z, permutation, num_groups, eps):
    """Permute columns, split them with np.array_split, ZCA-whiten each group with the biased
    covariance, undo the permutation."""
    z = np.asarray(z, dtype=np.float64)
    shuffled = z[:, permutation]
    out = np.empty_like(shuffled)
    start = 0
    for group in np.array_split(np.arange(z.shape[1]), num_groups):
        block = shuffled[:, start:start + len(group)]
        centred = block - block.mean(axis=0)
        covariance = centred.T @ centred / len(z)
        values, vectors = np.linalg.eigh(covariance)
        out[:, start:start + len(group)] = centred @ vectors @ np.diag(
            1 / np.sqrt(values + eps)) @ vectors.T
        start += len(group)
    result = np.empty_like(out)
    result[:, permutation] = out
    return result


def correlated(batch, dim, seed=0):
    """Rows with strongly correlated, unequal-variance features."""
    mixing = random_rows(dim, dim, seed=seed + 100)
    return random_rows(batch, dim, seed=seed) @ mixing + 3.0


def test_group_sizes():
    assert group_sizes(12, 3) == [4, 4, 4]
    assert group_sizes(10, 3) == [4, 3, 3]
    assert group_sizes(5, 5) == [1] * 5
    with pytest.raises(ValueError, match="num_groups"):
        group_sizes(4, 5)


@pytest.mark.parametrize("dim,num_groups", [(12, 3), (10, 3), (8, 1), (6, 6)])
def test_matches_numpy_reference(dim, num_groups):
    z = correlated(20, dim)
    generator = torch.Generator().manual_seed(3)
    permutation = torch.randperm(dim, generator=torch.Generator().manual_seed(3)).numpy()
    out = shuffled_group_whitening(z, num_groups, generator, eps=1e-5)
    expected = numpy_shuffled_group_whitening(z.numpy(), permutation, num_groups, 1e-5)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dim,num_groups", [(12, 3), (10, 4)])
def test_each_group_has_identity_covariance(dim, num_groups):
    z = correlated(24, dim, seed=4)
    permutation = torch.randperm(dim, generator=torch.Generator().manual_seed(11))
    out = shuffled_group_whitening(z, num_groups, torch.Generator().manual_seed(11), eps=0.0)
    assert torch.allclose(out.mean(dim=0), torch.zeros(dim, dtype=z.dtype), atol=1e-10)
    start = 0
    for size in group_sizes(dim, num_groups):
        columns = permutation[start:start + size]
        block = out[:, columns]
        covariance = block.T @ block / len(block)
        assert torch.allclose(covariance, torch.eye(size, dtype=z.dtype), atol=1e-8)
        start += size
    full = out.T @ out / len(out)
    assert not torch.allclose(full, torch.eye(dim, dtype=z.dtype), atol=1e-2)  # only groups


def test_shuffles_give_different_views_and_one_group_does_not():
    z = correlated(16, 8, seed=2)
    first = shuffled_group_whitening(z, 2, torch.Generator().manual_seed(0))
    again = shuffled_group_whitening(z, 2, torch.Generator().manual_seed(0))
    other = shuffled_group_whitening(z, 2, torch.Generator().manual_seed(1))
    assert torch.equal(first, again)
    assert not torch.allclose(first, other, atol=1e-3)
    # ZCA commutes with permutations: one group (full whitening) ignores the shuffle
    whole_a = shuffled_group_whitening(z, 1, torch.Generator().manual_seed(0))
    whole_b = shuffled_group_whitening(z, 1, torch.Generator().manual_seed(1))
    assert torch.allclose(whole_a, whole_b, atol=1e-9)


def test_generator_advances_by_one_permutation():
    generator = torch.Generator().manual_seed(5)
    shuffled_group_whitening(correlated(10, 6), 2, generator)
    reference = torch.Generator().manual_seed(5)
    torch.randperm(6, generator=reference)
    assert torch.equal(generator.get_state(), reference.get_state())


def test_gradient_flows_and_is_finite():
    z = correlated(12, 6, seed=7).float().requires_grad_()
    out = shuffled_group_whitening(z, 2, torch.Generator().manual_seed(0))
    assert out.dtype == torch.float32
    (out[:, 0] * torch.arange(12.0)).sum().backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_zca_whiten_of_white_data_is_centring():
    groups = torch.linalg.qr(random_rows(1, 10, 3, seed=1))[0] * math.sqrt(10)
    groups = groups - groups.mean(dim=1, keepdim=True)
    groups = zca_whiten(groups, eps=0.0)  # exactly white now
    assert torch.allclose(zca_whiten(groups, eps=0.0), groups, atol=1e-9)


def test_rejects_too_small_batches_and_bad_shapes():
    with pytest.raises(ValueError, match="larger batch"):
        shuffled_group_whitening(random_rows(4, 8), 2, torch.Generator())  # groups of 4
    with pytest.raises(ValueError, match="num_groups"):
        shuffled_group_whitening(random_rows(10, 4), 5, torch.Generator())
    with pytest.raises(ValueError, match=r"\(batch, dim\)"):
        shuffled_group_whitening(random_rows(2, 3, 4), 1, torch.Generator())
