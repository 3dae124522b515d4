"""Alignment and uniformity against naive loops and Wang & Isola's published one-liners."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives import AlignmentUniformity, alignment, uniformity


def unit(vector):
    return vector / torch.sqrt((vector * vector).sum())


def naive_alignment(x, y, alpha):
    terms = [torch.sqrt(((unit(x[i]) - unit(y[i])) ** 2).sum()) ** alpha for i in range(len(x))]
    return sum(terms) / len(terms)


def naive_uniformity(x, t, ids=None):
    ids = list(range(len(x))) if ids is None else [int(i) for i in ids]
    terms = [
        torch.exp(-t * ((unit(x[i]) - unit(x[j])) ** 2).sum())
        for i in range(len(x)) for j in range(len(x))
        if i != j and ids[i] != ids[j]
    ]
    return torch.log(sum(terms) / len(terms))


def random_views(num_views=2, batch=5, dim=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, dim, generator=generator, dtype=torch.float64).requires_grad_()
        for _ in range(num_views)
    ]


def test_functions_match_naive_and_published_forms():
    x, y = random_views(2)
    torch.testing.assert_close(alignment(x, y, alpha=2), naive_alignment(x, y, 2))
    torch.testing.assert_close(alignment(x, y, alpha=1), naive_alignment(x, y, 1))
    torch.testing.assert_close(uniformity(x, t=2), naive_uniformity(x, 2))
    # Wang & Isola's reference code
    xn, yn = F.normalize(x, dim=1), F.normalize(y, dim=1)
    torch.testing.assert_close(alignment(x, y), (xn - yn).norm(dim=1).pow(2).mean())
    torch.testing.assert_close(uniformity(x), torch.pdist(xn).pow(2).mul(-2).exp().mean().log())


@pytest.mark.parametrize("num_views", [2, 3])
def test_objective_matches_naive_reference(num_views):
    views = random_views(num_views)
    ids = torch.tensor([0, 1, 2, 1, 3])
    objective = AlignmentUniformity(alignment_weight=0.7, uniformity_weight=1.5, alpha=2, t=3)
    output = objective(views, ids=ids)
    pairs = [(a, b) for a in range(num_views) for b in range(a + 1, num_views)]
    aligned = sum(naive_alignment(views[a], views[b], 2) for a, b in pairs) / len(pairs)
    uniform = sum(naive_uniformity(v, 3, ids) for v in views) / num_views
    reference = 0.7 * aligned + 1.5 * uniform
    torch.testing.assert_close(output.loss, reference)
    ours = torch.autograd.grad(output.loss, views, retain_graph=True)
    for mine, expected in zip(ours, torch.autograd.grad(reference, views)):
        torch.testing.assert_close(mine, expected)
    torch.testing.assert_close(output.metrics["alignment"], aligned.detach())


def test_gradcheck():
    views = random_views(2, batch=4, dim=3, seed=1)
    objective = AlignmentUniformity()
    assert torch.autograd.gradcheck(lambda *v: objective(list(v)).loss, tuple(views))
    assert torch.autograd.gradcheck(lambda x: uniformity(x, t=2), (views[0],))


def test_uniformity_of_antipodal_points():
    points = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(uniformity(points, t=2).item(), -8.0)  # ||x - y||^2 = 4
    assert alignment(points, points).item() == pytest.approx(0.0)
    assert not math.isnan(uniformity(torch.ones(3, 2), t=2).item())


def test_registered_and_bad_inputs():
    assert OBJECTIVES.get("alignment_uniformity") is AlignmentUniformity
    with pytest.raises(ValueError, match="at least 2 views"):
        AlignmentUniformity()([torch.randn(4, 3)])
    with pytest.raises(ValueError, match="same shape|one shape"):
        alignment(torch.randn(4, 3), torch.randn(3, 3))
    with pytest.raises(ValueError, match="B >= 2"):
        uniformity(torch.randn(1, 3))
