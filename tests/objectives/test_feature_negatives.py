"""Feature-space negatives (negative_interpolation, adversarial_negatives): the synthetic
negatives against per-anchor loops from the same draws, the losses they give (value and
gradient) against a naive loop, the plain loss when they add nothing, bad kwargs, and one
SimCLR step each."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from contrastlearn.core.registry import METHOD_OPTIONS, METHODS
from contrastlearn.objectives import InfoNCE, SupCon
from contrastlearn.objectives.feature_negatives import AdversarialNegatives, NegativeInterpolation
from contrastlearn.objectives.pair_options import PairOption, PairTable


def views(num_views=2, batch=5, dim=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, dim, generator=generator, dtype=torch.float64).requires_grad_()
            for _ in range(num_views)]


def unit(vector):
    return vector / torch.sqrt((vector * vector).sum(-1, keepdim=True))


class Record(PairOption):
    """Keeps the table it is handed (after the option under test, when attached after it)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[PairTable] = []

    def forward(self, table: PairTable) -> PairTable:
        self.tables.append(table)
        return table


def run(loss, option, z, ids):
    """The loss's output with `option` attached, and the table the option edited."""
    record = Record()
    loss.add_pair_option(option)
    loss.add_pair_option(record)
    return loss(z, ids=ids), record.tables[0]


def naive_infonce_with_extra(z, ids, extra, temperature):
    """Each row against every other: -log(e^s_p / (e^s_p + sum_n e^s_n + sum_k e^x_k))."""
    rows = [unit(row) for view in z for row in view]
    row_ids = [int(i) for _ in z for i in ids]
    losses = []
    for a, anchor in enumerate(rows):
        negatives = [torch.exp((anchor * rows[c]).sum() / temperature)
                     for c in range(len(rows)) if row_ids[c] != row_ids[a]]
        negatives += [torch.exp((anchor * extra[a, k]).sum() / temperature)
                      for k in range(extra.shape[1])]
        total = sum(negatives)
        terms = [-torch.log(torch.exp((anchor * rows[c]).sum() / temperature)
                            / (torch.exp((anchor * rows[c]).sum() / temperature) + total))
                 for c in range(len(rows)) if c != a and row_ids[c] == row_ids[a]]
        losses.append(sum(terms) / len(terms))
    return sum(losses) / len(losses)


# --- negative_interpolation -------------------------------------------------------------------


def test_interpolated_negatives_match_a_per_anchor_loop_from_the_same_draws():
    z = views()
    ids = torch.tensor([0, 1, 2, 3, 3])  # item 3 twice: its rows are never each other's negatives
    torch.manual_seed(5)
    _, table = run(InfoNCE(0.3), NegativeInterpolation(num_negatives=6, alpha=1.6), z, ids)
    extra = table.extra_negatives[0]
    assert extra.shape == (10, 6, 4) and extra.dtype == torch.float64
    assert not extra.requires_grad
    rows = [unit(row.detach()) for view in z for row in view]
    row_ids = [int(i) for _ in z for i in ids]
    weights = torch.tensor([[float(row_ids[c] != row_ids[a]) for c in range(10)]
                            for a in range(10)])
    torch.manual_seed(5)
    picks = torch.multinomial(weights, 12, replacement=True)
    concentration = torch.tensor(1.6)
    lam = torch.distributions.Beta(concentration, concentration).sample((10, 6, 1)).double()
    for a in range(10):
        for k in range(6):
            first, second = int(picks[a, k]), int(picks[a, 6 + k])
            assert row_ids[first] != row_ids[a] and row_ids[second] != row_ids[a]
            mix = lam[a, k] * rows[first] + (1 - lam[a, k]) * rows[second]
            torch.testing.assert_close(extra[a, k], unit(mix))


def test_interpolated_negatives_give_the_naive_loss_and_gradient():
    z = views(seed=1)
    ids = torch.arange(5)
    torch.manual_seed(0)
    output, table = run(InfoNCE(0.4), NegativeInterpolation(num_negatives=3), z, ids)
    reference = naive_infonce_with_extra(z, ids, table.extra_negatives[0], 0.4)
    torch.testing.assert_close(output.loss, reference)
    for grad, expected in zip(torch.autograd.grad(output.loss, z),
                              torch.autograd.grad(reference, z)):
        torch.testing.assert_close(grad, expected)


def test_no_interpolated_negatives_is_the_plain_loss_and_draws_are_seeded():
    z = views(seed=2)
    plain = InfoNCE(0.3)(z)
    edited, table = run(InfoNCE(0.3), NegativeInterpolation(num_negatives=0), z, None)
    torch.testing.assert_close(edited.loss, plain.loss)
    assert table.extra_negatives == []
    torch.manual_seed(1)
    first = run(InfoNCE(0.3), NegativeInterpolation(num_negatives=4), z, None)[1]
    torch.manual_seed(1)
    second = run(InfoNCE(0.3), NegativeInterpolation(num_negatives=4), z, None)[1]
    assert torch.equal(first.extra_negatives[0], second.extra_negatives[0])


