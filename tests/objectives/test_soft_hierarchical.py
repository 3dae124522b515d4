"""SoftCLT's soft targets in TS2Vec's hierarchical loss, against loop references written from
the paper's formulas, and the assignment functions against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlearn.objectives.hierarchical import (
    HierarchicalContrastive,
    soft_instance_weights,
    timelag_weights,
)
from tests.objectives.pyramid import pyramid_loss


def soft_contrast(first, second, weight) -> float:
    """Groups (G, N, D): each of the 2N items of a group scores the other 2N - 1 items and
    pays -sum_j weight(i mod N, j mod N) * log p(i -> j); mean over all items of all groups."""
    losses = []
    for a, b in zip(first.double(), second.double()):
        items = torch.cat([a, b])
        count = len(a)
        for i in range(2 * count):
            others = [j for j in range(2 * count) if j != i]
            log_p = torch.log_softmax(torch.stack([items[i] @ items[j] for j in others]), 0)
            losses.append(-sum(float(weight[i % count][j % count]) * log_p[k]
                               for k, j in enumerate(others)))
    return float(sum(losses) / len(losses))


def soft_hierarchical(first, second, instance_weight, temporal_tau, alpha=0.5) -> float:
    def lag(length, tau):
        return [[2 / (1 + math.exp(tau * abs(t - u))) for u in range(length)]
                for t in range(length)]

    return pyramid_loss(
        first, second, lambda a, b, _: soft_contrast(a, b, instance_weight),
        lambda a, b, scale: soft_contrast(a, b, lag(a.shape[1], temporal_tau * 2 ** scale)),
        alpha)


@pytest.mark.parametrize("length,tau", [(6, 1.0), (9, 0.3), (1, 2.0)])
def test_soft_hierarchical_loss_matches_loop_reference(length, tau):
    generator = torch.Generator().manual_seed(length)
    first = torch.randn(4, length, 5, generator=generator)
    second = torch.randn(4, length, 5, generator=generator)
    weights = torch.rand(4, 4, generator=generator).fill_diagonal_(1.0)
    got = HierarchicalContrastive(0.5, 0, temporal_tau=tau)(first, second, weights).loss
    expected = soft_hierarchical(first, second, weights.tolist(), tau)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_one_hot_targets_give_ts2vec_loss_and_soft_targets_differ():
    generator = torch.Generator().manual_seed(0)
    first = torch.randn(3, 8, 4, generator=generator, requires_grad=True)
    second = torch.randn(3, 8, 4, generator=generator)
    hard = HierarchicalContrastive()(first, second).loss
    same = HierarchicalContrastive()(first, second, torch.eye(3)).loss
    torch.testing.assert_close(same, hard)
    soft = HierarchicalContrastive(temporal_tau=1.0)(first, second, torch.full((3, 3), 0.5)
                                                     .fill_diagonal_(1.0)).loss
    assert float(soft.detach()) > float(hard.detach())  # extra targets only add non-negative terms
    soft.backward()
    assert first.grad is not None and torch.isfinite(first.grad).all()


def test_row_scaled_soft_instance_weights_by_hand():
    """`soft_instance_weights` is the per-row min-max variant (SoftCLT's
    instance_scaling="row"); the paper code's column scaling is tested against a hand
    computation and sklearn in tests/timeseries/test_softclt.py."""
    distances = torch.tensor([[0.0, 1.0, 3.0],
                              [1.0, 0.0, 2.0],
                              [3.0, 2.0, 0.0]])
    weights = soft_instance_weights(distances, tau=2.0, alpha=0.5)
    # row 0: distances 1 and 3 scale to 0 and 1; row 2: 3 and 2 scale to 1 and 0
    expected = [[1.0, 2 * 0.5 * 0.5, 2 * 0.5 / (1 + math.exp(2.0))],
                [2 * 0.5 * 0.5, 1.0, 2 * 0.5 / (1 + math.exp(2.0))],
                [2 * 0.5 / (1 + math.exp(2.0)), 2 * 0.5 * 0.5, 1.0]]
    torch.testing.assert_close(weights, torch.tensor(expected))
    with pytest.raises(ValueError, match="square"):
        soft_instance_weights(torch.zeros(2, 3), tau=1.0)
    with pytest.raises(ValueError, match="tau > 0"):
        soft_instance_weights(distances, tau=0.0)


def test_timelag_weights_by_hand():
    weights = timelag_weights(3, tau=1.0)
    near, far = 2 / (1 + math.e), 2 / (1 + math.e ** 2)
    torch.testing.assert_close(weights, torch.tensor([[1.0, near, far],
                                                      [near, 1.0, near],
                                                      [far, near, 1.0]]))


def test_soft_loss_bad_input():
    views = torch.zeros(3, 4, 2), torch.zeros(3, 4, 2)
    with pytest.raises(ValueError, match=r"instance_weights must be \(3, 3\)"):
        HierarchicalContrastive()(*views, torch.eye(2))
    with pytest.raises(ValueError, match="temporal_tau"):
        HierarchicalContrastive(temporal_tau=-1.0)
