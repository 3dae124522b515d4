"""soft_targets (SAN's soft contrastive targets in feature space) against a per-anchor loop."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlearn.config import load_recipe
from contrastlearn.core.registry import METHOD_OPTIONS, METHODS
from contrastlearn.objectives import DCL, InfoNCE, SoftTargets, SupCon
from tests.objectives.tiny import TinyEncoder


def naive_soft_loss(views, ids, temperature, softness, neighbours, neighbour_temperature,
                    decoupled=False):
    """Per anchor: positives weight 1, the k most similar negatives weight
    softness / (1 - softness) * P * q_j and negative weight 1 - softness * q_j."""
    rows, row_ids = [], []
    for view in views:
        for item in range(view.shape[0]):
            rows.append(view[item] / view[item].norm())
            row_ids.append(int(ids[item]))
    losses = []
    for a, anchor in enumerate(rows):
        positives, negatives = [], []
        for c, candidate in enumerate(rows):
            if c == a:
                continue
            cosine = torch.dot(anchor, candidate)  # .item() below: the shares are detached
            (positives if row_ids[c] == row_ids[a] else negatives).append(cosine)
        closest_first = sorted(range(len(negatives)), key=lambda n: -negatives[n].detach().item())
        ranked = closest_first[:neighbours]
        exps = {n: math.exp(negatives[n].detach().item() / neighbour_temperature) for n in ranked}
        share = {n: exps[n] / sum(exps.values()) for n in ranked}
        denominator = sum((1 - softness * share.get(n, 0.0)) * torch.exp(s / temperature)
                          for n, s in enumerate(negatives))

        scored = [(1.0, p) for p in positives] + [
            (softness / (1 - softness) * len(positives) * share[n], negatives[n]) for n in ranked]
        total, weight = 0.0, 0.0
        for pair_weight, cosine in scored:
            logit = cosine / temperature
            if decoupled:
                term = torch.log(denominator) - logit
            else:
                term = -torch.log(torch.exp(logit) / (torch.exp(logit) + denominator))
            total = total + pair_weight * term
            weight += pair_weight
        losses.append(total / weight)
    return sum(losses) / len(losses)


def sample_views(batch=6, dim=5, views=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, dim, generator=generator, dtype=torch.float64)
            .requires_grad_() for _ in range(views)]


@pytest.mark.parametrize(("loss_class", "decoupled", "num_views", "ids"), [
    (InfoNCE, False, 2, None),
    (InfoNCE, False, 3, torch.tensor([0, 1, 1, 2, 3, 4])),
    (DCL, True, 2, None),
])
def test_matches_the_loop_in_value_and_gradient(loss_class, decoupled, num_views, ids):
    views = sample_views(views=num_views)
    item_ids = torch.arange(6) if ids is None else ids
    loss = loss_class(temperature=0.5)
    loss.add_pair_option(SoftTargets(softness=0.3, num_neighbours=3, neighbour_temperature=0.2))
    ours = loss(views, ids=ids).loss
    reference = naive_soft_loss(views, item_ids, 0.5, 0.3, 3, 0.2, decoupled=decoupled)
    torch.testing.assert_close(ours, reference)
    ours_grad = torch.autograd.grad(ours, views)
    reference_grad = torch.autograd.grad(reference, views)
    for a, b in zip(ours_grad, reference_grad):
        torch.testing.assert_close(a, b)


def test_softness_zero_is_plain_infonce():
    views = sample_views()
    plain = InfoNCE(temperature=0.2)(views).loss
    soft = InfoNCE(temperature=0.2)
    soft.add_pair_option(SoftTargets(softness=0.0))
    ours = soft(views).loss
    torch.testing.assert_close(ours, plain)
    for a, b in zip(torch.autograd.grad(ours, views), torch.autograd.grad(plain, views)):
        torch.testing.assert_close(a, b)


def test_a_near_neighbour_is_pushed_away_less():
    """Moving item 1 towards its near neighbour item 0 raises the plain loss; the larger the
    softness, the weaker that push."""
    base = torch.randn(6, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    noise = torch.randn(6, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    base[1] = base[0] + 0.3 * noise[1]

    def push(softness):
        loss = InfoNCE(temperature=0.1)
        if softness:
            loss.add_pair_option(SoftTargets(softness=softness, num_neighbours=1))
        step = torch.zeros((), dtype=torch.float64, requires_grad=True)
        moved = torch.cat([base[:1], (base[1] + step * (base[0] - base[1]))[None], base[2:]])
        return torch.autograd.grad(loss([moved, moved + 0.2 * noise]).loss, step)[0]

    plain, soft, softer = push(0.0), push(0.3), push(0.9)
    assert plain > soft > softer


def test_more_neighbours_than_negatives_and_bad_settings():
    views = sample_views(batch=2)  # each anchor has 2 negatives
    loss = InfoNCE(temperature=0.5)
    loss.add_pair_option(SoftTargets(softness=0.3, num_neighbours=10, neighbour_temperature=0.2))
    reference = naive_soft_loss(views, torch.arange(2), 0.5, 0.3, 10, 0.2)
    torch.testing.assert_close(loss(views).loss, reference)
    with pytest.raises(ValueError, match="softness must be in"):
        SoftTargets(softness=1.0)
    with pytest.raises(ValueError, match="num_neighbours"):
        SoftTargets(num_neighbours=0)
    with pytest.raises(ValueError, match="neighbour_temperature"):
        SoftTargets(neighbour_temperature=0.0)
    with pytest.raises(ValueError, match="infonce, decoupled losses, not for SupCon"):
        SupCon().add_pair_option(SoftTargets())


def test_one_training_step_of_a_composed_method_and_the_recipe():
    torch.manual_seed(0)
    method = METHODS.build("composed", encoder=TinyEncoder(), head="projection_mlp",
                           head_kwargs={"hidden_dim": 16, "out_dim": 8}, objective="infonce")
    method.add_option(METHOD_OPTIONS.build("soft_targets"), "soft_targets")
    optimizer = torch.optim.SGD(method.parameters(), lr=0.1)
    views = [torch.randn(8, 6), torch.randn(8, 6)]
    before = method.encoder.layer.weight.detach().clone()
    output = method(views)
    output.loss.backward()
    optimizer.step()
    assert output.loss.isfinite() and not torch.equal(before, method.encoder.layer.weight)
    recipe = load_recipe("fashion-mnist-simclr-soft-targets")
    assert recipe.method.name == "simclr"
    assert [option.name for option in recipe.method.options] == ["soft_targets"]
