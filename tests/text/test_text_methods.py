"""Text methods with a tiny bag-of-embeddings encoder: losses against per-anchor loops built
from the same embeddings, id masks, one encoder call per batch, the ESimCSE queue and exact
resume from a state_dict."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from contrastlearn.core.registry import METHODS
from contrastlearn.modalities.text.methods.esimcse import ESimCSE
from contrastlearn.modalities.text.methods.pairs import Pairs
from contrastlearn.modalities.text.methods.simcse import (
    SimCSE,
    SupervisedSimCSE,
    encode_token_views,
)
from contrastlearn.modalities.text.methods.whitenedcse import WhitenedCSE
from contrastlearn.modalities.text.tokens import CUT_ID, PAD_ID, TokenBatch, token_ids
from contrastlearn.objectives.whitening import shuffled_group_whitening
from tests.text.test_text_objectives import reference_mnrl

VOCAB = 30


class BagOfEmbeddings(nn.Module):
    """Mean of token embeddings over the non-pad positions, with dropout; cut tokens (-1)
    contribute zero vectors; a TokenBatch's feature cutoff zeroes embedding dimensions.
    Records the shape of every call."""

    def __init__(self, dim: int = 8, dropout: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embedding = nn.Embedding(VOCAB, dim)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = dim
        self.calls: list[tuple[int, ...]] = []

    def forward(self, batch):
        ids = token_ids(batch)
        self.calls.append(tuple(ids.shape))
        embedded = (ids != PAD_ID) & (ids != CUT_ID)
        vectors = self.embedding(ids.clamp(min=0)) * embedded[..., None]
        if isinstance(batch, TokenBatch):
            keep = batch.feature_keep(self.out_dim, vectors.dtype)
            vectors = vectors if keep is None else vectors * keep
        vectors = self.dropout(vectors)
        real = (ids != PAD_ID)[..., None]
        return (vectors * real).sum(1) / real.sum(1).clamp(min=1)


def sentences(batch: int, length: int = 7, seed: int = 0) -> torch.Tensor:
    """(batch, length) ids: [CLS]=1, random tokens, [SEP]=2, then padding of random length."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (batch, length), generator=generator)
    lengths = torch.randint(3, length + 1, (batch,), generator=generator)
    positions = torch.arange(length)[None, :]
    ids = torch.where(positions < lengths[:, None], ids, PAD_ID)
    ids[:, 0] = 1
    ids[torch.arange(batch), lengths - 1] = 2
    return ids


def repeated(ids: torch.Tensor) -> torch.Tensor:
    """A stand-in for word repetition: the first interior token repeated once (one wider)."""
    return torch.cat([ids[:, :2], ids[:, 1:2], ids[:, 2:]], dim=1)


def reference_infonce(anchors, candidates, ids, temperature, bank=None, bank_ids=None):
    """Loop: anchor i against candidate rows; positives share its id, negatives are the other
    rows and the bank rows of other ids; each positive scored against the negatives only."""
    def cosine(u, v):
        return float((u @ v) / (u.norm() * v.norm()))

    ids = [int(i) for i in ids]
    bank = [] if bank is None else list(zip(bank, [int(i) for i in bank_ids]))
    losses = []
    for i, anchor in enumerate(anchors):
        negatives = [math.exp(cosine(anchor, c) / temperature)
                     for j, c in enumerate(candidates) if ids[j] != ids[i]]
        negatives += [math.exp(cosine(anchor, row) / temperature)
                      for row, row_id in bank if row_id != ids[i]]
        terms = []
        for j, candidate in enumerate(candidates):
            if ids[j] == ids[i]:
                positive = math.exp(cosine(anchor, candidate) / temperature)
                terms.append(-math.log(positive / (positive + sum(negatives))))
        losses.append(sum(terms) / len(terms))
    return sum(losses) / len(losses)


@pytest.mark.parametrize("name,cls,views", [
    ("simcse", SimCSE, "simcse_views"),
    ("simcse_supervised", SupervisedSimCSE, "text_identity_views"),
    ("esimcse", ESimCSE, "esimcse_views"),
    ("pairs", Pairs, "text_identity_views"),
    ("whitenedcse", WhitenedCSE, "simcse_views"),
])
def test_registered_with_default_views(name, cls, views):
    assert METHODS.get(name) is cls and cls.default_views == views


# -- encoding text views ------------------------------------------------------------------------

def test_plain_views_of_different_widths_go_through_one_call():
    encoder = BagOfEmbeddings().eval()
    first, second = sentences(4, 6), sentences(4, 9, seed=1)
    outputs = encode_token_views(encoder, [first, second])
    assert encoder.calls == [(8, 9)]
    assert torch.allclose(outputs[0], encoder(first)) and torch.allclose(outputs[1],
                                                                         encoder(second))


