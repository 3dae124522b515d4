"""InfoNCE's fast path for one anchor view against the other (SGL/SimGCL's one-directional
form) equals its general, masked path and a naive loop."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contrastlearn.objectives.infonce import InfoNCE


def naive_one_directional(first: torch.Tensor, second: torch.Tensor, temperature: float):
    first, second = F.normalize(first, dim=1), F.normalize(second, dim=1)
    total = 0.0
    for row in range(len(first)):
        scores = [float(first[row] @ second[column]) / temperature
                  for column in range(len(second))]
        total += -scores[row] + math.log(sum(math.exp(score) for score in scores))
    return total / len(first)


def test_first_view_anchors_fast_path_matches_general_path_and_loop():
    torch.manual_seed(0)
    first = torch.randn(7, 5, requires_grad=True)
    second = torch.randn(7, 5, requires_grad=True)
    loss = InfoNCE(temperature=0.2, anchor_views=1, cross_view_only=True)([first, second])
    expected = naive_one_directional(first.detach(), second.detach(), 0.2)
    assert loss.loss.item() == pytest.approx(expected, rel=1e-5)
    loss.loss.backward()
    fast = (first.grad.clone(), second.grad.clone())
    first.grad, second.grad = None, None
    # the general, masked path on the same pairs is the reference
    general = InfoNCE(temperature=0.2, anchor_views=1, cross_view_only=True)
    general_output = general._general(  # noqa: SLF001 - the reference path itself
        *_pairs_and_scale(general, first, second))
    general_output[0].backward()
    assert general_output[0].item() == pytest.approx(loss.loss.item(), rel=1e-5)
    assert torch.allclose(fast[0], first.grad, atol=1e-6)
    assert torch.allclose(fast[1], second.grad, atol=1e-6)
    assert 0.0 <= float(loss.metrics["contrastive_accuracy"]) <= 1.0


def _pairs_and_scale(objective: InfoNCE, first: torch.Tensor, second: torch.Tensor):
    from contrastlearn.objectives._pairs import build_view_pairs
    from contrastlearn.objectives.infonce import _keep_anchor_rows

    pairs = build_view_pairs([first, second], None, gather=False, objective="InfoNCE")
    return _keep_anchor_rows(pairs, 1), objective.inverse_temperature(), None
