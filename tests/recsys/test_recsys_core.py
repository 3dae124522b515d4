"""Batches, histories, the normalised graph, LightGCN, BPR and negative sampling."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlearn.modalities.recsys.batch import PAD, RecBatch, check_rec_batch
from contrastlearn.modalities.recsys.datasets import InteractionDataset
from contrastlearn.modalities.recsys.encoders import LightGCN
from contrastlearn.modalities.recsys.graph_ops import normalized_adjacency
from contrastlearn.modalities.recsys.interactions import Interactions
from contrastlearn.modalities.recsys.methods.common import bpr_loss, embedding_penalty
from contrastlearn.modalities.recsys.methods.lightgcn import LightGCNBPR
from contrastlearn.modalities.recsys.sampling import uniform_negatives


def random_graph(num_users: int = 20, num_items: int = 30, per_user: int = 6,
                 seed: int = 0) -> Interactions:
    generator = torch.Generator().manual_seed(seed)
    items = torch.stack([torch.randperm(num_items, generator=generator)[:per_user]
                         for _ in range(num_users)]).flatten()
    users = torch.arange(num_users).repeat_interleave(per_user)
    timestamps = torch.rand(len(users), generator=generator, dtype=torch.float64)
    return Interactions(users, items, num_users, num_items, timestamps=timestamps)


def test_batch_slicing_and_errors():
    batch = RecBatch(torch.arange(4), torch.arange(4), torch.zeros(4, 3, dtype=torch.long))
    part = batch[1:3]
    assert part.users.tolist() == [1, 2] and part.sequences.shape == (2, 3)
    assert len(batch.to("cpu")) == 4
    with pytest.raises(ValueError, match="sequences must be"):
        RecBatch(torch.arange(4), torch.arange(4), torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="data.modality: recsys"):
        check_rec_batch(torch.zeros(3), "lightgcn_bpr")
    with pytest.raises(ValueError, match="no sequences"):
        _ = batch.__class__(torch.arange(2), torch.arange(2)).lengths


def test_histories_match_a_naive_walk():
    graph = random_graph()
    data = InteractionDataset.of(graph, max_length=4)
    batch = data.batch_x(torch.arange(len(data)))
    order = torch.argsort(graph.timestamps)
    by_user = {user: [int(graph.items[i]) for i in order if int(graph.users[i]) == user]
               for user in range(graph.num_users)}
    assert len(data) == graph.num_users * 5
    for row in range(len(batch)):
        user, target = int(batch.users[row]), int(batch.items[row])
        position = by_user[user].index(target)
        expected = by_user[user][max(0, position - 4):position]
        expected = [PAD] * (4 - len(expected)) + expected
        assert batch.sequences[row].tolist() == expected


def test_normalized_adjacency_matches_dense_reference():
    graph = random_graph(6, 5, 3)
    dense = torch.zeros(11, 11)
    dense[graph.users, graph.items + 6] = 1
    dense[graph.items + 6, graph.users] = 1
    degree = dense.sum(1)
    inverse_root = torch.where(degree > 0, degree.pow(-0.5), torch.zeros_like(degree))
    expected = inverse_root[:, None] * dense * inverse_root[None, :]
    assert torch.allclose(normalized_adjacency(graph).to_dense(), expected)


def test_lightgcn_is_the_mean_of_propagated_layers():
    graph = random_graph(6, 5, 3)
    encoder = LightGCN(6, 5, len(graph), dim=4, layers=2)
    encoder.set_graph(graph)
    matrix = normalized_adjacency(graph).to_dense()
    layer0 = torch.cat([encoder.user_embedding.weight, encoder.item_embedding.weight])
    expected = (layer0 + matrix @ layer0 + matrix @ matrix @ layer0) / 3
    users, items = encoder.propagate()
    assert torch.allclose(users, expected[:6], atol=1e-6)
    assert torch.allclose(items, expected[6:], atol=1e-6)
    batch = RecBatch(torch.tensor([2, 0]), torch.tensor([1, 1]))
    assert torch.allclose(encoder(batch), expected[[2, 0]], atol=1e-6)
    with pytest.raises(ValueError, match="was built for 6 and 5"):
        encoder.set_graph(random_graph(7, 5, 3))


def test_lightgcn_graph_survives_a_state_dict_round_trip():
    graph = random_graph(6, 5, 3)
    trained = LightGCN(6, 5, len(graph), dim=4)
    trained.set_graph(graph)
    expected = trained.item_representations()
    fresh = LightGCN(6, 5, len(graph), dim=4)
    fresh.item_representations()  # caches the adjacency of the empty graph
    fresh.load_state_dict(trained.state_dict())
    assert torch.allclose(fresh.item_representations(), expected)


def test_bpr_loss_value_and_gradient_match_a_reference():
    torch.manual_seed(0)
    users, positives, negatives = (torch.randn(5, 3, requires_grad=True) for _ in range(3))
    loss = bpr_loss(users, positives, negatives)
    plain = [tensor.detach() for tensor in (users, positives, negatives)]
    reference = sum(-math.log(1 / (1 + math.exp(-float(
        plain[0][b] @ plain[1][b] - plain[0][b] @ plain[2][b])))) for b in range(5)) / 5
    assert loss.item() == pytest.approx(reference, rel=1e-5)
    loss.backward()
    gradient = users.grad.clone()
    users.grad = None
    manual = torch.stack([-(1 - torch.sigmoid(users[b] @ (positives[b] - negatives[b])))
                          * (positives[b] - negatives[b]) / 5 for b in range(5)])
    assert torch.allclose(gradient, manual.detach(), atol=1e-6)
    several = torch.randn(5, 2, 3)
    expected = sum(bpr_loss(users, positives, several[:, n]) for n in range(2)) / 2
    assert torch.allclose(bpr_loss(users, positives, several), expected)


def test_embedding_penalty_is_squared_norms_over_batch():
    rows = [torch.ones(2, 3), 2 * torch.ones(2, 3)]
    assert embedding_penalty(rows, 4).item() == pytest.approx((6 + 24) / 4)


def test_uniform_negatives_avoid_training_items_and_follow_the_seed():
    graph = random_graph(20, 30, 6)
    users = torch.arange(20).repeat(10)
    torch.manual_seed(5)
    first = uniform_negatives(users, graph, count=3)
    torch.manual_seed(5)
    again = uniform_negatives(users, graph, count=3)
    assert torch.equal(first, again) and first.shape == (200, 3)
    assert not graph.contains(users[:, None].expand(-1, 3), first).any()


def test_lightgcn_bpr_learns_and_refuses_other_encoders():
    torch.manual_seed(0)
    graph = random_graph()
    data = InteractionDataset.of(graph)
    encoder = LightGCN(graph.num_users, graph.num_items, len(graph), dim=8)
    method = LightGCNBPR(encoder)
    method.prepare(data, torch.device("cpu"))
    optimizer = torch.optim.Adam(method.parameters(), lr=0.05)
    batch = data.batch_x(torch.arange(len(data)))
    losses = []
    for _ in range(30):
        output = method([batch], labels=None, ids=None)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        losses.append(output.loss.item())
    assert losses[-1] < 0.5 * losses[0]
    with pytest.raises(TypeError, match="encoder.name: lightgcn"):
        LightGCNBPR(_Plain())


class _Plain(torch.nn.Module):
    out_dim = 4


def test_symmetric_product_matches_dense_in_value_and_gradient():
    from contrastlearn.modalities.recsys.graph_ops import as_csr, symmetric_product

    graph = random_graph(6, 5, 3)
    matrix = normalized_adjacency(graph)
    dense = matrix.to_dense()
    x = torch.randn(11, 4, requires_grad=True)
    weights = torch.randn(11, 4)
    (symmetric_product(as_csr(matrix), x) * weights).sum().backward()
    gradient = x.grad.clone()
    x.grad = None
    (dense @ x * weights).sum().backward()
    assert torch.allclose(gradient, x.grad, atol=1e-6)
    assert torch.allclose(symmetric_product(as_csr(matrix), x), dense @ x, atol=1e-6)
