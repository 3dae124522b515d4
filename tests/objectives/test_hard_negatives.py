"""Hard-negative pair options (mochi, false_negative_cancellation, debiased_weights,
cluster_negatives): each against a per-anchor loop that selects the pairs from the papers'
formulas and computes the loss from them, value and gradient; identities where an option
changes nothing; cluster state across a checkpoint; bad kwargs; a MoCo v2 step with MoCHi."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from contrastlearn.config import load_recipe
from contrastlearn.core.registry import METHOD_OPTIONS, METHODS
from contrastlearn.objectives import (
    DCL,
    ClusterNegatives,
    DebiasedWeights,
    FalseNegativeCancellation,
    HardNegativeMixing,
    InfoNCE,
    SupCon,
)
from contrastlearn.objectives.hard_negatives import spherical_kmeans
from contrastlearn.objectives.pair_options import PairOption, PairTable

TEMPERATURE = 0.4


class Recorder(PairOption):
    """Keeps the table it is handed (attached after the option under test)."""

    def forward(self, table: PairTable) -> PairTable:
        self.table = table
        return table


def random_views(num_views=2, batch=5, dim=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, dim, generator=generator, dtype=torch.float64).requires_grad_()
            for _ in range(num_views)]


def unit(vector):
    return vector / vector.norm()


class Setting:
    """The plain pairs of a loss, written out row by row: `rows` (anchors) and `columns`
    (candidates, queue rows last) as lists of unit vectors, and per anchor the set of
    positive and of negative columns."""

    def __init__(self, kind, views, ids, labels=None, queue=None, queue_ids=None):
        batch, num_views = len(ids), len(views)
        columns = [unit(view[b]) for view in views for b in range(batch)]
        column_ids = [int(ids[b]) for _ in views for b in range(batch)]
        column_views = [v for v in range(num_views) for _ in range(batch)]
        self.batch_columns = len(columns)
        if queue is not None:
            columns += [unit(row) for row in queue]
            column_ids += [int(i) for i in queue_ids]
            column_views += [-1] * len(queue)
        anchors = range(batch if kind == "moco" else self.batch_columns)
        self.rows = [columns[a] for a in anchors]
        self.anchor_ids = [column_ids[a] for a in anchors]
        self.columns, self.column_ids = columns, column_ids
        self.positives, self.negatives = [], []
        for a in anchors:
            same = [column_ids[c] == column_ids[a] for c in range(len(columns))]
            if kind == "supcon":
                label = int(labels[a % batch])
                same = [same[c] or (c < self.batch_columns
                                    and int(labels[c % batch]) == label)
                        for c in range(len(columns))]
            if kind == "moco":
                other = [column_views[c] != column_views[a] for c in range(len(columns))]
                self.positives.append({c for c in range(self.batch_columns)
                                       if same[c] and other[c]})
                self.negatives.append({c for c in range(len(columns))
                                       if not same[c] and other[c]})
            else:
                self.positives.append({c for c in range(len(columns)) if same[c] and c != a})
                self.negatives.append({c for c in range(len(columns)) if not same[c]})

    def cosine(self, a, c):
        return float((self.rows[a] * self.columns[c]).sum().detach())


def reference_loss(setting, positive_weights, negative_log_weights, extras, form):
    """The weighted loss of pair_options' docstring by loops: positive_weights[a] maps a column
    to its weight, negative_log_weights[a] a column to its log-weight, extras[a] lists the
    anchor's synthetic negatives."""
    total, anchors = 0.0, 0
    for a, row in enumerate(setting.rows):
        logit = {c: (row * setting.columns[c]).sum() / TEMPERATURE
                 for c in range(len(setting.columns))}
        terms = [torch.exp(logit[c] + u) for c, u in negative_log_weights[a].items()]
        terms += [torch.exp((row * extra).sum() / TEMPERATURE) for extra in extras[a]]
        if form == "supcon":
            terms += [torch.exp(logit[c]) for c in positive_weights[a]]
        log_denominator = torch.log(sum(terms))
        weights = positive_weights[a]
        if not weights:
            continue
        loss = 0.0
        for c, w in weights.items():
            margin = log_denominator - logit[c]
            loss = loss + w * (torch.log1p(torch.exp(margin)) if form == "infonce" else margin)
        total = total + loss / sum(weights.values())
        anchors += 1
    return total / anchors


