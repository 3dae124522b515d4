"""The pair table's cheap forms (0/1 masks, sparse weight entries, mixes kept as indices, masks
scanned a word at a time) against the dense tensors and per-anchor loops: the same loss, the
same gradients (embeddings and a learned temperature) and the same metrics."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contrastlearn.objectives import DCL, FalseNegativeCancellation, InfoNCE, SupCon
from contrastlearn.objectives._pairs import pair_metrics
from contrastlearn.objectives.pair_options import (
    MixedNegatives,
    PairOption,
    PairTable,
    SyntheticNegatives,
    mask_entries,
)


def random_views(num_views=2, batch=5, dim=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, dim, generator=generator, dtype=torch.float64).requires_grad_()
            for _ in range(num_views)]


class Recorder(PairOption):
    def forward(self, table: PairTable) -> PairTable:
        self.table = table
        return table


def loop_loss(table, positive_weight, negative_log_weight, extras, scale, form):
    """The weighted loss of pair_options' docstring, anchor by anchor and pair by pair, from
    dense weights and a list of synthetic vectors per anchor."""
    rows, columns = table.anchors, table.candidates
    total, counted = 0.0, 0
    for a in range(rows.shape[0]):
        logit = [torch.dot(rows[a], columns[c]) * scale for c in range(columns.shape[0])]
        terms = [torch.exp(logit[c] + negative_log_weight[a, c])
                 for c in range(columns.shape[0]) if negative_log_weight[a, c] > -math.inf]
        terms += [torch.exp(torch.dot(rows[a], vector) * scale) for vector in extras[a]]
        if form == "supcon":
            terms += [torch.exp(logit[c]) for c in range(columns.shape[0])
                      if positive_weight[a, c] > 0]
        if not terms:
            continue
        log_denominator = torch.log(sum(terms))
        loss, weights = 0.0, 0.0
        for c in range(columns.shape[0]):
            w = positive_weight[a, c]
            if w > 0:
                margin = log_denominator - logit[c]
                loss = loss + w * (torch.log1p(torch.exp(margin)) if form == "infonce" else margin)
                weights = weights + w
        if weights:
            total, counted = total + loss / weights, counted + 1
    return total / counted


# ------------------------------------------------------------------------ mask_entries


@pytest.mark.parametrize("shape, density", [((16, 24), 0.02), ((16, 24), 0.6), ((7, 9), 0.1),
                                            ((8, 8), 0.0), ((40, 64), 0.005)])
def test_mask_entries_are_the_nonzero_entries_in_order(shape, density):
    generator = torch.Generator().manual_seed(1)
    mask = torch.rand(shape, generator=generator) < density
    for view in (mask, mask.T, mask[:, 1:]):  # contiguous, transposed, offset
        rows, columns = mask_entries(view)
        expected = view.nonzero(as_tuple=True)
        assert torch.equal(rows, expected[0]) and torch.equal(columns, expected[1])


# ------------------------------------------------------------- the edit methods


class CheapEdits(PairOption):
    """Every edit through the table's methods (the forms the loss keeps cheap)."""

    def forward(self, table: PairTable) -> PairTable:
        count, width = table.similarity.shape
        generator = torch.Generator().manual_seed(4)
        columns = torch.randint(width, (count, 3), generator=generator)
        columns[:, 2] = columns[:, 1]  # a repeated column: its values add up
        values = torch.rand(count, 3, generator=generator, dtype=torch.float64)
        table.drop_negatives(torch.rand(count, width, generator=generator) < 0.2)
        table.add_positive_weight(columns, values)
        log_values = -torch.rand(count, 3, generator=generator, dtype=torch.float64)
        log_values[0, 0] = -math.inf  # a dropping value
        table.add_negative_log_weight(columns.flip(1), log_values)
        rows, kept, weights = table.positive_entries()
        table.set_positive_weights(rows[::2], kept[::2], weights[::2] * 2.5)
        table.add_positives(torch.rand(count, width, generator=generator) < 0.05)
        table.add_negative_log_weight(columns[:, :1], torch.full((count, 1), -0.3,
                                                                 dtype=torch.float64))
        added = torch.randn(count, width, generator=generator, dtype=torch.float64)
        added[1, 0] = -math.inf
        table.add_dense_negative_log_weight(added)
        table.add_dense_negative_log_weight(added.flip(1).clamp_min(0.0))
        return table


