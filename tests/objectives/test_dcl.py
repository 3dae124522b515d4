"""DCL / DCLW against a naive per-pair loop and the authors' published two-view form."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives import DCL, DCLW


def naive_dcl(views, ids, temperature, weighted=False, sigma=0.5):
    rows, row_ids = [], []
    for view in views:
        for item in range(view.shape[0]):
            rows.append(view[item] / torch.sqrt((view[item] * view[item]).sum()))
            row_ids.append(int(ids[item]))
    positive_pairs = [
        (a, c) for a in range(len(rows)) for c in range(len(rows))
        if a != c and row_ids[a] == row_ids[c]
    ]
    vmf = {(a, c): torch.exp((rows[a] * rows[c]).sum() / sigma) for a, c in positive_pairs}
    vmf_mean = sum(vmf.values()) / len(vmf)
    losses = []
    for a in range(len(rows)):
        positive_terms, negative_exps = [], []
        for c in range(len(rows)):
            score = (rows[a] * rows[c]).sum() / temperature
            if c != a and row_ids[c] == row_ids[a]:
                weight = 2 - vmf[(a, c)] / vmf_mean if weighted else 1.0
                positive_terms.append(-weight * score)
            elif row_ids[c] != row_ids[a]:
                negative_exps.append(torch.exp(score))
        losses.append(sum(positive_terms) / len(positive_terms) + torch.log(sum(negative_exps)))
    return sum(losses) / len(losses)


def authors_one_way(z1, z2, temperature, weight_fn=None):
    """The official two-view, one-direction DCL (positive excluded from the denominator)."""
    cross = z1 @ z2.T
    positive = -torch.diag(cross) / temperature
    if weight_fn is not None:
        positive = positive * weight_fn(z1, z2)
    negatives = torch.cat([z1 @ z1.T, cross], dim=1) / temperature
    mask = torch.eye(z1.shape[0], dtype=torch.bool).repeat(1, 2)
    return (positive + torch.logsumexp(negatives.masked_fill(mask, -math.inf), dim=1)).mean()


def random_views(num_views=2, batch=5, dim=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, dim, generator=generator, dtype=torch.float64).requires_grad_()
        for _ in range(num_views)
    ]


def assert_value_and_grad(loss, reference, inputs):
    torch.testing.assert_close(loss, reference)
    ours = torch.autograd.grad(loss, inputs, retain_graph=True)
    for mine, expected in zip(ours, torch.autograd.grad(reference, inputs)):
        torch.testing.assert_close(mine, expected)


def test_registry():
    assert OBJECTIVES.get("dcl") is DCL
    assert OBJECTIVES.build("dclw", sigma=0.3).weighted
    assert OBJECTIVES.build("dclw").sigma == 0.5


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("num_views", [2, 3])
def test_matches_naive_reference(num_views, weighted):
    views = random_views(num_views)
    loss = DCL(temperature=0.3, weighted=weighted, sigma=0.7)(views).loss
    reference = naive_dcl(views, torch.arange(5), 0.3, weighted, 0.7)
    assert_value_and_grad(loss, reference, views)


@pytest.mark.parametrize("weighted", [False, True])
def test_matches_authors_two_view_form(weighted):
    views = random_views(2, seed=1)
    sigma = 0.5

    def vmf_weights(z1, z2):
        return 2 - z1.shape[0] * F.softmax((z1 * z2).sum(dim=1) / sigma, dim=0)

    weight_fn = vmf_weights if weighted else None
    z1, z2 = (F.normalize(v, dim=1) for v in views)
    forward = authors_one_way(z1, z2, 0.1, weight_fn)
    reference = (forward + authors_one_way(z2, z1, 0.1, weight_fn)) / 2
    objective = DCLW(temperature=0.1, sigma=sigma) if weighted else DCL(temperature=0.1)
    assert_value_and_grad(objective(views).loss, reference, views)


@pytest.mark.parametrize("weighted", [False, True])
def test_duplicate_ids(weighted):
    views = random_views(2, seed=2)
    ids = torch.tensor([0, 1, 0, 2, 3])
    loss = DCL(temperature=0.4, weighted=weighted)(views, ids=ids).loss
    assert_value_and_grad(loss, naive_dcl(views, ids, 0.4, weighted), views)


@pytest.mark.parametrize("weighted", [False, True])
def test_gradcheck(weighted):
    views = random_views(3, batch=4, dim=3, seed=3)
    objective = DCL(temperature=0.5, weighted=weighted)
    ids = torch.tensor([5, 6, 5, 7])
    assert torch.autograd.gradcheck(lambda *v: objective(list(v), ids=ids).loss, tuple(views))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="at least 2 views"):
        DCL()([torch.randn(4, 3)])
    with pytest.raises(ValueError, match="shape"):
        DCL()([torch.randn(4, 3), torch.randn(4, 2)])
    with pytest.raises(ValueError, match="2 items"):
        DCL()([torch.randn(1, 3), torch.randn(1, 3)])


@pytest.mark.parametrize("weighted", [False, True])
def test_two_view_fast_path_equals_the_general_path(weighted):
    """The fast path (two views, unique ids) gives the general path's loss, gradients and
    metrics."""
    from contrastlearn.objectives._pairs import build_view_pairs

    generator = torch.Generator().manual_seed(3)
    views = [torch.randn(12, 8, generator=generator, requires_grad=True) for _ in range(2)]
    loss_fn = DCL(temperature=0.2, weighted=weighted)
    fast_loss, fast_metrics = loss_fn._two_unique_views(
        build_view_pairs(views, None, gather=False, objective="DCL"))
    fast_grads = torch.autograd.grad(fast_loss, views)
    slow_loss, slow_metrics = loss_fn._general(
        build_view_pairs(views, None, gather=False, objective="DCL"))
    slow_grads = torch.autograd.grad(slow_loss, views)
    torch.testing.assert_close(fast_loss, slow_loss)
    for fast, slow in zip(fast_grads, slow_grads):
        torch.testing.assert_close(fast, slow)
    for key in slow_metrics:
        torch.testing.assert_close(torch.as_tensor(fast_metrics[key]),
                                   torch.as_tensor(slow_metrics[key]))
