"""TS-TCC's temporal contrasting against a naive loop over samples and steps, a hand-computed
case, id masking, gradients and shape errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives.temporal_contrasting import TemporalContrasting


def naive_temporal_contrasting(objective, context, future, ids=None) -> torch.Tensor:
    """loss = mean over (i, k) of -log(e^{s_ii} / sum_j e^{s_ij}), s_ij = (W_k c_i + b_k) . z_j,k,
    with every prediction, score and sum written out sample by sample."""
    batch, steps, dim = future.shape
    weight = objective.predictors.weight.detach().double()
    bias = objective.predictors.bias.detach().double()
    terms = []
    for k in range(steps):
        rows = slice(k * dim, (k + 1) * dim)
        for i in range(batch):
            prediction = weight[rows] @ context[i] + bias[rows]
            exps = {}
            for j in range(batch):
                if ids is not None and j != i and int(ids[j]) == int(ids[i]):
                    continue  # the same item is never a negative
                exps[j] = torch.exp(sum(prediction[d] * future[j, k, d] for d in range(dim)))
            terms.append(-torch.log(exps[i] / sum(exps.values())))
    return sum(terms) / len(terms)


def _case(batch=4, steps=3, dim=5, context_dim=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    objective = TemporalContrasting(context_dim, dim, steps).double()
    context = torch.randn(batch, context_dim, generator=generator, dtype=torch.float64)
    future = torch.randn(batch, steps, dim, generator=generator, dtype=torch.float64)
    return objective, context.requires_grad_(), future.requires_grad_()


@pytest.mark.parametrize("batch,steps", [(4, 3), (5, 1), (1, 2)])
def test_matches_naive_loops_in_value_and_gradient(batch, steps):
    objective, context, future = _case(batch, steps)
    loss = objective(context, future).loss
    reference = naive_temporal_contrasting(objective, context, future)
    torch.testing.assert_close(loss, reference)
    ours = torch.autograd.grad(loss, (context, future), retain_graph=True)
    theirs = torch.autograd.grad(reference, (context, future))
    for mine, expected in zip(ours, theirs):
        torch.testing.assert_close(mine, expected)


def test_duplicate_ids_are_not_negatives():
    objective, context, future = _case(batch=5)
    ids = torch.tensor([0, 1, 0, 2, 1])
    loss = objective(context, future, ids=ids).loss
    torch.testing.assert_close(loss, naive_temporal_contrasting(objective, context, future, ids))
    unique = objective(context, future, ids=torch.arange(5)).loss
    torch.testing.assert_close(unique, objective(context, future).loss)


def test_hand_computed_case():
    # one step ahead, 1-d: predictions W c = c = (1, -2), futures z = (1, -1); rows of scores
    # (1, -1) and (-2, 2), positives on the diagonal -> losses log(1 + e^-2) and log(1 + e^-4)
    objective = TemporalContrasting(context_dim=1, feature_dim=1, timesteps=1)
    with torch.no_grad():
        objective.predictors.weight.fill_(1.0)
        objective.predictors.bias.zero_()
    output = objective(torch.tensor([[1.0], [-2.0]]), torch.tensor([[[1.0]], [[-1.0]]]))
    expected = (math.log1p(math.exp(-2)) + math.log1p(math.exp(-4))) / 2
    assert float(output.loss.detach()) == pytest.approx(expected, rel=1e-6)
    assert float(output.metrics["accuracy"]) == 1.0


def test_gradients_reach_predictors_and_inputs():
    objective, context, future = _case()
    torch.autograd.gradcheck(lambda c, z: objective(c, z).loss, (context, future))
    objective(context, future).loss.backward()
    assert objective.predictors.weight.grad.abs().sum() > 0


def test_shape_errors_and_registration():
    objective, context, future = _case(steps=3, dim=5)
    fewer = objective(context, future[:, :2])  # short series: only the first 2 predictors
    scores = torch.einsum("bkd,jkd->kbj",
                          objective.predictors(context).view(4, 3, 5)[:, :2], future[:, :2])
    reference = F.cross_entropy(scores.reshape(-1, 4), torch.arange(4).repeat(2))
    assert float(fewer.loss.detach()) == pytest.approx(float(reference.detach()), rel=1e-5)
    for bad in (future[:, :0], torch.cat([future, future], dim=1), future[..., :4], future[:3]):
        with pytest.raises(ValueError, match="1 <= k <= 3"):
            objective(context, bad)
    with pytest.raises(ValueError, match="ids"):
        objective(context, future, ids=torch.arange(3))
    with pytest.raises(ValueError, match="positive sizes"):
        TemporalContrasting(4, 4, 0)
    assert OBJECTIVES.get("temporal_contrasting") is TemporalContrasting
