"""Feature-space positives (positive_extrapolation, halp, hallucinator, adversarial_positives):
shapes, dtypes, seeds, identity at strength 0, hand-written references of each formula, where
gradients flow, HaLP's hardness bounds and buffers, bad kwargs, and one SimCLR step each."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from contrastlearn.augment.feature_positives import (
    AdversarialPositives,
    Hallucinator,
    HaLP,
    PositiveExtrapolation,
)
from contrastlearn.core.registry import METHOD_OPTIONS, METHODS


def pair(batch=6, dim=5, seed=0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, dim, generator=generator, dtype=dtype).requires_grad_()
            for _ in range(2)]


def unit(rows):
    return rows / torch.sqrt((rows * rows).sum(-1, keepdim=True))


def beta_draw(alpha, shape):
    concentration = torch.tensor(alpha)
    return torch.distributions.Beta(concentration, concentration).sample(shape)


# --- positive_extrapolation -------------------------------------------------------------------


@pytest.mark.parametrize("granularity", ["batch", "item", "dimension"])
def test_extrapolation_matches_the_formula_from_the_same_beta_draw(granularity):
    z1, z2 = pair()
    torch.manual_seed(3)
    out = PositiveExtrapolation(alpha=1.6, strength=0.7, granularity=granularity)([z1, z2])
    torch.manual_seed(3)
    shape = {"batch": (1, 1), "item": (6, 1), "dimension": (6, 5)}[granularity]
    lam = 1 + 0.7 * beta_draw(1.6, shape).double()
    assert ((lam >= 1) & (lam <= 1.7)).all()
    n1 = torch.sqrt((z1 * z1).sum(-1, keepdim=True))
    n2 = torch.sqrt((z2 * z2).sum(-1, keepdim=True))
    u1, u2 = z1 / n1, z2 / n2
    torch.testing.assert_close(out[0], n1 * (lam * u1 + (1 - lam) * u2))
    torch.testing.assert_close(out[1], n2 * (lam * u2 + (1 - lam) * u1))


def test_extrapolation_pushes_the_views_apart_and_keeps_shape_dtype_and_further_views():
    z1, z2 = pair(dtype=torch.float32)
    z3 = torch.randn(6, 5)
    out = PositiveExtrapolation(strength=1.0, granularity="item")([z1, z2, z3])
    assert len(out) == 3 and out[2] is z3
    assert all(o.shape == (6, 5) and o.dtype == torch.float32 for o in out)
    before = (unit(z1) * unit(z2)).sum(-1)
    after = (unit(out[0]) * unit(out[1])).sum(-1)
    assert (after < before).all()


def test_extrapolation_is_identity_at_strength_zero_and_seeded():
    z1, z2 = pair()
    out = PositiveExtrapolation(strength=0.0)([z1, z2])
    assert torch.equal(out[0], z1) and torch.equal(out[1], z2)
    view = PositiveExtrapolation(granularity="dimension")
    torch.manual_seed(7)
    first = view([z1, z2])
    torch.manual_seed(7)
    second = view([z1, z2])
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(first[0], view([z1, z2])[0])


def test_extrapolation_gradient_reaches_both_views():
    z1, z2 = pair()
    out = PositiveExtrapolation()([z1, z2])
    grad1, grad2 = torch.autograd.grad(out[0].sum(), [z1, z2])
    assert grad1.abs().sum() > 0 and grad2.abs().sum() > 0


# --- halp --------------------------------------------------------------------------------------


def ready_halp(dim=5, num_prototypes=4, seed=1, **kwargs):
    halp = HaLP(dim=dim, num_prototypes=num_prototypes, buffer_size=8, **kwargs).double().eval()
    generator = torch.Generator().manual_seed(seed)
    halp.prototypes.copy_(unit(torch.randn(num_prototypes, dim, generator=generator,
                                           dtype=torch.float64)))
    halp.prototypes_ready.fill_(True)
    return halp


def paper_halp_reference(start, prototypes, offset, u):
    """HaLP's slerp with t_max = (1/w) atan(sin w / (K + cos w)), written per row."""
    rows = []
    for i in range(start.shape[0]):
        s = start[i]
        scores = [float((s * p).sum()) for p in prototypes]
        own = max(range(len(scores)), key=lambda k: scores[k])
        others = [k for k in range(len(prototypes)) if k != own]
        p0, pt = prototypes[own], prototypes[others[int(offset[i])]]
        omega = torch.acos((s * pt).sum())
        big_k = (1 - (pt * p0).sum()) / (s * (p0 - pt)).sum()
        denominator = big_k + torch.cos(omega)
        angle = torch.atan(torch.sin(omega) / denominator) + (math.pi if denominator < 0 else 0)
        t = (1 - u[i]) * angle / omega
        rows.append((torch.sin((1 - t) * omega) * s + torch.sin(t * omega) * pt)
                    / torch.sin(omega))
    return torch.stack(rows)