def test_feature_cutoff_views_are_encoded_on_their_own():
    encoder = BagOfEmbeddings().eval()
    plain, cut = sentences(4), TokenBatch(sentences(4, seed=2), feature_cutoff=0.5, feature_seed=3)
    outputs = encode_token_views(encoder, [plain, cut, plain])
    assert encoder.calls == [(8, 7), (4, 7)]
    assert torch.allclose(outputs[1], encoder(cut))
    assert not torch.allclose(outputs[1], encoder(cut.ids))


# -- SimCSE ---------------------------------------------------------------------------------------

def test_simcse_dropout_views_differ_and_gradients_reach_the_encoder():
    method = SimCSE(BagOfEmbeddings(dropout=0.3))
    x = sentences(6)
    output = method([x, x.clone()])
    assert method.encoder.calls == [(12, 7)]
    assert torch.isfinite(output.loss)
    assert not torch.allclose(output.embeddings[0], output.embeddings[1])
    output.loss.backward()
    assert method.encoder.embedding.weight.grad.abs().sum() > 0
    assert method.pooler[0].weight.grad.abs().sum() > 0
    assert set(method.encoder.state_dict()) == {"embedding.weight"}  # no pooler exported


def test_simcse_without_pooler_uses_the_encoder_output():
    method = SimCSE(BagOfEmbeddings(), mlp_pooler=False)
    x = sentences(5)
    output = method([x, x])
    assert torch.allclose(output.embeddings[0], method.encoder(x))


@pytest.mark.parametrize("ids", [None, [0, 1, 0, 2, 1, 3]])
def test_simcse_loss_matches_the_loop_with_id_masks(ids):
    method = SimCSE(BagOfEmbeddings(), temperature=0.05)
    x, other = sentences(6), sentences(6, 9, seed=4)
    ids = None if ids is None else torch.tensor(ids)
    loss = method([x, other], ids=ids).loss
    with torch.no_grad():
        z1, z2 = method.embed(x), method.embed(other)
    expected = reference_infonce(z1, z2, range(6) if ids is None else ids, 0.05)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_simcse_never_uses_a_duplicate_text_as_a_negative():
    method = SimCSE(BagOfEmbeddings(), temperature=0.05)
    x = sentences(4)
    x[1] = x[0]  # the same text twice
    masked = method([x, x], ids=torch.tensor([0, 0, 1, 2])).loss
    unmasked = method([x, x], ids=torch.arange(4)).loss
    # row 0 has two identical positives (itself twice) and no identical negative
    z = method.embed(x).detach()
    assert masked.item() == pytest.approx(reference_infonce(z, z, [0, 0, 1, 2], 0.05), rel=1e-5)
    assert unmasked.item() > masked.item() + 0.25  # the duplicate as a negative: ~log 2 / 2


def test_simcse_needs_two_views():
    with pytest.raises(ValueError, match="2 views"):
        SimCSE(BagOfEmbeddings())([sentences(3)])


# -- supervised SimCSE and pairs --------------------------------------------------------------

