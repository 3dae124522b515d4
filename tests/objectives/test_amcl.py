"""AMCL (multi-head InfoNCE with adaptive pair temperatures) against a per-head loop, and the
multi_projection head."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlearn.config import load_recipe
from contrastlearn.core.registry import HEADS, METHODS
from contrastlearn.heads import MultiProjection
from contrastlearn.objectives import AMCL, InfoNCE
from tests.objectives.tiny import TinyEncoder


def naive_amcl(views, num_heads, temperature, weight, bias, regularization):
    """Loops over heads, anchors and candidates; a pair's log inverse temperature is
    log(1/t) + b_h + sum_g W_hg * cos_g (cosines detached), capped at log(100)."""
    rows = []
    for view in views:
        for item in range(view.shape[0]):
            chunks = view[item].chunk(num_heads)
            rows.append((item, [chunk / chunk.norm() for chunk in chunks]))
    base = math.log(1 / temperature)
    head_losses, prior_terms = [], []
    for h in range(num_heads):
        anchor_losses = []
        for a, (item_a, heads_a) in enumerate(rows):
            positives, negative_exps = [], []
            for c, (item_c, heads_c) in enumerate(rows):
                if c == a:
                    continue
                cosines = [torch.dot(heads_a[g], heads_c[g]) for g in range(num_heads)]
                log_scale = base + bias[h] + sum(
                    weight[h, g] * cosines[g].detach() for g in range(num_heads))
                prior_terms.append((log_scale - base) ** 2)
                logit = cosines[h] * torch.exp(torch.clamp(log_scale, max=math.log(100)))
                if item_c == item_a:
                    positives.append(logit)
                else:
                    negative_exps.append(torch.exp(logit))
            negative_sum = sum(negative_exps)
            terms = [-torch.log(torch.exp(p) / (torch.exp(p) + negative_sum)) for p in positives]
            anchor_losses.append(sum(terms) / len(terms))
        head_losses.append(sum(anchor_losses) / len(anchor_losses))
    prior = sum(prior_terms) / len(prior_terms)
    return sum(head_losses) / num_heads + regularization * prior


def sample_views(batch=5, dim=6, views=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, dim, generator=generator, dtype=torch.float64)
            .requires_grad_() for _ in range(views)]


def with_temperature_parameters(objective, weight, bias):
    with torch.no_grad():
        objective.temperature_weight.copy_(weight)
        objective.temperature_bias.copy_(bias)
    return objective.double()


@pytest.mark.parametrize(("num_heads", "num_views"), [(3, 2), (2, 3), (1, 2)])
def test_matches_the_loop_in_value_and_gradient(num_heads, num_views):
    generator = torch.Generator().manual_seed(1)
    weight = 0.5 * torch.randn(num_heads, num_heads, generator=generator, dtype=torch.float64)
    bias = 0.3 * torch.randn(num_heads, generator=generator, dtype=torch.float64)
    objective = with_temperature_parameters(
        AMCL(num_heads=num_heads, temperature=0.5, regularization=0.2), weight, bias)
    views = sample_views(views=num_views)
    ours = objective(views).loss
    reference = naive_amcl(views, num_heads, 0.5, objective.temperature_weight,
                           objective.temperature_bias, 0.2)
    torch.testing.assert_close(ours, reference)
    inputs = [*views, objective.temperature_weight, objective.temperature_bias]
    for a, b in zip(torch.autograd.grad(ours, inputs), torch.autograd.grad(reference, inputs)):
        torch.testing.assert_close(a, b)


def test_capped_temperatures_still_feel_the_prior():
    objective = with_temperature_parameters(
        AMCL(num_heads=2, temperature=0.5, regularization=0.2),
        torch.zeros(2, 2), torch.tensor([9.0, 0.0]))  # head 0 far below temperature 0.01
    views = sample_views()
    ours = objective(views)
    reference = naive_amcl(views, 2, 0.5, objective.temperature_weight,
                           objective.temperature_bias, 0.2)
    torch.testing.assert_close(ours.loss, reference)
    torch.testing.assert_close(ours.metrics["temperature_min"],
                               torch.tensor(0.5 * math.exp(-9.0), dtype=torch.float64))
    bias_grad = torch.autograd.grad(ours.loss, objective.temperature_bias)[0]
    torch.testing.assert_close(bias_grad[0], torch.tensor(0.2 * 9.0, dtype=torch.float64))


def test_one_head_with_a_fixed_temperature_is_infonce():
    views = sample_views(views=3)
    for objective in (AMCL(num_heads=1, temperature=0.2, adaptive=False),
                      AMCL(num_heads=1, temperature=0.2).double()):
        ours = objective(views).loss
        plain = InfoNCE(temperature=0.2)(views).loss
        torch.testing.assert_close(ours, plain)
        for a, b in zip(torch.autograd.grad(ours, views), torch.autograd.grad(plain, views)):
            torch.testing.assert_close(a, b)


def test_heads_at_the_start_are_the_mean_of_their_infonces():
    views = sample_views(dim=9)
    ours = AMCL(num_heads=3, temperature=0.3).double()(views).loss
    per_head = [InfoNCE(temperature=0.3)([v[:, 3 * h:3 * h + 3] for v in views]).loss
                for h in range(3)]
    torch.testing.assert_close(ours, sum(per_head) / 3)


def test_bad_inputs_fail_with_one_line():
    views = [torch.randn(4, 8), torch.randn(4, 8)]
    with pytest.raises(ValueError, match="needs a size of a multiple of num_heads=3; got 8"):
        AMCL(num_heads=3)(views)
    with pytest.raises(ValueError, match=r"size of 2 x 3 = 6; got 8"):
        AMCL(num_heads=2, head_dim=3)(views)
    with pytest.raises(ValueError, match="num_heads must be >= 1"):
        AMCL(num_heads=0)
    with pytest.raises(ValueError, match="temperature > 0"):
        AMCL(temperature=0.0)
    with pytest.raises(ValueError, match="num_heads must be >= 1"):
        MultiProjection(in_dim=4, num_heads=0)


def test_multi_projection_concatenates_independent_heads():
    torch.manual_seed(0)
    head = HEADS.build("multi_projection", in_dim=6, num_heads=3, hidden_dim=8, out_dim=4,
                       batch_norm=False)
    h = torch.randn(5, 6)
    z = head(h)
    assert z.shape == (5, 12) and head.out_dim == 12
    for index, single in enumerate(head.heads):
        torch.testing.assert_close(z[:, 4 * index:4 * index + 4], single(h))
    assert not torch.allclose(z[:, :4], z[:, 4:8])


def test_one_training_step_of_a_composed_method_and_the_recipe():
    kwargs = load_recipe("fashion-mnist-amcl").method.kwargs
    kwargs["head_kwargs"].update(hidden_dim=16, out_dim=4)
    kwargs["objective_kwargs"].update(head_dim=4)
    torch.manual_seed(0)
    method = METHODS.build("composed", encoder=TinyEncoder(), **kwargs)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.1)
    views = [torch.randn(8, 6), torch.randn(8, 6)]
    output = method(views)
    output.loss.backward()
    optimizer.step()
    assert output.loss.isfinite()
    assert method.objective.temperature_bias.abs().sum() > 0  # the temperatures learn
    assert {"positive_similarity", "temperature", "temperature_prior"} <= set(output.metrics)
    kwargs["head_kwargs"].update(num_heads=2)
    mismatched = METHODS.build("composed", encoder=TinyEncoder(), **kwargs)
    with pytest.raises(ValueError, match="same num_heads as the objective"):
        mismatched(views)