@pytest.mark.parametrize("lambda_max", [0.8, 0.0])
def test_halp_matches_the_papers_closed_form_from_the_same_draws(lambda_max):
    halp = ready_halp(lambda_max=lambda_max)
    z1, z2 = pair()
    torch.manual_seed(11)
    out = halp([z1, z2])
    torch.manual_seed(11)
    offset = torch.randint(0, 3, (6,))
    u = torch.rand(6) * lambda_max
    expected = paper_halp_reference(unit(z2.detach()), halp.prototypes, offset, u)
    torch.testing.assert_close(out[2], expected)
    assert len(out) == 3 and out[0] is z1 and out[1] is z2


def test_halp_positive_keeps_its_cluster_and_the_cosine_bound():
    z1, z2 = pair(batch=40, seed=4)
    start = unit(z2.detach())
    for lambda_max in (0.0, 0.8):
        halp = ready_halp(lambda_max=lambda_max, min_cosine=0.95)
        torch.manual_seed(0)
        positive = halp([z1, z2])[2]
        assert ((positive * start).sum(-1) >= 0.95 - 1e-9).all()
        free = ready_halp(lambda_max=lambda_max)
        torch.manual_seed(0)
        positive = free([z1, z2])[2]
        torch.manual_seed(0)
        offset = torch.randint(0, 3, (40,))
        own = (start @ free.prototypes.T).argmax(1)
        target = offset + (offset >= own).long()
        margin = ((positive * (free.prototypes[own] - free.prototypes[target])).sum(-1))
        assert (margin >= -1e-9).all()  # at least as close to its own prototype as to pt
        if lambda_max == 0.0:  # the full step lands on the boundary
            torch.testing.assert_close(margin, torch.zeros_like(margin))
        torch.testing.assert_close(positive.norm(dim=-1), torch.ones(40, dtype=torch.float64))


def test_halp_is_detached_and_copies_the_second_view_until_prototypes_exist():
    halp = HaLP(dim=5, num_prototypes=4, buffer_size=8).double()
    z1, z2 = pair(batch=3)
    out = halp([z1, z2])
    assert not out[2].requires_grad and out[2].dtype == torch.float64
    torch.testing.assert_close(out[2], unit(z2.detach()))
    assert not bool(halp.prototypes_ready) and int(halp.memory_count) == 3
    halp([z1, z2])
    assert bool(halp.prototypes_ready)  # 6 rows >= 4 prototypes


def test_halp_ring_buffer_and_one_spherical_kmeans_step():
    halp = HaLP(dim=3, num_prototypes=2, buffer_size=8).double()
    generator = torch.Generator().manual_seed(5)
    batches = [torch.randn(5, 3, generator=generator, dtype=torch.float64) for _ in range(3)]
    torch.manual_seed(2)
    halp([batches[0], batches[0]])  # 5 rows >= 2 prototypes: initialised, then one step
    torch.manual_seed(2)
    first = torch.randperm(5)[:2]
    rows = unit(batches[0])
    prototypes = rows[first]
    expected = prototypes.clone()
    for k in range(2):
        members = [row for row in rows if int(torch.argmax(prototypes @ row)) == k]
        if members:
            expected[k] = unit(sum(members) / len(members))
    torch.testing.assert_close(halp.prototypes, expected)
    halp([batches[1], batches[1]])
    halp([batches[2], batches[2]])
    every = unit(torch.cat(batches))  # 15 rows into 8 slots: slot r % 8 holds row r
    expected = torch.stack([every[r] for r in [8, 9, 10, 11, 12, 13, 14, 7]])
    torch.testing.assert_close(halp.memory, expected)
    assert int(halp.memory_count) == 8 and int(halp.memory_pointer) == 7
    halp.eval()
    memory = halp.memory.clone()
    halp([batches[0], batches[0]])
    assert torch.equal(halp.memory, memory)  # no update outside training