def plain_weights(setting):
    return ([dict.fromkeys(p, 1.0) for p in setting.positives],
            [dict.fromkeys(n, 0.0) for n in setting.negatives])


def assert_same_loss_and_gradient(loss, reference, views):
    torch.testing.assert_close(loss, reference)
    for grad, expected in zip(torch.autograd.grad(loss, views, retain_graph=True),
                              torch.autograd.grad(reference, views), strict=True):
        torch.testing.assert_close(grad, expected)


MAKERS = {
    "infonce": (lambda: InfoNCE(TEMPERATURE), "infonce"),
    "moco": (lambda: InfoNCE(TEMPERATURE, cross_view_only=True, anchor_views=1), "infonce"),
    "dcl": (lambda: DCL(TEMPERATURE), "decoupled"),
    "supcon": (lambda: SupCon(TEMPERATURE, base_temperature=TEMPERATURE), "supcon"),
}


def run_loss(kind, option, views, ids, labels=None, queue=None, queue_ids=None):
    make, form = MAKERS[kind]
    loss = make()
    recorder = Recorder()
    loss.add_pair_option(option)
    loss.add_pair_option(recorder)
    keyword = {"labels": labels} if kind == "supcon" else {}
    if queue is not None:
        keyword.update(negatives=queue, negative_ids=queue_ids)
    output = loss(views, ids=ids, **keyword)
    setting = Setting(kind, views, ids, labels, queue, queue_ids)
    return output.loss, recorder.table, setting, form


# ----------------------------------------------------------------------------- mochi


