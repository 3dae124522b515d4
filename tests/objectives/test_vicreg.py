"""VICReg against a naive element-wise loop."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives import VICReg


def naive_terms(view_a, view_b, epsilon):
    batch, dim = view_a.shape
    invariance = sum(
        (view_a[i, d] - view_b[i, d]) ** 2 for i in range(batch) for d in range(dim)
    ) / (batch * dim)

    def variance_and_covariance(view):
        means = [sum(view[i, d] for i in range(batch)) / batch for d in range(dim)]

        def covariance(d, e):
            centred = [(view[i, d] - means[d]) * (view[i, e] - means[e]) for i in range(batch)]
            return sum(centred) / (batch - 1)

        hinge = [torch.relu(1 - torch.sqrt(covariance(d, d) + epsilon)) for d in range(dim)]
        off_diagonal = [covariance(d, e) ** 2 for d in range(dim) for e in range(dim) if d != e]
        return sum(hinge) / dim, sum(off_diagonal) / dim

    variance_a, covariance_a = variance_and_covariance(view_a)
    variance_b, covariance_b = variance_and_covariance(view_b)
    return invariance, (variance_a + variance_b) / 2, covariance_a + covariance_b


def random_views(batch=5, dim=4, seed=0, scale=0.5):
    generator = torch.Generator().manual_seed(seed)
    return [
        (scale * torch.randn(batch, dim, generator=generator, dtype=torch.float64)).requires_grad_()
        for _ in range(2)
    ]


def test_matches_naive_reference():
    views = random_views()
    output = VICReg(invariance_weight=2.0, variance_weight=3.0, covariance_weight=0.5)(views)
    invariance, variance, covariance = naive_terms(*views, 1e-4)
    reference = 2.0 * invariance + 3.0 * variance + 0.5 * covariance
    torch.testing.assert_close(output.loss, reference)
    ours = torch.autograd.grad(output.loss, views, retain_graph=True)
    for mine, expected in zip(ours, torch.autograd.grad(reference, views)):
        torch.testing.assert_close(mine, expected)
    torch.testing.assert_close(output.metrics["invariance"], invariance.detach())
    torch.testing.assert_close(output.metrics["variance"], variance.detach())
    torch.testing.assert_close(output.metrics["covariance"], covariance.detach())


def test_gradcheck():
    views = random_views(batch=4, dim=3, seed=1)
    objective = VICReg()
    assert torch.autograd.gradcheck(lambda *v: objective(list(v)).loss, tuple(views))


def test_registered_and_bad_inputs():
    assert OBJECTIVES.get("vicreg") is VICReg
    with pytest.raises(ValueError, match="exactly 2 views"):
        VICReg()([torch.randn(4, 3)])
    with pytest.raises(ValueError, match="shape"):
        VICReg()([torch.randn(4, 3), torch.randn(4, 2)])
    with pytest.raises(ValueError, match="at least 2"):
        VICReg()([torch.randn(1, 3), torch.randn(1, 3)])