def test_halp_state_dict_round_trip_and_seeded_generation():
    halp = HaLP(dim=5, num_prototypes=3, buffer_size=8)
    z1, z2 = pair(dtype=torch.float32)
    torch.manual_seed(0)
    for _ in range(3):
        halp([z1, z2])
    restored = HaLP(dim=5, num_prototypes=3, buffer_size=8)
    restored.load_state_dict(halp.state_dict())
    for name, buffer in halp.named_buffers():
        assert torch.equal(buffer, dict(restored.named_buffers())[name])
    torch.manual_seed(9)
    expected = halp([z1, z2])[2]
    torch.manual_seed(9)
    got = restored([z1, z2])[2]
    assert torch.equal(got, expected) and got.dtype == torch.float32
    assert torch.equal(halp.prototypes, restored.prototypes)  # same online update too


# --- hallucinator ------------------------------------------------------------------------------


def test_hallucinator_matches_extrapolation_then_smoothing_by_hand():
    hallucinator = Hallucinator(dim=5, hidden_dim=7, strength=0.6).double()
    generator = torch.Generator().manual_seed(1)
    for parameter in hallucinator.parameters():
        parameter.data = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
    z1, z2 = pair()
    torch.manual_seed(4)
    out = hallucinator([z1, z2])
    torch.manual_seed(4)
    lam = torch.rand(6, 1).double() * 0.6
    extrapolated = unit(z1) + lam * (unit(z1) - unit(z2))
    first, last = hallucinator.smooth[0], hallucinator.smooth[2]
    hidden = torch.clamp(extrapolated @ first.weight.T + first.bias, min=0)
    torch.testing.assert_close(out[2], extrapolated + hidden @ last.weight.T + last.bias)
    assert len(out) == 3 and out[2].shape == (6, 5) and out[2].dtype == torch.float64


def test_untrained_hallucinator_at_strength_zero_appends_the_first_direction_and_is_seeded():
    z1, z2 = pair(dtype=torch.float32)
    out = Hallucinator(dim=5, strength=0.0)([z1, z2])
    torch.testing.assert_close(out[2], unit(z1))
    hallucinator = Hallucinator(dim=5)
    torch.manual_seed(1)
    first = hallucinator([z1, z2])[2]
    torch.manual_seed(1)
    assert torch.equal(hallucinator([z1, z2])[2], first)


def test_hallucinator_gradient_reaches_both_views_and_its_mlp():
    hallucinator = Hallucinator(dim=5).double()
    z1, z2 = pair()
    out = hallucinator([z1, z2])[2]
    target = torch.randn(6, 5, dtype=torch.float64)
    (out * target).sum().backward()
    assert z1.grad.abs().sum() > 0 and z2.grad.abs().sum() > 0
    assert hallucinator.smooth[2].weight.grad.abs().sum() > 0


# --- adversarial_positives ---------------------------------------------------------------------


def hand_adversarial_positive(z1, z2, epsilon, min_cosine, temperature):
    """The InfoNCE gradient by hand: dL/du_i = (sum_j p_ij v_j - v_i) / (B t), tangent part."""
    u, v = unit(z1.detach()), unit(z2.detach())
    batch = u.shape[0]
    probabilities = torch.softmax(u @ v.T / temperature, dim=1)
    gradient = (probabilities @ v - v) / (batch * temperature)
    tangent = gradient - (gradient * u).sum(-1, keepdim=True) * u
    theta = min(math.atan(epsilon), math.acos(min_cosine))
    return math.cos(theta) * u + math.sin(theta) * unit(tangent)


@pytest.mark.parametrize("epsilon, min_cosine", [(3.0, 0.8), (0.5, 0.5)])
def test_adversarial_positive_matches_the_hand_gradient_within_the_bound(epsilon, min_cosine):
    z1, z2 = pair()
    out = AdversarialPositives(epsilon=epsilon, min_cosine=min_cosine, temperature=0.2)([z1, z2])
    expected = hand_adversarial_positive(z1, z2, epsilon, min_cosine, 0.2)
    torch.testing.assert_close(out[2], expected)
    cosine = (out[2] * unit(z1.detach())).sum(-1)
    bound = max(min_cosine, math.cos(math.atan(epsilon)))
    torch.testing.assert_close(cosine, torch.full_like(cosine, bound))
    assert not out[2].requires_grad and z1.grad is None  # no graph kept, nothing accumulated
    assert len(out) == 3 and out[0] is z1


