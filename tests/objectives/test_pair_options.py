"""Pair options: the weighted pair table against a naive per-anchor loop, the plain losses
unchanged when the options change nothing, and options refused where they cannot act."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from contrastlearn.augment.feature_views import FeatureView
from contrastlearn.config import RecipeError, recipe_from_dict
from contrastlearn.core.registry import METHODS
from contrastlearn.objectives import DCL, DCLW, InfoNCE, SupCon
from contrastlearn.objectives.pair_options import PairOption, PairTable


class Unchanged(PairOption):
    def forward(self, table: PairTable) -> PairTable:
        return table


class RandomEdits(PairOption):
    """Fixed random positive weights (on positives and on two negatives per anchor), random
    negative log-weights with one negative dropped per anchor, and two synthetic negatives."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.seed = seed
        self.seen: dict[str, torch.Tensor] = {}

    def forward(self, table: PairTable) -> PairTable:
        generator = torch.Generator().manual_seed(self.seed)
        anchors, columns = table.similarity.shape
        weights = torch.rand(anchors, columns, generator=generator, dtype=torch.float64)
        promoted = torch.zeros(anchors, columns, dtype=torch.bool)
        for row in range(anchors):
            negatives = table.negative_mask[row].nonzero().flatten()
            promoted[row, negatives[:2]] = True
        positive_weight = torch.where(table.positive_mask | promoted, weights + 0.1, 0.0)
        log_weight = torch.randn(anchors, columns, generator=generator, dtype=torch.float64)
        negative_log_weight = table.negative_log_weight + log_weight
        for row in range(anchors):
            dropped = table.negative_mask[row].nonzero().flatten()[-1]
            negative_log_weight[row, dropped] = -math.inf
        extra = torch.nn.functional.normalize(
            torch.randn(anchors, 2, table.anchors.shape[1], generator=generator,
                        dtype=torch.float64), dim=-1)
        self.seen = {"positive_weight": positive_weight,
                     "negative_log_weight": negative_log_weight, "extra": extra}
        table.positive_weight = positive_weight
        table.negative_log_weight = negative_log_weight
        table.extra_negatives.append(extra)
        return table


def naive_weighted(rows, columns, positive_weight, negative_log_weight, extra, temperature,
                   form):
    """loss_i = sum_p w_ip f(d_i, s_ip) / sum_p w_ip, averaged over anchors, by loops."""
    losses = []
    for a in range(len(rows)):
        scores = [float("nan")] * len(columns)
        terms = []
        for c in range(len(columns)):
            scores[c] = (rows[a] * columns[c]).sum() / temperature
            if negative_log_weight[a, c] > -math.inf:
                terms.append(torch.exp(scores[c] + negative_log_weight[a, c]))
        for k in range(extra.shape[1]):
            terms.append(torch.exp((rows[a] * extra[a, k]).sum() / temperature))
        if form == "supcon":
            terms += [torch.exp(scores[c]) for c in range(len(columns))
                      if positive_weight[a, c] > 0]
        denominator = torch.log(sum(terms))
        total, weight_sum = 0.0, 0.0
        for c in range(len(columns)):
            weight = positive_weight[a, c]
            if weight > 0:
                margin = denominator - scores[c]
                value = torch.log1p(torch.exp(margin)) if form == "infonce" else margin
                total = total + weight * value
                weight_sum = weight_sum + weight
        losses.append(total / weight_sum)
    return sum(losses) / len(losses)


def normalised_rows(views):
    return [row / row.norm() for view in views for row in view]


def random_views(num_views=2, batch=5, dim=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, dim, generator=generator, dtype=torch.float64).requires_grad_()
            for _ in range(num_views)]