def test_an_anchor_without_negatives_gets_zero_vectors():
    z = views(batch=3)
    labels = torch.zeros(3, dtype=torch.long)  # one class: SupCon has no negative at all
    loss = SupCon(0.3)
    record = Record()
    loss.add_pair_option(NegativeInterpolation(num_negatives=2))
    loss.add_pair_option(record)
    output = loss(z, labels=labels)
    assert torch.equal(record.tables[0].extra_negatives[0], torch.zeros(6, 2, 4,
                                                                         dtype=torch.float64))
    assert torch.isfinite(output.loss)


# --- adversarial_negatives ---------------------------------------------------------------------


def test_adversarial_negatives_match_a_per_anchor_loop():
    z = views(num_views=3, seed=3)
    ids = torch.arange(5)
    _, table = run(InfoNCE(0.2), AdversarialNegatives(epsilon=0.3), z, ids)
    extra = table.extra_negatives[0]
    assert extra.shape == (15, 1, 4) and not extra.requires_grad
    rows = [unit(row.detach()) for view in z for row in view]
    for a in range(15):
        anchor = rows[a]
        positives = [c for c in range(15) if c != a and c % 5 == a % 5]
        p = rows[max(positives, key=lambda c: float((anchor * rows[c]).sum()))]
        toward = anchor - (anchor * p).sum() * p
        expected = unit(p - 0.3 * toward / torch.sqrt((toward * toward).sum()))
        torch.testing.assert_close(extra[a, 0], expected)
        # a turn of atan(eps) from the positive, away from the anchor
        torch.testing.assert_close((expected * p).sum(), torch.tensor(math.cos(math.atan(0.3)),
                                                                      dtype=torch.float64))
        assert (anchor * extra[a, 0]).sum() < (anchor * p).sum()


def test_adversarial_negatives_give_the_naive_loss_and_gradient():
    z = views(seed=4)
    ids = torch.arange(5)
    output, table = run(InfoNCE(0.5), AdversarialNegatives(), z, ids)
    reference = naive_infonce_with_extra(z, ids, table.extra_negatives[0], 0.5)
    torch.testing.assert_close(output.loss, reference)
    for grad, expected in zip(torch.autograd.grad(output.loss, z),
                              torch.autograd.grad(reference, z)):
        torch.testing.assert_close(grad, expected)
    assert output.loss > InfoNCE(0.5)(z, ids=ids).loss  # a hard negative raises the loss


def test_adversarial_negative_at_epsilon_zero_is_the_positive_itself():
    z = views(seed=5)
    _, table = run(InfoNCE(0.5), AdversarialNegatives(epsilon=0.0), z, None)
    torch.testing.assert_close(table.extra_negatives[0][:, 0], table.candidates[
        torch.cat([torch.arange(5, 10), torch.arange(5)])].detach())


# --- shared: bad kwargs, methods ---------------------------------------------------------------


@pytest.mark.parametrize("factory, kwargs, problem", [
    (NegativeInterpolation, {"num_negatives": -1}, "num_negatives"),
    (NegativeInterpolation, {"alpha": 0.0}, "alpha"),
    (AdversarialNegatives, {"epsilon": -0.5}, "epsilon"),
])
def test_bad_kwargs_are_one_line_value_errors(factory, kwargs, problem):
    with pytest.raises(ValueError, match=problem) as error:
        factory(**kwargs)
    assert "\n" not in str(error.value)


class TinyEncoder(nn.Module):
    out_dim = 6

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 6)

    def forward(self, x):
        return self.layer(x)


OPTIONS = {"negative_interpolation": {"num_negatives": 4}, "adversarial_negatives": {}}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_one_simclr_training_step_with_each_negative_option(name):
    torch.manual_seed(0)
    method = METHODS.build("simclr", encoder=TinyEncoder(), projection_dim=4, hidden_dim=8)
    views_ = [torch.randn(5, 4), torch.randn(5, 4)]
    plain = method(views_).loss
    method.add_option(METHOD_OPTIONS.build(name, **OPTIONS[name]), name, "simclr")
    output = method(views_)
    output.loss.backward()
    assert torch.isfinite(output.loss) and not torch.allclose(output.loss, plain)
    assert method.encoder.layer.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_byol_refuses_each_negative_option_naming_both(name):
    byol = METHODS.build("byol", encoder=TinyEncoder(), projection_dim=4, hidden_dim=8,
                         predictor_hidden_dim=8)
    with pytest.raises(ValueError, match=f"'{name}'.*'byol'"):
        byol.add_option(METHOD_OPTIONS.build(name, **OPTIONS[name]), name, "byol")