def test_adversarial_positive_raises_the_pair_loss_and_is_the_view_at_epsilon_zero():
    z1, z2 = pair(batch=8, dtype=torch.float32)

    def pair_loss(u):
        logits = unit(u) @ unit(z2.detach()).T / 0.1
        return torch.nn.functional.cross_entropy(logits, torch.arange(8))

    out = AdversarialPositives(epsilon=0.1)([z1, z2])
    assert pair_loss(out[2]) > pair_loss(z1.detach())
    torch.testing.assert_close(AdversarialPositives(epsilon=0.0)([z1, z2])[2], unit(z1.detach()))
    assert out[2].dtype == torch.float32
    assert torch.equal(AdversarialPositives(epsilon=0.1)([z1, z2])[2], out[2])


# --- shared: bad kwargs, registry, methods -------------------------------------------------------


@pytest.mark.parametrize("factory, kwargs, problem", [
    (PositiveExtrapolation, {"alpha": 0.0}, "alpha"),
    (PositiveExtrapolation, {"strength": -1.0}, "strength"),
    (PositiveExtrapolation, {"granularity": "pixel"}, "granularity"),
    (HaLP, {"dim": 0}, "dim"),
    (HaLP, {"num_prototypes": 1}, "num_prototypes"),
    (HaLP, {"num_prototypes": 30, "buffer_size": 20}, "buffer_size"),
    (HaLP, {"lambda_max": 1.5}, "lambda_max"),
    (HaLP, {"min_cosine": 1.0}, "min_cosine"),
    (Hallucinator, {"dim": 0}, "dim"),
    (Hallucinator, {"hidden_dim": 0}, "hidden_dim"),
    (Hallucinator, {"strength": -0.1}, "strength"),
    (AdversarialPositives, {"epsilon": -1.0}, "epsilon"),
    (AdversarialPositives, {"min_cosine": -2.0}, "min_cosine"),
    (AdversarialPositives, {"temperature": 0.0}, "temperature"),
])
def test_bad_kwargs_are_one_line_value_errors(factory, kwargs, problem):
    with pytest.raises(ValueError, match=problem) as error:
        factory(**kwargs)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("view", [PositiveExtrapolation(), HaLP(dim=5), Hallucinator(dim=5),
                                  AdversarialPositives()])
def test_one_view_is_refused(view):
    with pytest.raises(ValueError, match="pair of views") as error:
        view([torch.randn(4, 5)])
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("view", [HaLP(dim=8), Hallucinator(dim=8)])
def test_a_dim_other_than_the_embeddings_is_refused_naming_the_fix(view):
    with pytest.raises(ValueError, match="projection_dim"):
        view([torch.randn(4, 5), torch.randn(4, 5)])


class TinyEncoder(nn.Module):
    out_dim = 6

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 6)

    def forward(self, x):
        return self.layer(x)


OPTIONS = {
    "positive_extrapolation": {},
    "halp": {"dim": 4, "num_prototypes": 2, "buffer_size": 4},
    "hallucinator": {"dim": 4},
    "adversarial_positives": {},
}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_one_simclr_training_step_with_each_feature_view(name):
    torch.manual_seed(0)
    method = METHODS.build("simclr", encoder=TinyEncoder(), projection_dim=4, hidden_dim=8)
    option = METHOD_OPTIONS.build(name, **OPTIONS[name])
    method.add_option(option, name, "simclr")
    views = [torch.randn(5, 4), torch.randn(5, 4)]
    for _ in range(2):  # the second step finds HaLP's prototypes ready
        method.zero_grad()
        output = method(views)
        output.loss.backward()
    assert torch.isfinite(output.loss)
    assert method.encoder.layer.weight.grad.abs().sum() > 0
    plain = METHODS.build("simclr", encoder=copy.deepcopy(method.encoder), projection_dim=4,
                          hidden_dim=8)
    plain.projector.load_state_dict(method.projector.state_dict())
    assert not torch.allclose(plain(views).loss, output.loss)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_byol_refuses_each_feature_view_naming_both(name):
    byol = METHODS.build("byol", encoder=TinyEncoder(), projection_dim=4, hidden_dim=8,
                         predictor_hidden_dim=8)
    with pytest.raises(ValueError, match=f"'{name}'.*'byol'"):
        byol.add_option(METHOD_OPTIONS.build(name, **OPTIONS[name]), name, "byol")