LOSSES = {
    "infonce": lambda: InfoNCE(0.3),
    "moco": lambda: InfoNCE(0.3, cross_view_only=True, anchor_views=1),
    "dcl": lambda: DCL(0.3),
    "supcon": lambda: SupCon(0.3, base_temperature=0.07),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("num_views", [2, 3])
def test_an_option_that_changes_nothing_gives_the_plain_loss(name, num_views):
    views = random_views(num_views, batch=6)
    ids = torch.tensor([0, 1, 2, 3, 4, 4])
    keyword = {"labels": torch.tensor([0, 1, 0, 1, 2, 2])} if name == "supcon" else {}
    if name == "moco":
        keyword = {"negatives": torch.randn(5, 4, dtype=torch.float64),
                   "negative_ids": torch.tensor([0, 7, 8, 9, 10])}
    plain, edited = LOSSES[name](), LOSSES[name]()
    edited.add_pair_option(Unchanged())
    expected, got = plain(views, ids=ids, **keyword), edited(views, ids=ids, **keyword)
    torch.testing.assert_close(got.loss, expected.loss)
    for grad, reference in zip(torch.autograd.grad(got.loss, views),
                               torch.autograd.grad(expected.loss, views)):
        torch.testing.assert_close(grad, reference)
    for key in ("contrastive_accuracy", "positive_similarity", "negative_similarity"):
        torch.testing.assert_close(got.metrics[key], expected.metrics[key], check_dtype=False)


@pytest.mark.parametrize("form, make", [("infonce", lambda: InfoNCE(0.5)),
                                        ("decoupled", lambda: DCL(0.5)),
                                        ("supcon", lambda: SupCon(0.5))])
def test_weighted_table_matches_a_naive_loop(form, make):
    views = random_views(2, batch=4, dim=3, seed=1)
    ids = torch.arange(4)
    labels = torch.tensor([0, 1, 0, 1])
    loss = make()
    option = RandomEdits(seed=3)
    loss.add_pair_option(option)
    output = loss(views, ids=ids, labels=labels if form == "supcon" else None)
    rows = normalised_rows(views)
    reference = naive_weighted(rows, rows, option.seen["positive_weight"],
                               option.seen["negative_log_weight"], option.seen["extra"], 0.5,
                               form)
    torch.testing.assert_close(output.loss, reference)
    for grad, expected in zip(torch.autograd.grad(output.loss, views),
                              torch.autograd.grad(reference, views)):
        torch.testing.assert_close(grad, expected)


def test_queue_rows_are_candidates_that_never_count_as_positives():
    views = random_views(2, batch=3, dim=4, seed=2)
    bank = torch.randn(4, 4, dtype=torch.float64)
    tables = []

    class Record(PairOption):
        def forward(self, table):
            tables.append(table)
            return table

    loss = InfoNCE(0.2, cross_view_only=True, anchor_views=1)
    loss.add_pair_option(Record())
    loss(views, ids=torch.arange(3), negatives=bank, negative_ids=torch.tensor([1, 5, 6, 7]))
    table = tables[0]
    assert table.context["batch_candidates"] == 6 and table.candidates.shape[0] == 10
    assert not table.positive_mask[:, 6:].any()
    assert not table.negative_mask[1, 6]  # the queue row of item 1 is not its negative
    assert table.negative_mask[0, 6] and table.negative_mask[1, 7]


def test_dclw_refuses_pair_options_naming_both():
    with pytest.raises(ValueError, match="Unchanged.*DCLW"):
        DCLW(0.1).add_pair_option(Unchanged())


class TinyEncoder(nn.Module):
    out_dim = 6

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 6)

    def forward(self, x):
        return self.layer(x)


class Shifted(FeatureView):
    def forward(self, z_views):
        return z_views + [z_views[0] + 0.1]


def test_byol_refuses_a_pair_option_and_a_feature_view_naming_both():
    byol = METHODS.build("byol", encoder=TinyEncoder(), projection_dim=4, hidden_dim=8,
                         predictor_hidden_dim=8)
    with pytest.raises(ValueError, match="'mochi'.*'byol'"):
        byol.add_option(Unchanged(), "mochi", "byol")
    with pytest.raises(ValueError, match="'extra'.*'byol'"):
        byol.add_option(Shifted(), "extra", "byol")


def test_simclr_passes_its_embeddings_through_feature_views():
    torch.manual_seed(0)
    method = METHODS.build("simclr", encoder=TinyEncoder(), projection_dim=4, hidden_dim=8)
    method.add_option(Shifted(), "extra", "simclr")
    views = [torch.randn(5, 4), torch.randn(5, 4)]
    with_view = method(views)
    method.feature_views = nn.ModuleList()
    assert not torch.allclose(with_view.loss, method(views).loss)


def test_unknown_option_in_a_recipe_is_a_recipe_error():
    with pytest.raises(RecipeError, match=r"method.options\[0\].name 'mochy'"):
        recipe_from_dict({"method": {"name": "simclr", "options": [{"name": "mochy"}]}})