@pytest.mark.parametrize("kind", ["infonce", "moco", "dcl"])
def test_mochi_mixes_the_hardest_negatives_and_matches_a_loop(kind):
    views = random_views(2, batch=5, dim=4, seed=1)
    ids = torch.arange(5)
    queue = torch.randn(6, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    queue_ids = torch.tensor([0, 9, 10, 11, 12, 13])  # the first row is item 0's: no negative
    queue, queue_ids = (queue, queue_ids) if kind == "moco" else (None, None)
    option = HardNegativeMixing(hardest=3, mixes=4, self_mixes=2)
    torch.manual_seed(5)
    loss, table, setting, form = run_loss(kind, option, views, ids, queue=queue,
                                          queue_ids=queue_ids)

    torch.manual_seed(5)  # the draws of the option, in its documented order
    count, hardest = len(setting.rows), 3
    pairs = torch.randint(hardest, (count, 4, 2))
    alpha = torch.rand(count, 4, 1, dtype=torch.float64)
    picks = torch.randint(hardest, (count, 2))
    beta = 0.5 * torch.rand(count, 2, 1, dtype=torch.float64)
    extras = []
    for a in range(count):
        hard = sorted(setting.negatives[a], key=lambda c: -setting.cosine(a, c))[:hardest]
        column = [setting.columns[c].detach() for c in hard]
        mixed = [unit(alpha[a, k] * column[pairs[a, k, 0]]
                      + (1 - alpha[a, k]) * column[pairs[a, k, 1]]) for k in range(4)]
        mixed += [unit(beta[a, k] * setting.rows[a].detach()
                       + (1 - beta[a, k]) * column[picks[a, k]]) for k in range(2)]
        extras.append(mixed)
    synthetic = table.extra_negatives[0]
    assert synthetic.shape == (count, 6, 4) and not synthetic.requires_grad
    torch.testing.assert_close(synthetic, torch.stack([torch.stack(e) for e in extras]))
    if kind == "moco":  # queue rows are among the hardest of some anchor
        assert any(c >= setting.batch_columns
                   for a in range(count)
                   for c in sorted(setting.negatives[a], key=lambda c: -setting.cosine(a, c))[:3])
    positives, negatives = plain_weights(setting)
    reference = reference_loss(setting, positives, negatives, extras, form)
    assert_same_loss_and_gradient(loss, reference, views)


def test_mochi_scales_its_sizes_to_the_negatives_available():
    option = HardNegativeMixing()  # the paper's (1024, 256, 128)
    assert option.sizes(100_000) == (1024, 256, 128)
    assert option.sizes(510) == (510, 128, 64)  # SimCLR, two views of 256
    assert option.sizes(3) == (3, 1, 1)
    views = random_views(2, batch=4, dim=3, seed=3)
    _, table, _, _ = run_loss("infonce", HardNegativeMixing(), views, torch.arange(4))
    assert table.extra_negatives[0].shape == (8, 3, 3)  # 6 negatives each: (6, 2, 1)


def test_mochi_without_mixes_or_negatives_gives_the_plain_loss():
    views = random_views(2, batch=4, dim=3, seed=4)
    plain = InfoNCE(TEMPERATURE)(views).loss
    loss, table, _, _ = run_loss("infonce", HardNegativeMixing(mixes=0, self_mixes=0), views,
                                 torch.arange(4))
    assert table.extra_negatives == []
    torch.testing.assert_close(loss, plain)
    one_item = torch.zeros(4, dtype=torch.long)  # every row is a view of one item
    _, table, _, _ = run_loss("infonce", HardNegativeMixing(), views, one_item)
    assert table.extra_negatives == []


@pytest.mark.parametrize("kwargs, word", [({"hardest": 0}, "hardest"),
                                          ({"mixes": -1}, "mixes"),
                                          ({"self_mixes": 1.5}, "self_mixes")])
def test_mochi_refuses_bad_kwargs(kwargs, word):
    with pytest.raises(ValueError, match=word) as error:
        HardNegativeMixing(**kwargs)
    assert "\n" not in str(error.value)


# ------------------------------------------------------ false negative cancellation


def cancelled(setting, a, top_k, threshold, aggregate):
    """The anchor's false negatives: its top_k negatives by cosine to its item's batch views
    (max or mean over them) that also exceed the threshold."""
    support = [c for c in range(setting.batch_columns)
               if setting.column_ids[c] == setting.anchor_ids[a]]

    def score(c):
        cosines = [float((setting.columns[v] * setting.columns[c]).sum().detach())
                   for v in support]
        return max(cosines) if aggregate == "max" else sum(cosines) / len(cosines)

    ranked = sorted(setting.negatives[a], key=lambda c: -score(c))[:top_k]
    return {c for c in ranked if threshold is None or score(c) > threshold}


@pytest.mark.parametrize("kind", ["infonce", "moco", "supcon"])
@pytest.mark.parametrize("strategy", ["attraction", "elimination"])
@pytest.mark.parametrize("aggregate, threshold", [("max", None), ("max", 0.7), ("mean", 0.3)])
def test_false_negative_cancellation_matches_a_loop(kind, strategy, aggregate, threshold):
    views = random_views(2, batch=5, dim=3, seed=6)
    ids = torch.tensor([0, 1, 2, 3, 3])  # item 3 twice: its copies are never negatives
    labels = torch.tensor([0, 1, 0, 1, 2])
    queue, queue_ids = None, None
    if kind == "moco":
        queue = torch.randn(4, 3, generator=torch.Generator().manual_seed(7),
                            dtype=torch.float64)
        queue_ids = torch.tensor([1, 8, 9, 10])
    option = FalseNegativeCancellation(top_k=2, threshold=threshold, strategy=strategy,
                                       aggregate=aggregate)
    loss, _, setting, form = run_loss(kind, option, views, ids, labels, queue, queue_ids)
    positives, negatives = plain_weights(setting)
    changed, top = 0, 0
    for a in range(len(setting.rows)):
        for c in cancelled(setting, a, 2, threshold, aggregate):
            del negatives[a][c]
            if strategy == "attraction":
                positives[a][c] = 1.0
            changed += 1
        top += len(cancelled(setting, a, 2, None, aggregate))
    assert changed > 0 and (changed < top) == (threshold is not None)  # the threshold acts
    reference = reference_loss(setting, positives, negatives, [[]] * len(setting.rows), form)
    assert_same_loss_and_gradient(loss, reference, views)


def test_false_negative_cancellation_with_top_k_zero_gives_the_plain_loss():
    views = random_views(3, batch=4, dim=3, seed=8)
    loss, table, _, _ = run_loss("infonce", FalseNegativeCancellation(top_k=0), views,
                                 torch.arange(4))
    torch.testing.assert_close(loss, InfoNCE(TEMPERATURE)(views).loss)
    assert torch.equal(table.positive_weight, table.positive_mask.double())


@pytest.mark.parametrize("kwargs, word", [({"top_k": -1}, "top_k"),
                                          ({"threshold": 1.5}, "threshold"),
                                          ({"strategy": "repel"}, "strategy"),
                                          ({"aggregate": "median"}, "aggregate")])
def test_false_negative_cancellation_refuses_bad_kwargs(kwargs, word):
    with pytest.raises(ValueError, match=word) as error:
        FalseNegativeCancellation(**kwargs)
    assert "\n" not in str(error.value)


# ------------------------------------------------------------------ debiased weights


def standardiser(values):
    mean = sum(values) / len(values)
    std = max(math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)), 1e-6)
    return lambda value: (value - mean) / std