def triples(batch: int, columns: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.stack([sentences(batch, seed=seed + c) for c in range(columns)], dim=1)


@pytest.mark.parametrize("columns", [2, 3])
@pytest.mark.parametrize("ids", [None, [5, 5, 6, 7, 6]])
def test_supervised_simcse_matches_mnrl_reference(columns, ids):
    method = SupervisedSimCSE(BagOfEmbeddings(), temperature=0.05, hard_negative_weight=0.4)
    data = triples(5, columns)
    ids = None if ids is None else torch.tensor(ids)
    output = method([data], ids=ids)
    assert method.encoder.calls == [(5 * columns, 7)]
    with torch.no_grad():
        z = method.encoder(data.reshape(5 * columns, -1)).reshape(5, columns, -1)
    hard = z[:, 2] if columns == 3 else None
    expected = reference_mnrl(z[:, 0], z[:, 1], hard, ids, scale=20.0, hard_weight=0.4)
    assert output.loss.item() == pytest.approx(expected, rel=1e-5)
    output.loss.backward()
    assert method.encoder.embedding.weight.grad.abs().sum() > 0


def test_supervised_simcse_hard_negative_weight_changes_the_loss():
    data = triples(4)
    plain = SupervisedSimCSE(BagOfEmbeddings())([data]).loss
    weighted = SupervisedSimCSE(BagOfEmbeddings(), hard_negative_weight=1.0)([data]).loss
    assert weighted.item() > plain.item()


@pytest.mark.parametrize("cls", [SupervisedSimCSE, Pairs])
@pytest.mark.parametrize("views", [
    [sentences(4), sentences(4)],  # unsupervised views
    [sentences(4)],
    [triples(4)[:, :1]],  # one column: no positive
    [triples(4), triples(4)],
])
def test_tuple_methods_reject_non_tuple_data(cls, views):
    with pytest.raises(ValueError, match="tuple data"):
        cls(BagOfEmbeddings())(views)


@pytest.mark.parametrize("columns", [2, 3, 4])
@pytest.mark.parametrize("symmetric", [False, True])
def test_pairs_matches_mnrl_reference(columns, symmetric):
    method = Pairs(BagOfEmbeddings(), symmetric=symmetric)
    data = triples(6, columns, seed=3)
    ids = torch.tensor([0, 1, 1, 2, 3, 4])
    loss = method([data], ids=ids).loss
    with torch.no_grad():
        z = method.encoder(data.reshape(6 * columns, -1)).reshape(6, columns, -1)
    hard = z[:, 2:] if columns > 2 else None
    expected = reference_mnrl(z[:, 0], z[:, 1], hard, ids, scale=20.0, symmetric=symmetric)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


# -- ESimCSE --------------------------------------------------------------------------------------

def esimcse_batch(batch: int, seed: int):
    x = sentences(batch, seed=seed)
    return [x, repeated(x)]


def optimizer_step(method, views, ids, optimizer):
    output = method(views, ids=ids)
    optimizer.zero_grad()
    output.loss.backward()
    optimizer.step()
    method.after_optimizer_step(0, 10)
    return output.loss.item()


def test_esimcse_queue_fills_fifo_with_momentum_keys_after_each_step():
    method = ESimCSE(BagOfEmbeddings(dropout=0.2), queue_size=10)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.5)
    batches = [(esimcse_batch(4, seed), torch.arange(4) + 10 * seed) for seed in (1, 2, 3)]
    expected_keys = []
    for views, ids in batches:
        expected_keys.append(method.momentum_keys(views[1]))
        method(views, ids=ids)
        assert len(method.queue) == 4 * (len(expected_keys) - 1)  # unchanged before the step
        optimizer_step(method, views, ids, optimizer)
    keys, queue_ids = method.queue.negatives()
    # 12 keys in a ring of 10: the third batch wraps around over the first batch's head
    assert queue_ids.tolist() == [32, 33, 12, 13, 20, 21, 22, 23, 30, 31]
    order = [(2, 2), (2, 3), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3), (2, 0), (2, 1)]
    for position, (batch, row) in enumerate(order):
        assert torch.allclose(keys[position], expected_keys[batch][row], atol=1e-6)


def test_esimcse_without_ids_queues_keys_as_unknown_items():
    method = ESimCSE(BagOfEmbeddings(dropout=0.2), queue_size=10)
    views = esimcse_batch(4, 1)
    method(views)
    method.after_optimizer_step(0, 10)
    _, queue_ids = method.queue.negatives()
    assert queue_ids.tolist() == [-1] * 4  # never equal to the next batch's default ids 0..3


def test_esimcse_momentum_keys_have_no_dropout_and_follow_the_online_network():
    method = ESimCSE(BagOfEmbeddings(dropout=0.5), momentum=0.9)
    views, ids = esimcse_batch(4, 0), torch.arange(4)
    assert torch.equal(method.momentum_keys(views[1]), method.momentum_keys(views[1]))
    assert method.momentum_network.training  # restored after encoding
    before = method.momentum_network[0].embedding.weight.clone()
    optimizer = torch.optim.SGD(method.parameters(), lr=1.0)
    optimizer_step(method, views, ids, optimizer)
    online = method.encoder.embedding.weight.detach()
    assert torch.allclose(method.momentum_network[0].embedding.weight,
                          0.9 * before + 0.1 * online, atol=1e-6)
    assert method.momentum_network[0].embedding.weight.grad is None
    assert method.encoder.embedding.weight.grad is not None


def test_esimcse_loss_uses_the_queue_but_never_an_anchors_own_queued_copy():
    method = ESimCSE(BagOfEmbeddings(), queue_size=16, momentum=0.5)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.5)
    first_views, first_ids = esimcse_batch(4, 1), torch.tensor([0, 1, 2, 3])
    optimizer_step(method, first_views, first_ids, optimizer)
    views, ids = esimcse_batch(4, 2), torch.tensor([2, 3, 4, 5])  # items 2, 3 are queued
    loss = method(views, ids=ids).loss
    bank, bank_ids = method.queue.negatives()
    with torch.no_grad():
        z1, z2 = (method.pooler(method.encoder(view)) for view in views)
    expected = reference_infonce(z1, z2, ids, 0.05, bank, bank_ids)
    without_queue = reference_infonce(z1, z2, ids, 0.05)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert expected > without_queue