class DenseEdits(PairOption):
    """The same edits written on the dense tensors."""

    def forward(self, table: PairTable) -> PairTable:
        count, width = table.similarity.shape
        generator = torch.Generator().manual_seed(4)
        columns = torch.randint(width, (count, 3), generator=generator)
        columns[:, 2] = columns[:, 1]
        values = torch.rand(count, 3, generator=generator, dtype=torch.float64)
        dropped = torch.rand(count, width, generator=generator) < 0.2
        table.negative_log_weight = table.negative_log_weight.masked_fill(dropped, -math.inf)
        table.positive_weight = table.positive_weight.scatter_add(1, columns, values)
        log_values = -torch.rand(count, 3, generator=generator, dtype=torch.float64)
        log_values[0, 0] = -math.inf
        table.negative_log_weight = table.negative_log_weight.scatter_add(1, columns.flip(1),
                                                                          log_values)
        weight = table.positive_weight
        rows, kept = (weight > 0).nonzero(as_tuple=True)
        table.positive_weight = weight.index_put((rows[::2], kept[::2]),
                                                 weight[rows[::2], kept[::2]] * 2.5)
        promoted = torch.rand(count, width, generator=generator) < 0.05
        table.positive_weight = table.positive_weight.masked_fill(promoted, 1.0)
        table.negative_log_weight = table.negative_log_weight.scatter_add(
            1, columns[:, :1], torch.full((count, 1), -0.3, dtype=torch.float64))
        added = torch.randn(count, width, generator=generator, dtype=torch.float64)
        added[1, 0] = -math.inf
        table.negative_log_weight = table.negative_log_weight + added
        table.negative_log_weight = table.negative_log_weight + added.flip(1).clamp_min(0.0)
        return table


@pytest.mark.parametrize("make, form", [(lambda: InfoNCE(0.4), "infonce"),
                                        (lambda: DCL(0.4), "decoupled"),
                                        (lambda: SupCon(0.4, base_temperature=0.4), "supcon")])
def test_cheap_edits_give_the_dense_edits_and_the_loop(make, form):
    views = random_views(3, batch=4, dim=3, seed=2)
    labels = torch.tensor([0, 1, 0, 2])
    outputs, tables = [], []
    for option in (CheapEdits(), DenseEdits()):
        loss, recorder = make(), Recorder()
        loss.add_pair_option(option)
        loss.add_pair_option(recorder)
        outputs.append(loss(views, labels=labels))
        tables.append(recorder.table)
    cheap, dense = outputs
    assert tables[0]._negative_entries is not None  # the cheap forms were used
    assert tables[0]._negative_added is not None and tables[0]._negative_log_weight is None
    torch.testing.assert_close(tables[0].current_negatives(), tables[1].current_negatives())
    torch.testing.assert_close(tables[0].negative_logits(), tables[1].negative_logits())
    torch.testing.assert_close(tables[0].positive_weight, tables[1].positive_weight)
    torch.testing.assert_close(tables[0].negative_log_weight, tables[1].negative_log_weight)
    reference = loop_loss(tables[1], tables[1].positive_weight, tables[1].negative_log_weight,
                          [[]] * 12, 1 / 0.4, "supcon" if form == "supcon" else form)
    torch.testing.assert_close(cheap.loss, reference)
    torch.testing.assert_close(dense.loss, reference)
    for got, expected in zip(torch.autograd.grad(cheap.loss, views),
                             torch.autograd.grad(reference, views), strict=True):
        torch.testing.assert_close(got, expected)
    for key in ("contrastive_accuracy", "positive_similarity", "negative_similarity"):
        torch.testing.assert_close(cheap.metrics[key], dense.metrics[key])


# ------------------------------------------------------------- mixes kept as indices


class Mixes(PairOption):
    """Random mixes of candidates (and of the anchor itself, end -1), one anchor left out;
    `as_vectors` appends the built (A, K, D) tensor instead of the record."""

    def __init__(self, as_vectors: bool) -> None:
        super().__init__()
        self.as_vectors = as_vectors

    def forward(self, table: PairTable) -> PairTable:
        count, width = table.similarity.shape
        generator = torch.Generator().manual_seed(6)
        ends = torch.randint(-1, width, (count, 4), generator=generator)
        starts = torch.randint(width, (count, 4), generator=generator)
        weights = torch.rand(count, 4, generator=generator, dtype=torch.float64)
        keep = torch.ones(count, dtype=torch.bool)
        keep[1] = False
        record = MixedNegatives(table.candidates.detach(), table.anchors.detach(), ends, starts,
                                weights, keep)
        table.extra_negatives.append(record.vectors() if self.as_vectors else record)
        self.record = record
        return table


