"""Barlow Twins against a naive element-wise loop."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives import BarlowTwins


def naive_barlow_twins(view_a, view_b, lambda_offdiag, epsilon=1e-5):
    batch, dim = view_a.shape

    def standardised(view):
        columns = []
        for d in range(dim):
            mean = sum(view[i, d] for i in range(batch)) / batch
            variance = sum((view[i, d] - mean) ** 2 for i in range(batch)) / batch
            std = torch.sqrt(variance + epsilon)
            columns.append([(view[i, d] - mean) / std for i in range(batch)])
        return columns

    a, b = standardised(view_a), standardised(view_b)
    loss = 0.0
    for i in range(dim):
        for j in range(dim):
            correlation = sum(a[i][n] * b[j][n] for n in range(batch)) / batch
            loss = loss + ((1 - correlation) ** 2 if i == j else lambda_offdiag * correlation**2)
    return loss


def random_views(batch=5, dim=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, dim, generator=generator, dtype=torch.float64).requires_grad_()
        for _ in range(2)
    ]


def test_matches_naive_reference():
    views = random_views()
    output = BarlowTwins(lambda_offdiag=0.1)(views)
    reference = naive_barlow_twins(*views, 0.1)
    torch.testing.assert_close(output.loss, reference)
    ours = torch.autograd.grad(output.loss, views, retain_graph=True)
    for mine, expected in zip(ours, torch.autograd.grad(reference, views)):
        torch.testing.assert_close(mine, expected)
    torch.testing.assert_close(
        output.loss, output.metrics["on_diagonal"] + 0.1 * output.metrics["off_diagonal"]
    )


def test_identical_decorrelated_views_give_near_zero_loss():
    # columns are orthogonal with zero mean: correlation is the identity
    view = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
    assert BarlowTwins()([view, view.clone()]).loss < 1e-4


def test_gradcheck():
    views = random_views(batch=4, dim=3, seed=1)
    objective = BarlowTwins(lambda_offdiag=0.5)
    assert torch.autograd.gradcheck(lambda *v: objective(list(v)).loss, tuple(views))


def test_registered_and_bad_inputs():
    assert OBJECTIVES.get("barlow_twins") is BarlowTwins
    with pytest.raises(ValueError, match="exactly 2 views"):
        BarlowTwins()([torch.randn(4, 3)])
    with pytest.raises(ValueError, match="exactly 2 views"):
        BarlowTwins()([torch.randn(4, 3)] * 3)
    with pytest.raises(ValueError, match="shape"):
        BarlowTwins()([torch.randn(4, 3), torch.randn(5, 3)])
    with pytest.raises(ValueError, match="at least 2"):
        BarlowTwins()([torch.randn(1, 3), torch.randn(1, 3)])
