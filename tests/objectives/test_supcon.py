"""SupCon (L_out) against a naive per-pair loop."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives import SupCon


def naive_supcon(views, labels, ids, temperature, base_temperature):
    rows, row_labels, row_ids = [], [], []
    for view in views:
        for item in range(view.shape[0]):
            rows.append(view[item] / torch.sqrt((view[item] * view[item]).sum()))
            row_labels.append(int(labels[item]))
            row_ids.append(int(ids[item]))
    losses = []
    for a in range(len(rows)):
        others = [c for c in range(len(rows)) if c != a]
        denominator = sum(torch.exp((rows[a] * rows[c]).sum() / temperature) for c in others)
        positives = [
            c for c in others if row_labels[c] == row_labels[a] or row_ids[c] == row_ids[a]
        ]
        if not positives:
            continue
        log_probabilities = [
            (rows[a] * rows[p]).sum() / temperature - torch.log(denominator) for p in positives
        ]
        losses.append(-(temperature / base_temperature) * sum(log_probabilities) / len(positives))
    return sum(losses) / len(losses)


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
    assert OBJECTIVES.get("supcon") is SupCon
    assert SupCon(temperature=0.2).base_temperature == 0.2


@pytest.mark.parametrize("num_views", [1, 2, 3])
def test_matches_naive_reference(num_views):
    views = random_views(num_views)
    labels = torch.tensor([0, 1, 0, 2, 1])
    objective = SupCon(temperature=0.3, base_temperature=0.07)
    loss = objective(views, labels=labels).loss
    reference = naive_supcon(views, labels, torch.arange(5), 0.3, 0.07)
    assert_value_and_grad(loss, reference, views)


def test_same_id_is_positive_even_with_different_labels():
    views = random_views(2, seed=1)
    labels = torch.tensor([0, 1, 2, 3, 4])
    ids = torch.tensor([0, 1, 0, 2, 3])
    loss = SupCon(temperature=0.2)(views, labels=labels, ids=ids).loss
    assert_value_and_grad(loss, naive_supcon(views, labels, ids, 0.2, 0.2), views)


def test_gradcheck():
    views = random_views(2, batch=4, dim=3, seed=2)
    labels = torch.tensor([1, 0, 1, 1])
    objective = SupCon(temperature=0.5)
    assert torch.autograd.gradcheck(lambda *v: objective(list(v), labels=labels).loss, tuple(views))


def test_bad_inputs_raise():
    views = [torch.randn(4, 3), torch.randn(4, 3)]
    with pytest.raises(ValueError, match="needs labels"):
        SupCon()(views)
    with pytest.raises(ValueError, match="labels must have shape"):
        SupCon()(views, labels=torch.arange(3))
    with pytest.raises(ValueError, match="shape"):
        SupCon()([torch.randn(4, 3), torch.randn(3, 3)], labels=torch.arange(4))


@pytest.mark.parametrize("num_views", [1, 2, 3])
def test_class_sum_fast_path_equals_the_masked_path(num_views, monkeypatch):
    """Summing positives by class gives the masked path's loss, gradients and metrics,
    including an anchor alone in its class (no positive with one view)."""
    import contrastlearn.objectives.supcon as supcon_module

    generator = torch.Generator().manual_seed(num_views)
    views = [torch.randn(10, 6, generator=generator, requires_grad=True)
             for _ in range(num_views)]
    labels = torch.tensor([0, 1, 1, 2, 2, 2, 0, 3, 1, 4])  # classes 3 and 4: one item each
    loss_fn = SupCon(temperature=0.3, base_temperature=0.07)
    fast = loss_fn(views, labels=labels)
    fast_grads = torch.autograd.grad(fast.loss, views)
    monkeypatch.setattr(supcon_module, "MAX_CLASSES_FOR_CLASS_SUMS", 0)  # the masked path
    slow = loss_fn(views, labels=labels)
    slow_grads = torch.autograd.grad(slow.loss, views)
    torch.testing.assert_close(fast.loss, slow.loss)
    for fast_grad, slow_grad in zip(fast_grads, slow_grads):
        torch.testing.assert_close(fast_grad, slow_grad)
    for key in slow.metrics:
        torch.testing.assert_close(torch.as_tensor(fast.metrics[key]),
                                   torch.as_tensor(slow.metrics[key]))