@pytest.mark.parametrize("queue_size", [0, 3, 40])  # the anchors' own cosines, Gram, lookups
def test_mixes_kept_as_indices_score_like_their_vectors(queue_size):
    views = random_views(2, batch=3, dim=4, seed=queue_size)
    generator = torch.Generator().manual_seed(7)
    keyword = {}
    if queue_size:
        keyword = {"negatives": torch.randn(queue_size, 4, generator=generator,
                                            dtype=torch.float64),
                   "negative_ids": torch.arange(queue_size) + 10}
    outputs, anchor_grads = [], []
    for as_vectors in (False, True):
        loss = (InfoNCE(0.3, cross_view_only=True, anchor_views=1) if queue_size
                else InfoNCE(0.3))
        option, recorder = Mixes(as_vectors), Recorder()
        loss.add_pair_option(option)
        loss.add_pair_option(recorder)
        outputs.append(loss(views, **keyword))
        # the normalised anchors' own gradient (self-mixes add a part along the anchor, which
        # the normalisation then removes from the views' gradient)
        anchor_grads.append(torch.autograd.grad(outputs[-1].loss, recorder.table.anchors,
                                                retain_graph=True)[0])
    torch.testing.assert_close(anchor_grads[0], anchor_grads[1])
    record, table = option.record, recorder.table
    # the vectors: normalise(w x_end + (1 - w) x_start), x_end the anchor where end is -1
    vectors = record.vectors()
    for a in range(record.ends.shape[0]):
        for k in range(4):
            end = int(record.ends[a, k])
            x_end = table.anchors[a].detach() if end < 0 else table.candidates[end].detach()
            x_start = table.candidates[int(record.starts[a, k])].detach()
            w = record.weights[a, k]
            mixed = w * x_end + (1 - w) * x_start
            expected = mixed / mixed.norm() if record.keep[a] else torch.zeros_like(mixed)
            torch.testing.assert_close(vectors[a, k], expected)
    kept, built = outputs
    torch.testing.assert_close(kept.loss, built.loss)
    for got, expected in zip(torch.autograd.grad(kept.loss, views),
                             torch.autograd.grad(built.loss, views), strict=True):
        torch.testing.assert_close(got, expected)
    reference = loop_loss(table, table.positive_weight, table.negative_log_weight, vectors,
                          1 / 0.3, "infonce")
    torch.testing.assert_close(kept.loss, reference)


def test_extra_negatives_build_records_when_read():
    candidates = F.normalize(torch.randn(4, 3, dtype=torch.float64), dim=-1)
    record = MixedNegatives(candidates, candidates, torch.tensor([[0, -1]] * 4),
                            torch.tensor([[1, 2]] * 4), torch.full((4, 2), 0.5,
                                                                   dtype=torch.float64))
    extra = SyntheticNegatives()
    assert extra == []
    plain = torch.zeros(4, 1, 3, dtype=torch.float64)
    extra.append(plain)
    extra.append(record)
    assert extra[0] is plain and torch.equal(extra[1], record.vectors())
    assert [item.shape for item in extra] == [(4, 1, 3), (4, 2, 3)]
    assert extra.records()[1] is record and len(extra[0:2]) == 2
    table = PairTable(candidates, candidates, candidates @ candidates.T, 2.0,
                      torch.arange(4), torch.arange(4), torch.eye(4, dtype=torch.bool),
                      ~torch.eye(4, dtype=torch.bool), extra_negatives=[plain])
    assert isinstance(table.extra_negatives, SyntheticNegatives)
    assert not table.similarity_is_of_rows()  # built by hand: mixes are scored from vectors


# ----------------------------------------------------------- a learned temperature


