"""NegativeCosine (BYOL / SimSiam) against a naive per-pair loop."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives import NegativeCosine


def naive_negative_cosine(predictions, targets):
    terms = []
    for a, prediction in enumerate(predictions):
        for b, target in enumerate(targets):
            if a == b:
                continue
            for item in range(prediction.shape[0]):
                p, t = prediction[item], target[item].detach()
                terms.append(-(p * t).sum() / torch.sqrt((p * p).sum() * (t * t).sum()))
    return sum(terms) / len(terms)


def random_tensors(count, batch=5, dim=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, dim, generator=generator, dtype=torch.float64).requires_grad_()
        for _ in range(count)
    ]


@pytest.mark.parametrize("num_predictions, num_targets", [(2, 2), (3, 3), (4, 2)])
def test_matches_naive_reference(num_predictions, num_targets):
    predictions = random_tensors(num_predictions)
    targets = random_tensors(num_targets, seed=1)
    loss = NegativeCosine()(predictions, targets=targets).loss
    reference = naive_negative_cosine(predictions, targets)
    torch.testing.assert_close(loss, reference)
    ours = torch.autograd.grad(loss, predictions, retain_graph=True)
    for mine, expected in zip(ours, torch.autograd.grad(reference, predictions)):
        torch.testing.assert_close(mine, expected)


def test_targets_receive_no_gradient():
    predictions, targets = random_tensors(2), random_tensors(2, seed=1)
    NegativeCosine()(predictions, targets=targets).loss.backward()
    assert all(t.grad is None for t in targets)
    assert all(p.grad is not None for p in predictions)


def test_relation_to_byol_and_simsiam():
    predictions, targets = random_tensors(2), random_tensors(2, seed=1)
    loss = NegativeCosine()(predictions, targets=targets).loss
    p1, p2 = (F.normalize(p, dim=1) for p in predictions)
    t1, t2 = (F.normalize(t.detach(), dim=1) for t in targets)
    simsiam = -(p1 * t2).sum(1).mean() / 2 - (p2 * t1).sum(1).mean() / 2
    byol = ((p1 - t2).pow(2).sum(1) + (p2 - t1).pow(2).sum(1)).mean()
    torch.testing.assert_close(loss, simsiam)
    torch.testing.assert_close(byol, 4 + 4 * loss)


def test_gradcheck():
    targets = [t.detach() for t in random_tensors(2, batch=3, dim=3, seed=1)]
    predictions = random_tensors(2, batch=3, dim=3)
    objective = NegativeCosine()
    assert torch.autograd.gradcheck(
        lambda *p: objective(list(p), targets=targets).loss, tuple(predictions)
    )


def test_registered_and_bad_inputs():
    assert OBJECTIVES.get("negative_cosine") is NegativeCosine
    objective = NegativeCosine()
    with pytest.raises(ValueError, match=">= 2 prediction views"):
        objective([torch.randn(4, 3)], targets=[torch.randn(4, 3)])
    with pytest.raises(ValueError, match="shape"):
        objective([torch.randn(4, 3), torch.randn(4, 2)], targets=[torch.randn(4, 3)])
    with pytest.raises(ValueError, match="targets are"):
        objective([torch.randn(4, 3)] * 2, targets=[torch.randn(4, 2)] * 2)