@pytest.mark.parametrize("kind", ["infonce", "dcl"])
def test_debiased_weights_match_a_loop(kind):
    views = random_views(3, batch=4, dim=3, seed=9)  # three views: two positives per anchor
    loss, _, setting, form = run_loss(kind, DebiasedWeights(max_weight=3.0, margin=0.5), views,
                                      torch.arange(4))
    positive_z = standardiser([setting.cosine(a, c) for a in range(len(setting.rows))
                               for c in setting.positives[a]])
    negative_z = standardiser([setting.cosine(a, c) for a in range(len(setting.rows))
                               for c in setting.negatives[a]])
    positives = [{c: min(1 + math.exp(-positive_z(setting.cosine(a, c))), 3.0)
                  for c in setting.positives[a]} for a in range(len(setting.rows))]
    # a negative counts by its chance of being a true negative, 1 - sigmoid(z - margin)
    negatives = [{c: math.log(1 - 1 / (1 + math.exp(-(negative_z(setting.cosine(a, c)) - 0.5))))
                  for c in setting.negatives[a]} for a in range(len(setting.rows))]
    assert any(w == 3.0 for p in positives for w in p.values())  # the clipping is exercised
    reference = reference_loss(setting, positives, negatives, [[]] * len(setting.rows), form)
    assert_same_loss_and_gradient(loss, reference, views)


def test_debiased_weights_favour_hard_positives_and_spare_similar_negatives():
    views = random_views(3, batch=6, dim=4, seed=10)
    _, table, _, _ = run_loss("infonce", DebiasedWeights(), views, torch.arange(6))
    cosine = table.similarity.detach()
    positive = table.positive_mask
    weights, positive_cosines = table.positive_weight[positive], cosine[positive]
    order = positive_cosines.argsort()
    assert (weights[order].diff() <= 0).all()  # harder positive, larger weight
    negative = table.negative_mask
    log_weights, negative_cosines = table.negative_log_weight[negative], cosine[negative]
    order = negative_cosines.argsort()
    assert (log_weights[order].diff() <= 0).all()  # more similar negative, smaller weight
    assert log_weights[order][0] > log_weights[order][-1]


def test_debiased_weights_that_change_nothing_give_the_plain_loss():
    views = random_views(3, batch=4, dim=3, seed=11)
    loss, _, _, _ = run_loss("dcl", DebiasedWeights(max_weight=1.0, margin=math.inf), views,
                             torch.arange(4))
    torch.testing.assert_close(loss, DCL(TEMPERATURE)(views).loss)


@pytest.mark.parametrize("kwargs, word", [({"max_weight": 0.5}, "max_weight"),
                                          ({"max_weight": math.inf}, "max_weight"),
                                          ({"margin": math.nan}, "margin")])
def test_debiased_weights_refuse_bad_kwargs(kwargs, word):
    with pytest.raises(ValueError, match=word) as error:
        DebiasedWeights(**kwargs)
    assert "\n" not in str(error.value)


# ------------------------------------------------------------------ cluster negatives


def nearest(vector, centroids):
    scores = [float((vector * c).sum()) for c in centroids]
    return scores.index(max(scores))


def ready_option(centroids):
    option = ClusterNegatives(clusters=len(centroids), dim=centroids.shape[1], stage_steps=100,
                              buffer_size=16)
    option.centroids.copy_(centroids)
    option.ready.fill_(True)
    return option