def test_esimcse_state_dict_round_trip_resumes_identical_losses():
    def build():
        return ESimCSE(BagOfEmbeddings(dropout=0.2, seed=7), queue_size=6)

    method = build()
    optimizer = torch.optim.SGD(method.parameters(), lr=0.3)
    data = [(esimcse_batch(4, seed), torch.arange(4) + 4 * seed) for seed in range(4)]
    for views, ids in data[:2]:
        optimizer_step(method, views, ids, optimizer)
    resumed = build()
    resumed.load_state_dict(copy.deepcopy(method.state_dict()))
    resumed_optimizer = torch.optim.SGD(resumed.parameters(), lr=0.3)
    assert torch.equal(resumed.queue.ids, method.queue.ids)
    for views, ids in data[2:]:
        torch.manual_seed(100)
        original = optimizer_step(method, views, ids, optimizer)
        torch.manual_seed(100)
        again = optimizer_step(resumed, views, ids, resumed_optimizer)
        assert original == again


def test_esimcse_needs_two_views():
    with pytest.raises(ValueError, match="2 views"):
        ESimCSE(BagOfEmbeddings())([sentences(3)])


# -- WhitenedCSE ----------------------------------------------------------------------------------

def test_whitenedcse_one_call_finite_loss_and_gradients():
    method = WhitenedCSE(BagOfEmbeddings(dropout=0.1), num_groups=2, num_positives=2, seed=0)
    x = sentences(10)
    output = method([x, x])
    assert method.encoder.calls == [(30, 7)]  # anchor + 2 positives in one call
    assert torch.isfinite(output.loss)
    output.loss.backward()
    assert method.encoder.embedding.weight.grad.abs().sum() > 0
    assert torch.isfinite(method.encoder.embedding.weight.grad).all()


@pytest.mark.parametrize("ids", [None, [0, 1, 2, 0, 3, 4, 5, 6, 1, 7]])
def test_whitenedcse_loss_is_the_sum_over_whitened_positives(ids):
    method = WhitenedCSE(BagOfEmbeddings(), num_groups=2, num_positives=3, temperature=0.1,
                         seed=4)
    x = sentences(10)
    generator = torch.Generator()
    generator.set_state(method.rng_state.clone())
    ids = None if ids is None else torch.tensor(ids)
    loss = method([x], ids=ids).loss
    with torch.no_grad():
        hidden = method.encoder(x)
        z = [method.pooler(shuffled_group_whitening(hidden, 2, generator)) for _ in range(4)]
    item_ids = range(10) if ids is None else ids
    expected = sum(reference_infonce(z[0], z[k], item_ids, 0.1) for k in (1, 2, 3))
    assert loss.item() == pytest.approx(expected, rel=1e-4)
    assert torch.equal(method.rng_state, generator.get_state())


def test_whitenedcse_resumes_its_shuffles_from_the_state_dict():
    def build():
        return WhitenedCSE(BagOfEmbeddings(dropout=0.1, seed=3), num_groups=4, seed=1)

    method = build()
    x = sentences(12)
    first = method([x, x]).loss.item()
    resumed = build()
    resumed.load_state_dict(method.state_dict())
    torch.manual_seed(5)
    original = method([x, x]).loss.item()
    torch.manual_seed(5)
    assert resumed([x, x]).loss.item() == original
    torch.manual_seed(5)
    fresh = build()([x, x]).loss.item()  # the initial shuffle state gives another loss
    assert fresh != original and math.isfinite(first)


def test_whitenedcse_default_groups_follow_the_paper_and_check_arguments():
    assert WhitenedCSE(BagOfEmbeddings(dim=768)).num_groups == 128
    assert WhitenedCSE(BagOfEmbeddings(dim=8)).num_groups == 1
    with pytest.raises(ValueError, match="num_positives"):
        WhitenedCSE(BagOfEmbeddings(), num_positives=0)
    with pytest.raises(ValueError, match="num_groups"):
        WhitenedCSE(BagOfEmbeddings(dim=8), num_groups=9)


def test_whitenedcse_batch_must_exceed_the_group_size():
    method = WhitenedCSE(BagOfEmbeddings(dim=8), num_groups=1)
    with pytest.raises(ValueError, match="larger batch"):
        method([sentences(8), sentences(8)])
