"""Sequential methods: sasrec_ce, cl4srec, icsrec, mclrec; their losses against naive
references, one training step, learning, and bad inputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from contrastlearn.core.registry import METHODS
from contrastlearn.data.arrays import DataError
from contrastlearn.modalities.recsys.batch import RecBatch
from contrastlearn.modalities.recsys.datasets import InteractionDataset
from contrastlearn.modalities.recsys.encoders import LightGCN
from contrastlearn.modalities.recsys.interactions import Interactions
from contrastlearn.modalities.recsys.methods.icsrec import ICSRec
from contrastlearn.modalities.recsys.methods.mclrec import MCLRec, margin_regularization
from contrastlearn.modalities.recsys.methods.sequential import (
    CL4SRec,
    SequentialMethod,
    next_item_loss,
    pair_nt_xent,
)
from contrastlearn.modalities.recsys.sequence_encoder import SASRec
from contrastlearn.modalities.recsys.sequence_views import cl4srec_views, mclrec_views
from contrastlearn.objectives.infonce import InfoNCE

MAX_LENGTH = 8


def random_log(num_users: int = 16, num_items: int = 24, per_user: int = 9,
               seed: int = 0) -> Interactions:
    generator = torch.Generator().manual_seed(seed)
    items = torch.randint(num_items, (num_users * per_user,), generator=generator)
    users = torch.arange(num_users).repeat_interleave(per_user)
    timestamps = torch.rand(len(users), generator=generator, dtype=torch.float64)
    return Interactions(users, items, num_users, num_items, timestamps=timestamps)


def encoder_for(graph: Interactions, dropout: float = 0.0) -> SASRec:
    torch.manual_seed(0)
    return SASRec(graph.num_items, max_length=MAX_LENGTH, dim=16, layers=1, heads=2,
                  dropout=dropout)


def method_named(name: str, data: InteractionDataset) -> SequentialMethod:
    encoder = encoder_for(data.graph)
    method = {"sasrec_ce": lambda: SequentialMethod(encoder),
              "cl4srec": lambda: CL4SRec(encoder),
              "icsrec": lambda: ICSRec(encoder, num_intents=8),
              "mclrec": lambda: MCLRec(encoder)}[name]()
    method.prepare(data, torch.device("cpu"))
    return method


def views_for(name: str, batch: RecBatch, seed: int) -> list[RecBatch]:
    generator = torch.Generator().manual_seed(seed)
    policy = {"cl4srec": cl4srec_views, "mclrec": mclrec_views}.get(name)
    return [batch] if policy is None else policy()(batch, generator)


METHOD_NAMES = ["sasrec_ce", "cl4srec", "icsrec", "mclrec"]


# -- losses against naive references ------------------------------------------------------
def naive_nt_xent(first, second, temperature, ids=None):
    rows = torch.cat([first, second])
    count, batch = len(rows), len(first)
    total = 0.0
    for anchor in range(count):
        partner = (anchor + batch) % count
        positive = rows[anchor] @ rows[partner] / temperature
        terms = [positive]
        for other in range(count):
            if other in (anchor, partner):
                continue
            if ids is not None and ids[anchor % batch] == ids[other % batch]:
                continue
            terms.append(rows[anchor] @ rows[other] / temperature)
        total = total + torch.logsumexp(torch.stack(terms), 0) - positive
    return total / count


def naive_margin(first, second, temperature):
    rows = torch.cat([first, second])
    count, batch = len(rows), len(first)
    pull, push = [], []
    for anchor in range(count):
        partner = (anchor + batch) % count
        positive = rows[anchor] @ rows[partner] / temperature
        negatives = [rows[anchor] @ rows[other] / temperature for other in range(count)
                     if other not in (anchor, partner)]
        hardest = torch.stack(negatives).max()
        pull.append(torch.clamp(positive - torch.minimum(positive, hardest), min=0))
        push.extend(torch.clamp(torch.maximum(positive, hardest) - n, min=0) for n in negatives)
    return torch.stack(pull).mean() + torch.stack(push).mean()


def leaf_pair(seed: int = 0, batch: int = 5, dim: int = 4):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, dim, generator=generator, dtype=torch.float64, requires_grad=True),
            torch.randn(batch, dim, generator=generator, dtype=torch.float64, requires_grad=True))


@pytest.mark.parametrize("ids", [None, torch.tensor([0, 1, 0, 2, 1])])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_pair_nt_xent_matches_a_naive_loop(ids, temperature):
    first, second = leaf_pair()
    loss = pair_nt_xent(first, second, temperature, ids=ids)
    reference = naive_nt_xent(first, second, temperature, ids)
    assert torch.allclose(loss.double(), reference, atol=1e-5)
    grads = torch.autograd.grad(loss, (first, second))
    reference_grads = torch.autograd.grad(reference, (first, second))
    assert all(torch.allclose(a.double(), b, atol=1e-5) for a, b in zip(grads, reference_grads))


def test_pair_nt_xent_is_the_shared_infonce_on_unit_rows():
    first, second = (F.normalize(row.detach().float(), dim=-1) for row in leaf_pair(3))
    shared = InfoNCE(temperature=0.2)([first, second]).loss
    assert torch.allclose(pair_nt_xent(first, second, 0.2), shared, atol=1e-5)


def test_margin_regularization_matches_a_naive_loop():
    first, second = leaf_pair(1)
    loss = margin_regularization(first, second, 0.7)
    reference = naive_margin(first, second, 0.7)
    assert torch.allclose(loss.double(), reference, atol=1e-5)
    grads = torch.autograd.grad(loss, (first, second))
    reference_grads = torch.autograd.grad(reference, (first, second))
    assert all(torch.allclose(a.double(), b, atol=1e-5) for a, b in zip(grads, reference_grads))


def test_next_item_loss_matches_a_naive_softmax():
    generator = torch.Generator().manual_seed(2)
    users = torch.randn(3, 4, generator=generator, requires_grad=True)
    items = torch.randn(6, 4, generator=generator)
    targets = torch.tensor([0, 5, 2])
    reference = -sum(torch.log(torch.exp(users[b] @ items[targets[b]])
                               / sum(torch.exp(users[b] @ items[i]) for i in range(6)))
                     for b in range(3)) / 3
    assert torch.allclose(next_item_loss(users, items, targets), reference, atol=1e-5)


# -- training steps ------------------------------------------------------------------------
@pytest.mark.parametrize("name", METHOD_NAMES)
def test_one_training_step_gives_a_finite_loss_and_gradients(name):
    data = InteractionDataset.of(random_log(), max_length=MAX_LENGTH)
    method = method_named(name, data)
    batch = data.batch_x(torch.arange(32))
    output = method(views_for(name, batch, 0))
    assert output.loss.dim() == 0 and torch.isfinite(output.loss)
    assert all(value.dim() == 0 and not value.requires_grad for value in output.metrics.values())
    output.loss.backward()
    for parameter_name, parameter in method.named_parameters():
        if parameter_name.endswith("position_embedding.weight"):
            continue  # positions of the longest histories only
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), parameter_name
    assert method.encoder.item_embedding.weight.grad[:data.graph.num_items].abs().sum() > 0


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_a_few_dozen_adam_steps_lower_the_loss(name):
    data = InteractionDataset.of(random_log(), max_length=MAX_LENGTH)
    method = method_named(name, data)
    optimizer = torch.optim.Adam(method.parameters(), lr=0.01)
    batch = data.batch_x(torch.arange(len(data)))
    torch.manual_seed(1)
    losses = []
    for step in range(50):
        output = method(views_for(name, batch, step))
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        method.after_optimizer_step(step, 50)
        losses.append(float(output.loss.detach()))
    assert sum(losses[-3:]) < 0.85 * sum(losses[:3])


def test_sasrec_learns_a_deterministic_next_item():
    num_items, num_users, per_user = 20, 30, 10
    generator = torch.Generator().manual_seed(0)
    starts = torch.randint(num_items, (num_users,), generator=generator)
    items = ((starts[:, None] + torch.arange(per_user)) % num_items).flatten()
    users = torch.arange(num_users).repeat_interleave(per_user)
    graph = Interactions(users, items, num_users, num_items,
                         timestamps=torch.arange(len(users), dtype=torch.float64))
    data = InteractionDataset.of(graph, max_length=4)
    torch.manual_seed(0)
    method = SequentialMethod(SASRec(num_items, max_length=4, dim=16, layers=1, dropout=0.0))
    method.prepare(data, torch.device("cpu"))
    optimizer = torch.optim.Adam(method.parameters(), lr=0.01)
    batch = data.batch_x(torch.arange(len(data)))
    for _ in range(60):
        loss = method([batch]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    method.eval()
    with torch.no_grad():
        scores = method.encoder(batch) @ method.encoder.item_representations().T
    hit_rate = (scores.argmax(dim=1) == batch.items).float().mean()
    assert hit_rate > 0.9  # chance: 1 / 20


def test_mclrec_gives_encoder_and_augmenters_their_own_gradients():
    data = InteractionDataset.of(random_log(), max_length=MAX_LENGTH)
    method = method_named("mclrec", data)
    views = views_for("mclrec", data.batch_x(torch.arange(24)), 0)
    output = method(views)
    output.loss.backward()
    encoder_parameters = list(method.encoder.parameters())
    augmenter_parameters = list(method.augmenters.parameters())
    # references, recomputed (dropout 0: the same encodings)
    batch, first, second = views
    z, z1, z2 = method.encode(batch, first, second)
    ce = next_item_loss(z, method.encoder.item_representations(), batch.items)
    frozen = [lambda x, a=a: F.normalize(F.linear(F.gelu(F.linear(F.gelu(F.linear(
        x, a.network[0].weight.detach(), a.network[0].bias.detach())),
        a.network[2].weight.detach(), a.network[2].bias.detach())),
        a.network[4].weight.detach(), a.network[4].bias.detach()), dim=-1)
        for a in method.augmenters]
    encoder_loss = (ce + method.cl_weight * pair_nt_xent(z1, z2)
                    + method.meta_weight * method.meta_loss(z1, z2, frozen[0](z1), frozen[1](z2)))
    expected = torch.autograd.grad(encoder_loss, encoder_parameters, allow_unused=True)
    for parameter, gradient in zip(encoder_parameters, expected):
        if gradient is not None:
            assert torch.allclose(parameter.grad, gradient, atol=1e-5)
    d1, d2 = z1.detach(), z2.detach()
    augmenter_loss = method.meta_loss(d1, d2, method.augmenters[0](d1), method.augmenters[1](d2))
    expected = torch.autograd.grad(augmenter_loss, augmenter_parameters)
    for parameter, gradient in zip(augmenter_parameters, expected):
        assert torch.allclose(parameter.grad, gradient, atol=1e-5)


def test_icsrec_positives_are_other_subsequences_with_the_same_target():
    data = InteractionDataset.of(random_log(num_items=10), max_length=MAX_LENGTH)
    method = method_named("icsrec", data)
    everything = data.batch_x(torch.arange(len(data)))
    batch = data.batch_x(torch.arange(40))
    torch.manual_seed(0)
    positives = method.positive_sequences(batch)
    other_user = 0
    for row in range(len(batch)):
        matches = (everything.sequences == positives[row]).all(dim=1)
        assert bool((everything.items[matches] == batch.items[row]).any())
        other_user += int(bool((everything.users[matches] != batch.users[row]).any()))
    assert other_user == len(batch)  # 16 users over 10 items: every target has other users


def test_icsrec_prototypes_are_refreshed_on_schedule():
    data = InteractionDataset.of(random_log(), max_length=MAX_LENGTH)
    method = ICSRec(encoder_for(data.graph), num_intents=5, refresh_every_steps=2)
    method.prepare(data, torch.device("cpu"))
    batch = data.batch_x(torch.arange(16))
    method([batch])
    prototypes = method._prototypes
    assert prototypes is not None and 1 <= len(prototypes) <= 5
    nearest, chosen = method.intents(method.encoder(batch))
    assert torch.equal(chosen, prototypes[nearest])
    method.after_optimizer_step(0, 10)
    assert method._prototypes is prototypes
    method.after_optimizer_step(1, 10)
    assert method._prototypes is None
    epoch_method = method_named("icsrec", data)
    epoch_method([data.batch_x(torch.arange(len(data) - 1))])
    epoch_method.after_optimizer_step(0, 10)
    assert epoch_method._prototypes is not None
    epoch_method([data.batch_x(torch.arange(1))])
    epoch_method.after_optimizer_step(1, 10)
    assert epoch_method._prototypes is None


# -- bad inputs -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", METHOD_NAMES)
def test_batches_without_histories_name_the_fix(name):
    data = InteractionDataset.of(random_log(), max_length=MAX_LENGTH)
    method = method_named(name, data)
    batch = data.batch_x(torch.arange(4))
    bare = RecBatch(batch.users, batch.items, graph=batch.graph)
    with pytest.raises(ValueError, match="data.options.max_length") as error:
        method([bare, bare, bare])
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_training_data_without_histories_is_refused_at_prepare(name):
    graph = random_log()
    method = METHODS.get(name)(encoder_for(graph))
    with pytest.raises(DataError, match="data.options.max_length"):
        method.prepare(InteractionDataset.of(graph), torch.device("cpu"))


def test_other_bad_inputs_raise_clear_errors():
    graph = random_log()
    with pytest.raises(TypeError, match="encoder.name: sasrec"):
        CL4SRec(LightGCN(graph.num_users, graph.num_items, len(graph)))
    data = InteractionDataset.of(graph, max_length=MAX_LENGTH)
    batch = data.batch_x(torch.arange(4))
    with pytest.raises(ValueError, match="needs 3 views"):
        method_named("cl4srec", data)([batch])
    with pytest.raises(ValueError, match="prepare"):
        ICSRec(encoder_for(graph))([batch])
    with pytest.raises(ValueError, match="temperature"):
        MCLRec(encoder_for(graph), temperature=0.0)
    with pytest.raises(ValueError, match="num_intents"):
        ICSRec(encoder_for(graph), num_intents=0)


def test_methods_are_registered():
    for name, method in [("sasrec_ce", SequentialMethod), ("cl4srec", CL4SRec),
                         ("icsrec", ICSRec), ("mclrec", MCLRec)]:
        assert METHODS.get(name) is method
