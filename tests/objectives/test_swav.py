"""SwAV: Sinkhorn-Knopp marginals and a naive loop reference of the swapped prediction."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives import SwAV, sinkhorn_knopp


def naive_sinkhorn(scores, epsilon, iterations):
    batch, prototypes = scores.shape
    q = [[math.exp(float(scores[i, k]) / epsilon) for i in range(batch)] for k in range(prototypes)]
    total = sum(sum(row) for row in q)
    q = [[value / total for value in row] for row in q]
    for _ in range(iterations):
        for k in range(prototypes):
            row_sum = sum(q[k])
            q[k] = [value / row_sum / prototypes for value in q[k]]
        for i in range(batch):
            column_sum = sum(q[k][i] for k in range(prototypes))
            for k in range(prototypes):
                q[k][i] = q[k][i] / column_sum / batch
    return torch.tensor([[q[k][i] * batch for k in range(prototypes)] for i in range(batch)],
                        dtype=torch.float64)


def naive_swav(scores_views, temperature, epsilon, iterations, num_assignment_views):
    total = 0.0
    for a in range(num_assignment_views):
        codes = naive_sinkhorn(scores_views[a].detach(), epsilon, iterations)
        others = [v for v in range(len(scores_views)) if v != a]
        view_loss = 0.0
        for v in others:
            for i in range(codes.shape[0]):
                logits = scores_views[v][i] / temperature
                log_normaliser = torch.log(sum(torch.exp(logit) for logit in logits))
                for k in range(codes.shape[1]):
                    view_loss = view_loss - codes[i, k] * (logits[k] - log_normaliser)
        total = total + view_loss / (len(others) * codes.shape[0])
    return total / num_assignment_views


def random_scores(num_views=3, batch=5, prototypes=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        (torch.rand(batch, prototypes, generator=generator, dtype=torch.float64) * 2 - 1)
        .requires_grad_()
        for _ in range(num_views)
    ]


def test_sinkhorn_matches_naive_and_marginals():
    (scores,) = random_scores(1, batch=6, prototypes=3)
    codes = sinkhorn_knopp(scores, epsilon=0.5, iterations=3)
    torch.testing.assert_close(codes, naive_sinkhorn(scores.detach(), 0.5, 3))
    assert codes.dtype == torch.float64 and not codes.requires_grad
    # every sample's code is a distribution
    torch.testing.assert_close(codes.sum(dim=1), torch.ones(6, dtype=torch.float64))
    # with enough iterations every prototype gets an equal share B / K
    converged = sinkhorn_knopp(scores, epsilon=0.5, iterations=200)
    torch.testing.assert_close(converged.sum(dim=0), torch.full((3,), 2.0, dtype=torch.float64))
    torch.testing.assert_close(converged.sum(dim=1), torch.ones(6, dtype=torch.float64))


def test_sinkhorn_is_stable_for_tiny_epsilon():
    # exp(score / 1e-4) overflows and exp((score - max) / 1e-4) underflows to 0 for a whole
    # prototype: the log-domain iterations still give finite codes that sum to 1
    scores = torch.tensor([[1.0, -1.0, -0.5], [0.9, 0.95, -0.9], [-1.0, 1.0, -0.9]])
    codes = sinkhorn_knopp(scores, epsilon=1e-4, iterations=3)
    assert torch.isfinite(codes).all()
    torch.testing.assert_close(codes.sum(dim=1), torch.ones(3, dtype=torch.float64))


@pytest.mark.parametrize("num_assignment_views", [1, 2])
def test_matches_naive_reference(num_assignment_views):
    scores = random_scores(3)
    objective = SwAV(
        temperature=0.2, sinkhorn_epsilon=0.3, num_assignment_views=num_assignment_views
    )
    loss = objective(scores).loss
    reference = naive_swav(scores, 0.2, 0.3, 3, num_assignment_views)
    torch.testing.assert_close(loss, reference)
    ours = torch.autograd.grad(loss, scores, retain_graph=True)
    # an assignment view that predicts nothing gets no gradient (its codes are a stop-gradient)
    theirs = torch.autograd.grad(reference, scores, materialize_grads=True)
    for mine, expected in zip(ours, theirs):
        torch.testing.assert_close(mine, expected)


def test_queue_scores_join_sinkhorn_only():
    scores = random_scores(2, batch=3)
    queue = [torch.rand(4, 4, dtype=torch.float64) for _ in range(2)]
    objective = SwAV(temperature=0.2, sinkhorn_epsilon=0.3)
    loss = objective(scores, queue_scores=queue).loss
    expected = 0.0
    for a, b in ((0, 1), (1, 0)):
        codes = sinkhorn_knopp(torch.cat([queue[a], scores[a].detach()]), 0.3, 3)[-3:]
        expected = expected - (codes * torch.log_softmax(scores[b] / 0.2, dim=1)).sum(1).mean()
    torch.testing.assert_close(loss, expected / 2)


def test_gradcheck_through_predicting_views():
    # codes are a stop-gradient target, so check the gradient w.r.t. the predicting views only
    assignment, *predicting = random_scores(3, batch=4, prototypes=3, seed=1)
    objective = SwAV(temperature=0.5, sinkhorn_epsilon=0.3, num_assignment_views=1)
    fixed = assignment.detach()
    assert torch.autograd.gradcheck(
        lambda *views: objective([fixed, *views]).loss, tuple(predicting)
    )


def test_registered_and_bad_inputs():
    assert OBJECTIVES.get("swav") is SwAV
    output = SwAV()(random_scores(2))
    assert set(output.metrics) == {"code_entropy", "prototype_usage"}
    with pytest.raises(ValueError, match=">= 2 views"):
        SwAV()([torch.rand(4, 3)])
    with pytest.raises(ValueError, match="num_assignment_views"):
        SwAV(num_assignment_views=3)([torch.rand(4, 3)] * 2)
    with pytest.raises(ValueError, match="shape"):
        SwAV()([torch.rand(4, 3), torch.rand(4, 2)])
    with pytest.raises(ValueError, match="queue_scores"):
        SwAV()([torch.rand(4, 3)] * 2, queue_scores=[torch.rand(2, 3)])