@pytest.mark.parametrize("kind", ["infonce", "moco"])
def test_cluster_negatives_keep_the_anchors_cluster_and_match_a_loop(kind):
    views = random_views(2, batch=5, dim=3, seed=12)
    ids = torch.arange(5)
    queue, queue_ids = None, None
    if kind == "moco":
        queue = torch.randn(4, 3, generator=torch.Generator().manual_seed(13),
                            dtype=torch.float64)
        queue_ids = torch.tensor([7, 8, 9, 10])
    # one centroid sits on item 0, so item 0's anchors find no negative in their cluster
    item = unit(views[0][0].detach() + views[1][0].detach()).float()
    others = torch.nn.functional.normalize(torch.tensor([[1.0, -1.0, 0.2], [-1.0, 0.3, 1.0]]),
                                           dim=-1)
    centroids = torch.cat([item[None], others])
    loss, _, setting, form = run_loss(kind, ready_option(centroids), views, ids, queue=queue,
                                      queue_ids=queue_ids)
    positives, negatives = plain_weights(setting)
    kept_all, restricted = 0, 0
    for a in range(len(setting.rows)):
        cluster = nearest(setting.rows[a].detach(), centroids.double())
        same = {c for c in setting.negatives[a]
                if nearest(setting.columns[c].detach(), centroids.double()) == cluster}
        if same:
            negatives[a] = dict.fromkeys(same, 0.0)
            restricted += len(same) < len(setting.negatives[a])
        else:
            kept_all += 1
    assert kept_all > 0 and restricted > 0
    reference = reference_loss(setting, positives, negatives, [[]] * len(setting.rows), form)
    assert_same_loss_and_gradient(loss, reference, views)


def naive_lloyd(rows, centroids, iterations):
    centroids = [c.clone() for c in centroids]
    for _ in range(iterations):
        members = [[] for _ in centroids]
        for row in rows:
            members[nearest(row, centroids)].append(row)
        centroids = [unit(sum(m)) if m else c for m, c in zip(members, centroids, strict=True)]
    return torch.stack(centroids)


def test_cluster_negatives_stage_one_is_plain_and_its_boundary_runs_lloyd_on_the_buffer():
    option = ClusterNegatives(clusters=3, dim=3, stage_steps=2, buffer_size=8, iterations=4)
    batches = [random_views(2, batch=3, dim=3, seed=seed) for seed in (14, 15)]
    rows = []
    for views in batches:
        assert not option.ready
        loss, table, _, _ = run_loss("infonce", option, views, torch.arange(3))
        torch.testing.assert_close(loss, InfoNCE(TEMPERATURE)(views).loss)  # stage 1: plain
        rows += [unit(view[b].detach()).float() for view in views for b in range(3)]
    assert option.ready and int(option.seen) == 0 and int(option.calls) == 2
    ring = [None] * 8
    for position, row in enumerate(rows):  # 12 rows through a ring of 8
        ring[position % 8] = row
    torch.testing.assert_close(option.buffer, torch.stack(ring))
    initial = [ring[0], ring[2], ring[5]]  # evenly spaced rows: (0, 1, 2) * 8 // 3
    expected = naive_lloyd(ring, initial, 4)
    torch.testing.assert_close(option.centroids, expected)
    torch.testing.assert_close(spherical_kmeans(torch.stack(ring), torch.stack(initial), 4),
                               expected)


def test_cluster_negatives_state_survives_a_checkpoint():
    kwargs = {"clusters": 2, "dim": 3, "stage_steps": 2, "buffer_size": 10}
    option = ClusterNegatives(**kwargs)
    for seed in (16, 17, 18):
        run_loss("infonce", option, random_views(2, batch=3, dim=3, seed=seed), torch.arange(3))
    state = option.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        "centroids": (2, 3), "ready": (), "calls": (), "buffer": (10, 3), "seen": ()}
    restored = ClusterNegatives(**kwargs)
    restored.load_state_dict(state)
    for seed in (19, 20):  # a stage boundary, then a call with its clusters, alike on both
        views = random_views(2, batch=3, dim=3, seed=seed)
        first, _, _, _ = run_loss("infonce", option, views, torch.arange(3))
        second, _, _, _ = run_loss("infonce", restored, views, torch.arange(3))
        torch.testing.assert_close(first, second)
    for name, value in option.state_dict().items():
        torch.testing.assert_close(restored.state_dict()[name], value)
    assert int(option.calls) == 5


