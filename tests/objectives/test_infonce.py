"""InfoNCE against a naive per-pair loop, a textbook NT-Xent, and a hand-computed case."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives import InfoNCE, MemoryQueue
from contrastlearn.objectives._pairs import build_view_pairs
from contrastlearn.objectives.infonce import _BankNegatives


def naive_infonce(
    views, ids, temperature, cross_view_only=False, negatives=None, negative_ids=None
):
    """loss_i = mean_p -log(e^s_ip / (e^s_ip + sum_n e^s_in)), looping over rows and pairs."""
    rows, row_ids, row_views = [], [], []
    for view_index, view in enumerate(views):
        for item in range(view.shape[0]):
            vector = view[item]
            rows.append(vector / torch.sqrt((vector * vector).sum()))
            row_ids.append(int(ids[item]))
            row_views.append(view_index)
    bank = []
    if negatives is not None:
        for k in range(negatives.shape[0]):
            vector = negatives[k]
            bank_id = None if negative_ids is None else int(negative_ids[k])
            bank.append((vector / torch.sqrt((vector * vector).sum()), bank_id))
    anchor_losses = []
    for a, anchor in enumerate(rows):
        positives, negative_exps = [], []
        for c, candidate in enumerate(rows):
            if c == a or (cross_view_only and row_views[c] == row_views[a]):
                continue
            score = (anchor * candidate).sum() / temperature
            if row_ids[c] == row_ids[a]:
                positives.append(score)
            else:
                negative_exps.append(torch.exp(score))
        for vector, bank_id in bank:
            if bank_id is not None and bank_id == row_ids[a]:
                continue
            negative_exps.append(torch.exp((anchor * vector).sum() / temperature))
        negative_sum = sum(negative_exps) if negative_exps else torch.zeros((), dtype=anchor.dtype)
        terms = [-torch.log(torch.exp(p) / (torch.exp(p) + negative_sum)) for p in positives]
        if terms:
            anchor_losses.append(sum(terms) / len(terms))
    return sum(anchor_losses) / len(anchor_losses)


def textbook_nt_xent(z1, z2, temperature):
    """The common SimCLR implementation: concat, similarity, mask diagonal, cross_entropy."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(len(z), dtype=torch.bool), float("-inf"))
    batch = z1.shape[0]
    targets = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)])
    return F.cross_entropy(logits, targets)


def random_views(num_views=2, batch=5, dim=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, dim, generator=generator, dtype=torch.float64).requires_grad_()
        for _ in range(num_views)
    ]


def assert_value_and_grad(loss, reference, inputs):
    torch.testing.assert_close(loss, reference)
    ours = torch.autograd.grad(loss, inputs, retain_graph=True)
    theirs = torch.autograd.grad(reference, inputs)
    for mine, expected in zip(ours, theirs):
        torch.testing.assert_close(mine, expected)


def test_registered_under_both_names():
    assert OBJECTIVES.get("infonce") is InfoNCE
    assert OBJECTIVES.get("nt_xent") is InfoNCE


