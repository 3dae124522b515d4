"""Hydra (class-pair gated InfoNCE) against a per-anchor loop."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.config import load_recipe
from contrastlearn.core.registry import METHODS
from contrastlearn.objectives import Hydra, InfoNCE
from contrastlearn.objectives.hydra import seeded_class_matching
from tests.objectives.tiny import TinyEncoder


def naive_hydra(objective, views, labels, partner_of_item, temperature, sparsity_weight):
    """Per anchor row: its gate from the pair (own class, partner class), cosines of gated
    vectors, positives = other rows of either class, negatives = rows of other classes."""
    rows, row_labels, row_partners = [], [], []
    for view in views:
        for item in range(view.shape[0]):
            rows.append(view[item])
            row_labels.append(int(labels[item]))
            row_partners.append(int(partner_of_item[item]))
    losses, gate_means = [], []
    for a, anchor in enumerate(rows):
        pair = (row_labels[a], row_partners[a])
        embedded = objective.label_embedding.weight
        gate = torch.sigmoid(objective.gate_network((embedded[pair[0]] + embedded[pair[1]]) / 2))
        gate_means.append(gate.sum() / gate.numel())
        filtered = anchor * gate
        positives, negatives = [], []
        for c, candidate in enumerate(rows):
            if c == a:
                continue
            other = candidate * gate
            cosine = (filtered * other).sum() / (filtered.norm() * other.norm())
            (positives if row_labels[c] in pair else negatives).append(cosine / temperature)
        negative_sum = sum(torch.exp(n) for n in negatives)
        terms = [-torch.log(torch.exp(p) / (torch.exp(p) + negative_sum)) for p in positives]
        if terms:
            losses.append(sum(terms) / len(terms))
    return sum(losses) / len(losses) + sparsity_weight * sum(gate_means) / len(gate_means)


def sample_views(batch=6, dim=5, views=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, dim, generator=generator, dtype=torch.float64)
            .requires_grad_() for _ in range(views)]


def built(**kwargs):
    torch.manual_seed(0)
    return Hydra(num_classes=4, dim=5, temperature=0.5, label_dim=6, **kwargs).double()


LABELS = torch.tensor([0, 1, 2, 3, 1, 0])


def check_against_loop(objective, views, partner_of_item, output):
    reference = naive_hydra(objective, views, LABELS, partner_of_item, 0.5,
                            objective.sparsity_weight)
    torch.testing.assert_close(output.loss, reference)
    inputs = [*views, *objective.parameters()]
    ours_grad = torch.autograd.grad(output.loss, inputs)
    reference_grad = torch.autograd.grad(reference, inputs)
    for a, b in zip(ours_grad, reference_grad):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("num_views", [2, 3])
def test_fixed_pairing_matches_the_loop_in_value_and_gradient(num_views):
    objective = built(pairing="fixed", partners=[2, 3, 0, 1], sparsity_weight=0.1)
    views = sample_views(views=num_views)
    output = objective(views, labels=LABELS)
    check_against_loop(objective, views, torch.tensor([2, 3, 0, 1])[LABELS], output)


def test_random_pairing_draws_the_documented_partner_items():
    objective = built(sparsity_weight=0.05)
    views = sample_views()
    torch.manual_seed(3)
    output = objective(views, labels=LABELS)
    torch.manual_seed(3)
    offsets = torch.randint(1, 6, (6,))
    partner_items = (torch.arange(6) + offsets) % 6
    assert (partner_items != torch.arange(6)).all()
    check_against_loop(objective, views, LABELS[partner_items], output)


def test_a_constant_gate_with_self_pairing_is_infonce_with_labels_as_ids():
    objective = built(pairing="fixed", partners=[0, 1, 2, 3], sparsity_weight=0.0)
    with torch.no_grad():  # every gate sigmoid(0.85), about 0.7, in every dimension
        objective.gate_network[-1].weight.zero_()
        objective.gate_network[-1].bias.fill_(0.85)
    views = sample_views(views=3)
    ours = objective(views, labels=LABELS).loss
    plain = InfoNCE(temperature=0.5)(views, ids=LABELS).loss
    torch.testing.assert_close(ours, plain)
    for a, b in zip(torch.autograd.grad(ours, views), torch.autograd.grad(plain, views)):
        torch.testing.assert_close(a, b)


def test_seeded_class_matching_pairs_classes_two_by_two():
    for count in (1, 6, 7):
        partner = seeded_class_matching(count, seed=5)
        assert torch.equal(partner[partner], torch.arange(count))
        assert int((partner == torch.arange(count)).sum()) == count % 2
        assert torch.equal(partner, seeded_class_matching(count, seed=5))
    assert not torch.equal(seeded_class_matching(10, 0), seeded_class_matching(10, 1))
    assert torch.equal(Hydra(num_classes=10, dim=4, pairing="fixed", pairing_seed=1).partner,
                       seeded_class_matching(10, 1))


def test_bad_inputs_fail_with_one_line():
    objective = built()
    views = sample_views()
    with pytest.raises(ValueError, match="needs labels"):
        objective(views)
    with pytest.raises(ValueError, match=r"labels must have shape \(6,\)"):
        objective(views, labels=LABELS[:4])
    with pytest.raises(ValueError, match=r"class indices in \[0, 4\).*num_classes"):
        objective(views, labels=LABELS + 1)
    with pytest.raises(ValueError, match="built for 5-dimensional embeddings and got 3"):
        objective([torch.randn(6, 3), torch.randn(6, 3)], labels=LABELS)
    with pytest.raises(ValueError, match="set pairing: fixed"):
        Hydra(num_classes=4, dim=5, partners=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="partners must list one class"):
        Hydra(num_classes=4, dim=5, pairing="fixed", partners=[0, 1, 4, 3])


def test_one_training_step_of_a_composed_method_and_the_recipe():
    kwargs = load_recipe("fashion-mnist-hydra").method.kwargs
    kwargs["head_kwargs"] = {"hidden_dim": 16, "out_dim": 8}
    kwargs["objective_kwargs"].update(dim=8, num_classes=3)
    torch.manual_seed(0)
    method = METHODS.build("composed", encoder=TinyEncoder(), **kwargs)
    assert method.needs_labels
    views = [torch.randn(8, 6), torch.randn(8, 6)]
    with pytest.raises(ValueError, match="supervised"):
        method(views)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.1)
    gates_before = method.objective.gate_network[-1].weight.detach().clone()
    output = method(views, labels=torch.arange(8) % 3)
    output.loss.backward()
    optimizer.step()
    assert output.loss.isfinite()
    assert not torch.equal(gates_before, method.objective.gate_network[-1].weight)
    assert {"positive_similarity", "gate_mean", "contrastive"} <= set(output.metrics)