def test_cluster_negatives_in_eval_mode_leave_the_state_alone():
    option = ClusterNegatives(clusters=2, dim=3, stage_steps=1, buffer_size=6)
    option.eval()
    run_loss("infonce", option, random_views(2, batch=3, dim=3, seed=21), torch.arange(3))
    assert int(option.calls) == 0 and not option.ready


@pytest.mark.parametrize("kwargs, word", [({"clusters": 1}, "clusters"),
                                          ({"dim": 0}, "dim"),
                                          ({"stage_steps": 0}, "stage_steps"),
                                          ({"clusters": 10, "buffer_size": 5}, "buffer_size"),
                                          ({"iterations": 0}, "iterations")])
def test_cluster_negatives_refuse_bad_kwargs(kwargs, word):
    with pytest.raises(ValueError, match=word) as error:
        ClusterNegatives(**kwargs)
    assert "\n" not in str(error.value)


def test_cluster_negatives_name_the_dim_to_set():
    option = ClusterNegatives(dim=8)
    with pytest.raises(ValueError, match="set its dim to 3"):
        run_loss("infonce", option, random_views(2, batch=3, dim=3), torch.arange(3))


# ------------------------------------------------------------- registry and methods


class TinyEncoder(nn.Module):
    out_dim = 8

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(6, 8)

    def forward(self, x):
        return self.layer(x)


def build_moco(with_mochi):
    torch.manual_seed(0)
    method = METHODS.build("moco_v2", encoder=TinyEncoder(), projection_dim=4, hidden_dim=16,
                           queue_size=16, gather=False)
    if with_mochi:
        method.add_option(METHOD_OPTIONS.build("mochi", hardest=8, mixes=4, self_mixes=2),
                          "mochi", "moco_v2")
    return method


def test_moco_v2_with_mochi_trains_a_step():
    generator = torch.Generator().manual_seed(1)
    batches = [[torch.randn(6, 6, generator=generator) for _ in range(2)] for _ in range(2)]
    losses = {}
    for with_mochi in (False, True):
        method = build_moco(with_mochi)
        optimizer = torch.optim.SGD(method.parameters(), lr=0.1)
        before = [p.detach().clone() for p in method.parameters() if p.requires_grad]
        torch.manual_seed(2)
        for step, views in enumerate(batches):  # the second step has queue negatives
            output = method(views, ids=torch.arange(6) + 6 * step)
            optimizer.zero_grad()
            output.loss.backward()
            optimizer.step()
            method.after_optimizer_step(step, 2)
            losses.setdefault(with_mochi, float(output.loss.detach()))
        after = [p for p in method.parameters() if p.requires_grad]
        assert all(torch.isfinite(p).all() for p in after)
        assert any(not torch.equal(b, p) for b, p in zip(before, after, strict=True))
    # the same first step with synthetic negatives added to the denominator
    assert math.isfinite(losses[True]) and losses[True] > losses[False]


def test_options_are_registered_and_their_recipes_load():
    for name, option in [("mochi", HardNegativeMixing),
                         ("false_negative_cancellation", FalseNegativeCancellation),
                         ("debiased_weights", DebiasedWeights),
                         ("cluster_negatives", ClusterNegatives)]:
        assert METHOD_OPTIONS.get(name) is option
    for recipe, option in [("fashion-mnist-simclr-mochi", "mochi"),
                           ("fashion-mnist-simclr-fnc", "false_negative_cancellation"),
                           ("fashion-mnist-simclr-debiased", "debiased_weights"),
                           ("fashion-mnist-simclr-mcl", "cluster_negatives"),
                           ("fashion-mnist-moco-mochi", "mochi")]:
        loaded = load_recipe(recipe)
        assert [o.name for o in loaded.method.options] == [option]
        METHOD_OPTIONS.build(option, **loaded.method.options[0].kwargs)