def test_hand_computed_two_orthogonal_items():
    # views identical, items orthogonal: each anchor has cos 1 with its positive, 0 with both
    # negatives, so loss = -log(e^{1/t} / (e^{1/t} + 2)) = log(1 + 2 e^{-1/t})
    view = torch.tensor([[1.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    output = InfoNCE(temperature=0.5)([view, view.clone()])
    torch.testing.assert_close(output.loss.item(), math.log(1 + 2 * math.exp(-2.0)))
    assert output.metrics["contrastive_accuracy"] == 1.0
    assert output.metrics["positive_similarity"] == pytest.approx(1.0)
    assert output.metrics["negative_similarity"] == pytest.approx(0.0)
    assert output.metrics["temperature"] == pytest.approx(0.5)


@pytest.mark.parametrize("cross_view_only", [False, True])
@pytest.mark.parametrize("num_views", [2, 3])
def test_matches_naive_reference(num_views, cross_view_only):
    views = random_views(num_views)
    ids = torch.arange(5)
    loss = InfoNCE(temperature=0.3, cross_view_only=cross_view_only)(views, ids=ids).loss
    reference = naive_infonce(views, ids, 0.3, cross_view_only=cross_view_only)
    assert_value_and_grad(loss, reference, views)


def test_two_views_equal_textbook_nt_xent():
    views = random_views(2, batch=6, dim=5, seed=3)
    loss = InfoNCE(temperature=0.2)(views).loss
    assert_value_and_grad(loss, textbook_nt_xent(*views, 0.2), views)


@pytest.mark.parametrize("with_bank", [False, True])
@pytest.mark.parametrize("cross_view_only", [False, True])
def test_fast_path_equals_general_path(cross_view_only, with_bank):
    views = random_views(2, seed=4)
    objective = InfoNCE(temperature=0.2, cross_view_only=cross_view_only)
    pairs = build_view_pairs(views, None, gather=False)
    scale = objective.inverse_temperature()
    bank = None
    if with_bank:
        rows = torch.randn(4, 4, dtype=torch.float64)
        bank = _BankNegatives.build(pairs, scale, rows, torch.tensor([1, 9, 3, 8]))
    fast, fast_metrics = objective._two_unique_views(pairs, scale, bank)
    general, general_metrics = objective._general(pairs, scale, bank)
    assert_value_and_grad(fast, general, views)
    for name, value in general_metrics.items():
        torch.testing.assert_close(fast_metrics[name].double(), value.double(), msg=name)


def test_empty_bank_is_no_bank():
    views = random_views(2, seed=4)
    empty = torch.zeros(0, 4, dtype=torch.float64)
    objective = InfoNCE(temperature=0.2)
    torch.testing.assert_close(objective(views, negatives=empty).loss, objective(views).loss)


@pytest.mark.parametrize("num_views", [2, 3])
def test_duplicate_ids_are_positives_never_negatives(num_views):
    views = random_views(num_views, seed=1)
    ids = torch.tensor([10, 11, 12, 11, 13])  # items 1 and 3 are the same
    loss = InfoNCE(temperature=0.25)(views, ids=ids).loss
    reference = naive_infonce(views, ids, 0.25)
    assert_value_and_grad(loss, reference, views)
    # and it differs from treating the duplicate as a negative
    assert not torch.allclose(loss, InfoNCE(temperature=0.25)(views).loss)


def test_queue_negatives_masked_by_negative_ids():
    views = random_views(2, seed=2)
    generator = torch.Generator().manual_seed(7)
    bank = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    bank_ids = torch.tensor([0, 3, 20, 21, 22, 4])  # three bank rows are items of the batch
    ids = torch.arange(5)
    for cross_view_only in (False, True):
        objective = InfoNCE(temperature=0.3, cross_view_only=cross_view_only)
        loss = objective(views, ids=ids, negatives=bank, negative_ids=bank_ids).loss
        reference = naive_infonce(views, ids, 0.3, cross_view_only, bank, bank_ids)
        assert_value_and_grad(loss, reference, views)
    unmasked = InfoNCE(temperature=0.3)(views, ids=ids, negatives=bank).loss
    torch.testing.assert_close(unmasked, naive_infonce(views, ids, 0.3, False, bank, None))


def test_memory_queue_feeds_negatives():
    views = random_views(2, seed=5)
    queue = MemoryQueue(size=4, dim=4).double()
    queue.enqueue(torch.randn(3, 4, dtype=torch.float64), torch.tensor([1, 7, 8]))
    keys, key_ids = queue.negatives()
    loss = InfoNCE(temperature=0.3)(views, negatives=keys, negative_ids=key_ids).loss
    reference = naive_infonce(views, torch.arange(5), 0.3, False, keys, key_ids)
    torch.testing.assert_close(loss, reference)


@pytest.mark.parametrize(
    "num_views, cross_view_only, with_bank", [(2, False, False), (3, False, True), (2, True, True)]
)
def test_gradcheck(num_views, cross_view_only, with_bank):
    views = random_views(num_views, batch=4, dim=3, seed=6)
    ids = torch.tensor([0, 1, 1, 2])
    bank = torch.randn(3, 3, dtype=torch.float64, requires_grad=True) if with_bank else None
    objective = InfoNCE(temperature=0.5, cross_view_only=cross_view_only)

    def loss_of(*inputs):
        if with_bank:
            return objective(list(inputs[:-1]), ids=ids, negatives=inputs[-1],
                             negative_ids=torch.tensor([2, 5, 6])).loss
        return objective(list(inputs), ids=ids).loss

    inputs = (*views, bank) if with_bank else tuple(views)
    assert torch.autograd.gradcheck(loss_of, inputs)


def test_learnable_temperature_has_gradient_and_matches_reference():
    views = random_views(2, seed=8)
    objective = InfoNCE(temperature=0.2, learnable_temperature=True).double()
    output = objective(views)
    output.loss.backward()
    gradient = objective.log_inverse_temperature.grad
    assert gradient is not None and gradient.abs() > 0
    log_inverse = torch.tensor(math.log(5.0), dtype=torch.float64, requires_grad=True)
    reference = naive_infonce([v.detach() for v in views], torch.arange(5), torch.exp(-log_inverse))
    (expected,) = torch.autograd.grad(reference, log_inverse)
    torch.testing.assert_close(gradient, expected)
    assert output.metrics["temperature"] == pytest.approx(0.2)


def test_learnable_temperature_is_clamped_at_one_hundredth_after_the_step():
    """As CLIP: the forward uses the parameter unclamped; `clamp_temperature_` (called after
    each optimizer step) brings it back to 0.01."""
    objective = InfoNCE(temperature=0.05, learnable_temperature=True)
    with torch.no_grad():
        objective.log_inverse_temperature.fill_(math.log(1000.0))
    output = objective(random_views(2))
    assert output.metrics["temperature"] == pytest.approx(0.001)
    objective.clamp_temperature_()
    assert objective(random_views(2)).metrics["temperature"] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="clamped"):
        InfoNCE(temperature=0.001, learnable_temperature=True)


def test_metrics_are_detached_scalars():
    output = InfoNCE()(random_views(3))
    for name in ("contrastive_accuracy", "positive_similarity", "negative_similarity",
                 "temperature"):
        value = output.metrics[name]
        assert not isinstance(value, torch.Tensor) or (value.dim() == 0 and not value.requires_grad)


def test_bad_inputs_raise():
    objective = InfoNCE()
    with pytest.raises(ValueError, match="at least 2 views"):
        objective([torch.randn(4, 3)])
    with pytest.raises(ValueError, match="shape"):
        objective([torch.randn(4, 3), torch.randn(5, 3)])
    with pytest.raises(ValueError, match="ids"):
        objective([torch.randn(4, 3), torch.randn(4, 3)], ids=torch.arange(3))
    with pytest.raises(ValueError, match="negatives"):
        objective([torch.randn(4, 3), torch.randn(4, 3)], negatives=torch.randn(2, 5))
    with pytest.raises(ValueError, match="negative_ids"):
        objective([torch.randn(4, 3), torch.randn(4, 3)], negatives=torch.randn(2, 3),
                  negative_ids=torch.arange(3))


def test_anchor_views_is_moco_query_only_loss():
    """With anchor_views=1 and cross_view_only, only queries are anchors: the loss is the
    textbook MoCo cross-entropy over [own key, other keys, queue]."""
    torch.manual_seed(0)
    queries = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(6, 4, dtype=torch.float64)
    queue = torch.randn(5, 4, dtype=torch.float64)
    objective = InfoNCE(0.2, cross_view_only=True, anchor_views=1)
    loss = objective([queries, keys], negatives=queue).loss
    q, k, bank = (F.normalize(t, dim=1) for t in (queries, keys, queue))
    logits = torch.cat([q @ k.T, q @ bank.T], dim=1) / 0.2
    expected = F.cross_entropy(logits, torch.arange(6))
    assert torch.allclose(loss, expected)
    (gradient,) = torch.autograd.grad(loss, queries)
    (expected_gradient,) = torch.autograd.grad(expected, queries)
    assert torch.allclose(gradient, expected_gradient)
    with pytest.raises(ValueError, match="anchor_views"):
        InfoNCE(anchor_views=0)
