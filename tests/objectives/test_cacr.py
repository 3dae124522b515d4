"""CACR (contrastive attraction and contrastive repulsion) against a per-anchor loop."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.config import load_recipe
from contrastlearn.core.registry import METHODS, OBJECTIVES
from contrastlearn.objectives import CACR
from tests.objectives.tiny import TinyEncoder


def naive_cacr(views, ids, t_pos, t_neg, detach=True):
    """Per anchor: exp(+t_pos d) weighted mean distance to positives minus exp(-t_neg d)
    weighted mean distance to negatives, d the squared distance of unit vectors."""
    rows, row_ids = [], []
    for view in views:
        for item in range(view.shape[0]):
            rows.append(view[item] / view[item].norm())
            row_ids.append(int(ids[item]))
    attractions, repulsions = [], []
    for a, anchor in enumerate(rows):
        positives, negatives = [], []
        for c, candidate in enumerate(rows):
            if c != a:
                distance = ((anchor - candidate) ** 2).sum()
                (positives if row_ids[c] == row_ids[a] else negatives).append(distance)
        for group, sign, bucket in ((positives, t_pos, attractions),
                                    (negatives, -t_neg, repulsions)):
            if not group:
                continue
            raw = [torch.exp(sign * (d.detach() if detach else d)) for d in group]
            bucket.append(sum(w * d for w, d in zip(raw, group)) / sum(raw))
    return sum(attractions) / len(attractions) - sum(repulsions) / len(repulsions)


def sample_views(batch=5, dim=4, views=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, dim, generator=generator, dtype=torch.float64)
            .requires_grad_() for _ in range(views)]


@pytest.mark.parametrize(("num_views", "ids", "detach"), [
    (2, None, True),
    (3, None, True),
    (3, torch.tensor([0, 1, 1, 2, 3]), True),
    (3, None, False),
])
def test_matches_the_loop_in_value_and_gradient(num_views, ids, detach):
    views = sample_views(views=num_views)
    item_ids = torch.arange(5) if ids is None else ids
    ours = CACR(pos_temperature=1.5, neg_temperature=2.0, detach_weights=detach)(views, ids=ids)
    reference = naive_cacr(views, item_ids, 1.5, 2.0, detach=detach)
    torch.testing.assert_close(ours.loss, reference)
    ours_grad = torch.autograd.grad(ours.loss, views)
    reference_grad = torch.autograd.grad(reference, views)
    for a, b in zip(ours_grad, reference_grad):
        torch.testing.assert_close(a, b)


def test_zero_temperatures_give_mean_attraction_minus_mean_repulsion():
    views = sample_views(views=3)
    rows = torch.nn.functional.normalize(torch.cat(views), dim=1)
    distance = torch.cdist(rows, rows) ** 2
    item = torch.arange(5).repeat(3)
    same = item[:, None] == item[None, :]
    positive = same & ~torch.eye(15, dtype=torch.bool)
    expected = ((distance * positive).sum(1) / positive.sum(1)).mean() - (
        (distance * ~same).sum(1) / (~same).sum(1)).mean()
    output = CACR(pos_temperature=0.0, neg_temperature=0.0)(views)
    torch.testing.assert_close(output.loss, expected)
    torch.testing.assert_close(output.metrics["attraction"] - output.metrics["repulsion"],
                               expected.detach())


def test_large_temperatures_pick_the_farthest_positive_and_the_closest_negative():
    views = sample_views(views=3)
    rows = torch.nn.functional.normalize(torch.cat(views), dim=1).detach()
    distance = torch.cdist(rows, rows) ** 2
    item = torch.arange(5).repeat(3)
    same = item[:, None] == item[None, :]
    farthest = distance.masked_fill(~same, -1.0).amax(1).mean()
    closest = distance.masked_fill(same, 9.0).amin(1).mean()
    output = CACR(pos_temperature=2000.0, neg_temperature=2000.0)(views)
    torch.testing.assert_close(output.metrics["attraction"], farthest, atol=1e-3, rtol=0)
    torch.testing.assert_close(output.metrics["repulsion"], closest, atol=1e-3, rtol=0)


def test_bad_inputs_fail_with_one_line():
    with pytest.raises(ValueError, match="must be >= 0"):
        CACR(neg_temperature=-1.0)
    with pytest.raises(ValueError, match="CACR needs at least 2 views"):
        CACR()([torch.randn(4, 3)])
    with pytest.raises(ValueError, match=r"ids must have shape \(4,\)"):
        CACR()([torch.randn(4, 3), torch.randn(4, 3)], ids=torch.arange(3))


def test_one_training_step_of_a_composed_method_and_the_recipe():
    assert isinstance(OBJECTIVES.build("cacr"), CACR)
    kwargs = load_recipe("fashion-mnist-cacr").method.kwargs
    kwargs["head_kwargs"] = {"hidden_dim": 16, "out_dim": 8}
    torch.manual_seed(0)
    method = METHODS.build("composed", encoder=TinyEncoder(), **kwargs)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.1)
    before = method.encoder.layer.weight.detach().clone()
    output = method([torch.randn(8, 6), torch.randn(8, 6)], ids=torch.arange(8))
    output.loss.backward()
    optimizer.step()
    assert output.loss.isfinite() and not torch.equal(before, method.encoder.layer.weight)
    assert {"positive_similarity", "negative_similarity", "contrastive_accuracy",
            "attraction", "repulsion"} <= set(output.metrics)