class EveryForm(PairOption):
    """A dropped negative per anchor, sparse log-weights and a mix per anchor."""

    def forward(self, table: PairTable) -> PairTable:
        count, width = table.similarity.shape
        table.drop_negatives(torch.arange(width)[None, :] == (torch.arange(count) % 3)[:, None])
        table.add_negative_log_weight(((torch.arange(count) + 1) % width)[:, None],
                                      torch.full((count, 1), -0.7, dtype=torch.float64))
        table.extra_negatives.append(MixedNegatives(
            table.candidates.detach(), table.anchors.detach(), torch.full((count, 1), -1),
            torch.full((count, 1), 4), torch.full((count, 1), 0.3, dtype=torch.float64)))
        return table


@pytest.mark.parametrize("dense", [False, True])
def test_learned_temperature_gets_the_loops_gradient(dense):
    views = random_views(2, batch=4, dim=3, seed=8)
    loss = InfoNCE(0.5, learnable_temperature=True).double()
    recorder = Recorder()
    loss.add_pair_option(EveryForm())
    if dense:  # reading the dense tensor moves the loss to its dense path
        class Read(PairOption):
            def forward(self, table):
                table.negative_log_weight = table.negative_log_weight + 0.0
                return table
        loss.add_pair_option(Read())
    loss.add_pair_option(recorder)
    output = loss(views)
    table = recorder.table
    assert (table._negative_log_weight is not None) == dense
    scale = loss.log_inverse_temperature.exp()
    reference = loop_loss(table, table.positive_weight, table.negative_log_weight,
                          table.extra_negatives[0], scale, "infonce")
    torch.testing.assert_close(output.loss, reference)
    inputs = [*views, loss.log_inverse_temperature]
    for got, expected in zip(torch.autograd.grad(output.loss, inputs, retain_graph=True),
                             torch.autograd.grad(reference, inputs), strict=True):
        torch.testing.assert_close(got, expected)


# ------------------------------------------------------------------------- metrics


@pytest.mark.parametrize("case", ["random", "collapsed", "duplicates"])
@pytest.mark.parametrize("make", [lambda: InfoNCE(0.2), lambda: SupCon(0.2),
                                  lambda: InfoNCE(0.2, cross_view_only=True, anchor_views=1)])
@pytest.mark.parametrize("edits", [CheapEdits, lambda: FalseNegativeCancellation(
    top_k=1, threshold=None, strategy="elimination")])  # many, or few dropped negatives
def test_metrics_are_pair_metrics_of_the_plain_pairs(case, make, edits):
    """pair_metrics (argmax over the candidates, first column on ties) is the reference."""
    views = random_views(2, batch=24, dim=3, seed=9)
    with torch.no_grad():
        if case == "collapsed":  # every cosine 1: ties everywhere
            row = views[0][:1].clone()
            for view in views:
                view.copy_(row.expand_as(view))
        if case == "duplicates":
            views[0][12:] = views[0][:12]
    labels = torch.arange(24) % 5
    loss, recorder = make(), Recorder()
    loss.add_pair_option(edits())  # edits do not change the metrics of the plain pairs
    loss.add_pair_option(recorder)
    output = loss(views, labels=labels)
    table = recorder.table
    expected = pair_metrics(table.similarity, table.positive_mask, table.negative_mask)
    for key, value in expected.items():
        torch.testing.assert_close(output.metrics[key], value, check_dtype=False)
    plain, unedited = make(), Recorder()
    plain.add_pair_option(unedited)
    output = plain(views, labels=labels)
    expected = pair_metrics(unedited.table.similarity, unedited.table.positive_mask,
                            unedited.table.negative_mask)
    for key, value in expected.items():
        torch.testing.assert_close(output.metrics[key], value, check_dtype=False)


def test_half_precision_mixes_follow_the_float_loss():
    generator = torch.Generator().manual_seed(10)
    views = [torch.randn(8, 16, generator=generator, dtype=torch.float64) for _ in range(2)]
    losses = []
    for dtype in (torch.float32, torch.bfloat16):
        loss = InfoNCE(0.2)
        loss.add_pair_option(Mixes(as_vectors=False))
        inputs = [view.to(dtype).requires_grad_() for view in views]  # new leaves
        output = loss(inputs)
        output.loss.backward()
        assert all(torch.isfinite(view.grad).all() for view in inputs)
        losses.append(output.loss.float())
    torch.testing.assert_close(losses[1], losses[0], rtol=0.05, atol=0.05)
