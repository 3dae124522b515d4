"""The graph contrastive recommenders on LightGCN + BPR (SGL, SimGCL, XSimGCL, LightGCL, NCL):
each loss against a dense, loop-written reference (value and gradient), the shared contrastive
terms against naive loops, k-means, the SVD view, NCL's epoch bookkeeping, one training step,
a short training run, and bad options."""

from __future__ import annotations

import datetime
import math
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from contrastlearn.core.registry import AUGMENTATIONS, METHODS
from contrastlearn.modalities.recsys.datasets import InteractionDataset
from contrastlearn.modalities.recsys.encoders import LightGCN
from contrastlearn.modalities.recsys.graph_views import sgl_views
from contrastlearn.modalities.recsys.interactions import Interactions
from contrastlearn.modalities.recsys.methods.graph_contrast import (
    NodeContrast,
    all_node_infonce,
    uniform_noise,
)
from contrastlearn.modalities.recsys.methods.lightgcl import LightGCL, interaction_matrix
from contrastlearn.modalities.recsys.methods.ncl import NCL, kmeans
from contrastlearn.modalities.recsys.methods.sgl import SGL
from contrastlearn.modalities.recsys.methods.simgcl import SimGCL
from contrastlearn.modalities.recsys.methods.xsimgcl import XSimGCL
from contrastlearn.modalities.recsys.sampling import uniform_negatives

pytestmark = pytest.mark.usefixtures("one_thread")


# -- a tiny graph and a dense, loop-written LightGCN --------------------------------------------

def random_graph(num_users: int = 6, num_items: int = 8, count: int = 22,
                 seed: int = 0) -> Interactions:
    """`count` distinct random (user, item) pairs, every user and item with an edge."""
    generator = torch.Generator().manual_seed(seed)
    keys = torch.randperm(num_users * num_items, generator=generator)[:count]
    ring = torch.arange(max(num_users, num_items))
    cover = (ring % num_users) * num_items + ring % num_items
    keys = torch.unique(torch.cat([keys, cover]))
    return Interactions(keys // num_items, keys % num_items, num_users, num_items)


def build(method_class, graph: Interactions, dim: int = 8, layers: int = 2, **kwargs):
    torch.manual_seed(0)
    encoder = LightGCN(graph.num_users, graph.num_items, len(graph), dim=dim, layers=layers)
    method = method_class(encoder, **kwargs)
    data = InteractionDataset.of(graph)
    method.prepare(data, torch.device("cpu"))
    return method, data


def dense_adjacency(graph: Interactions) -> torch.Tensor:
    """D^-1/2 A D^-1/2 of the bipartite graph, entry by entry."""
    size = graph.num_users + graph.num_items
    matrix = torch.zeros(size, size)
    for user, item in zip(graph.users.tolist(), graph.items.tolist()):
        matrix[user, graph.num_users + item] = matrix[graph.num_users + item, user] = 1.0
    degree = matrix.sum(dim=1).tolist()
    for row in range(size):
        for col in range(size):
            if matrix[row, col]:
                matrix[row, col] = 1.0 / math.sqrt(degree[row] * degree[col])
    return matrix


def dense_layers(encoder: LightGCN, adjacencies: list[torch.Tensor],
                 noises: list[torch.Tensor] | None = None, eps: float = 0.0) -> list:
    """[E_0, ..., E_L] with dense matrices; `noises[l]` (raw uniform draws) added SimGCL's way."""
    current = torch.cat([encoder.user_embedding.weight, encoder.item_embedding.weight])
    outputs = [current]
    for layer, adjacency in enumerate(adjacencies):
        current = adjacency @ current
        if noises is not None:
            unit = noises[layer] / noises[layer].norm(dim=1, keepdim=True)
            current = current + torch.sign(current) * unit * eps
        outputs.append(current)
    return outputs


def naive_infonce(anchors, candidates, positives, temperature: float) -> torch.Tensor:
    """Sum over anchors of -log softmax over every candidate (cosines / t) at the positive."""
    total = torch.zeros(())
    for row, positive in zip(anchors, positives):
        scores = [torch.dot(row, other) / (row.norm() * other.norm()) / temperature
                  for other in candidates]
        denominator = sum(torch.exp(score) for score in scores)
        total = total - torch.log(torch.exp(scores[positive]) / denominator)
    return total


def naive_in_batch(anchor_table, candidate_table, nodes, temperature: float) -> torch.Tensor:
    """Mean over `nodes` of the in-batch InfoNCE (candidates: the same nodes' rows)."""
    rows = nodes.tolist()
    anchors = [anchor_table[node] for node in rows]
    candidates = [candidate_table[node] for node in rows]
    return naive_infonce(anchors, candidates, range(len(rows)), temperature) / len(rows)


def naive_ranking(encoder, users_table, items_table, batch, negatives, reg_weight: float):
    """Mean BPR over the batch + reg_weight * squared layer-0 rows / batch size, row by row."""
    bpr, penalty = users_table.new_zeros(()), users_table.new_zeros(())
    user_weight, item_weight = encoder.user_embedding.weight, encoder.item_embedding.weight
    for user, positive, negative in zip(batch.users.tolist(), batch.items.tolist(),
                                        negatives.tolist()):
        margin = (torch.dot(users_table[user], items_table[positive])
                  - torch.dot(users_table[user], items_table[negative]))
        bpr = bpr - torch.log(torch.sigmoid(margin))
        penalty = penalty + (user_weight[user].pow(2).sum() + item_weight[positive].pow(2).sum()
                             + item_weight[negative].pow(2).sum())
    return bpr / len(batch) + reg_weight * penalty / len(batch)


def assert_same_loss_and_gradients(method, output, reference) -> None:
    encoder = method.encoder
    tables = [encoder.user_embedding.weight, encoder.item_embedding.weight]
    got = torch.autograd.grad(output.loss, tables)
    expected = torch.autograd.grad(reference, tables)
    assert output.loss.item() == pytest.approx(reference.item(), rel=1e-5, abs=1e-6)
    for mine, theirs in zip(got, expected):
        assert torch.allclose(mine, theirs, rtol=1e-4, atol=1e-6)
        assert theirs.abs().sum() > 0


def split(method, nodes):
    return nodes[:method.encoder.num_users], nodes[method.encoder.num_users:]


# -- the shared terms against naive loops ---------------------------------------------------------

def test_node_contrast_matches_naive_loop_value_and_gradient():
    torch.manual_seed(1)
    anchor_table = torch.randn(7, 5, requires_grad=True)
    candidate_table = torch.randn(7, 5, requires_grad=True)
    nodes = torch.tensor([0, 2, 3, 6])
    loss = NodeContrast(0.3)(anchor_table, candidate_table, nodes)
    reference = naive_in_batch(anchor_table, candidate_table, nodes, 0.3)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    got = torch.autograd.grad(loss, [anchor_table, candidate_table])
    expected = torch.autograd.grad(reference, [anchor_table, candidate_table])
    for mine, theirs in zip(got, expected):
        assert torch.allclose(mine, theirs, atol=1e-6)
    assert got[0][1].abs().sum() == 0  # rows outside the batch get nothing


def test_all_node_infonce_matches_naive_loop_value_and_gradient():
    torch.manual_seed(2)
    anchors = torch.randn(4, 3, requires_grad=True)
    candidates = torch.randn(6, 3, requires_grad=True)
    positives = torch.tensor([5, 0, 0, 2])
    loss = all_node_infonce(anchors, candidates, positives, 0.2).sum()
    reference = naive_infonce(anchors, candidates, positives.tolist(), 0.2)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    got = torch.autograd.grad(loss, [anchors, candidates])
    expected = torch.autograd.grad(reference, [anchors, candidates])
    for mine, theirs in zip(got, expected):
        assert torch.allclose(mine, theirs, atol=1e-5)


def test_uniform_noise_has_length_eps_in_the_rows_orthant():
    torch.manual_seed(3)
    nodes = torch.randn(9, 4)
    torch.manual_seed(4)
    perturbed = uniform_noise(0.1)(1, nodes)
    noise = perturbed - nodes
    assert torch.allclose(noise.norm(dim=1), torch.full((9,), 0.1), atol=1e-6)
    assert bool(((torch.sign(noise) == torch.sign(nodes)) | (noise == 0)).all())
    torch.manual_seed(4)
    assert torch.equal(uniform_noise(0.1)(1, nodes), perturbed)
    assert torch.equal(uniform_noise(0.0)(1, nodes), nodes)


# -- each method's loss against the dense reference ----------------------------------------------

def test_sgl_loss_matches_dense_reference():
    graph = random_graph()
    method, data = build(SGL, graph, temperature=0.3, cl_weight=0.7, reg_weight=0.01)
    batch = data.batch_x(torch.arange(12))
    views = sgl_views(aug_type="ed", drop_ratio=0.3)(batch, torch.Generator().manual_seed(1))
    torch.manual_seed(7)
    output = method(views)
    torch.manual_seed(7)
    negatives = uniform_negatives(batch.users, graph)[:, 0]
    encoder = method.encoder
    main = torch.stack(dense_layers(encoder, [dense_adjacency(graph)] * 2)).mean(dim=0)
    users, items = split(method, main)
    reference = naive_ranking(encoder, users, items, batch, negatives, 0.01)
    first, second = (split(method, torch.stack(dense_layers(
        encoder, [dense_adjacency(view.graph_view)] * 2)).mean(dim=0)) for view in views[1:])
    cl_user = naive_in_batch(first[0], second[0], torch.unique(batch.users), 0.3)
    cl_item = naive_in_batch(first[1], second[1], torch.unique(batch.items), 0.3)
    assert output.metrics["cl_user"].item() == pytest.approx(cl_user.item(), rel=1e-5)
    assert output.metrics["cl_item"].item() == pytest.approx(cl_item.item(), rel=1e-5)
    reference = reference + 0.7 * (cl_user + cl_item)
    assert_same_loss_and_gradients(method, output, reference)


def test_sgl_random_walk_propagates_one_graph_per_layer():
    graph = random_graph()
    method, data = build(SGL, graph, layers=3)
    batch = data.batch_x(torch.arange(10))
    views = sgl_views(aug_type="rw", drop_ratio=0.4, layers=3)(
        batch, torch.Generator().manual_seed(2))
    output = method(views)
    encoder = method.encoder
    first, second = (split(method, torch.stack(dense_layers(
        encoder, [dense_adjacency(layer) for layer in view.graph_view])).mean(dim=0))
        for view in views[1:])
    cl_user = naive_in_batch(first[0], second[0], torch.unique(batch.users), 0.2)
    assert output.metrics["cl_user"].item() == pytest.approx(cl_user.item(), rel=1e-5)
    short = sgl_views(aug_type="rw", layers=2)(batch, torch.Generator().manual_seed(2))
    with pytest.raises(ValueError, match="set the sgl_views layers"):
        method(short)
    with pytest.raises(ValueError, match="three views"):
        method([batch])


def test_simgcl_loss_matches_dense_reference():
    graph = random_graph()
    method, data = build(SimGCL, graph, cl_weight=0.5, temperature=0.25, eps=0.3,
                         reg_weight=0.01)
    batch = data.batch_x(torch.arange(15))
    torch.manual_seed(11)
    output = method([batch])
    torch.manual_seed(11)
    negatives = uniform_negatives(batch.users, graph)[:, 0]
    size = graph.num_users + graph.num_items
    noises = [torch.rand(size, 8) for _ in range(4)]  # pass 1: layers 1-2, then pass 2
    encoder, adjacency = method.encoder, dense_adjacency(graph)
    users, items = split(method, torch.stack(dense_layers(encoder, [adjacency] * 2)).mean(0))
    reference = naive_ranking(encoder, users, items, batch, negatives, 0.01)
    first, second = (split(method, torch.stack(dense_layers(
        encoder, [adjacency] * 2, noise, 0.3)).mean(dim=0)) for noise in (noises[:2], noises[2:]))
    cl_user = naive_in_batch(first[0], second[0], torch.unique(batch.users), 0.25)
    cl_item = naive_in_batch(first[1], second[1], torch.unique(batch.items), 0.25)
    assert output.metrics["cl_item"].item() == pytest.approx(cl_item.item(), rel=1e-5)
    assert_same_loss_and_gradients(method, output, reference + 0.5 * (cl_user + cl_item))


def test_xsimgcl_loss_matches_dense_reference():
    graph = random_graph()
    method, data = build(XSimGCL, graph, layers=3, cl_weight=0.3, temperature=0.2, eps=0.2,
                         cl_layer=2, reg_weight=0.01)
    batch = data.batch_x(torch.arange(14))
    torch.manual_seed(12)
    output = method([batch])
    torch.manual_seed(12)
    size = graph.num_users + graph.num_items
    noises = [torch.rand(size, 8) for _ in range(3)]  # the one noisy pass comes first
    negatives = uniform_negatives(batch.users, graph)[:, 0]
    encoder = method.encoder
    outputs = dense_layers(encoder, [dense_adjacency(graph)] * 3, noises, 0.2)
    users, items = split(method, torch.stack(outputs).mean(dim=0))
    layer_users, layer_items = split(method, outputs[2])
    reference = naive_ranking(encoder, users, items, batch, negatives, 0.01)
    cl_user = naive_in_batch(users, layer_users, torch.unique(batch.users), 0.2)
    cl_item = naive_in_batch(items, layer_items, torch.unique(batch.items), 0.2)
    assert output.metrics["cl_user"].item() == pytest.approx(cl_user.item(), rel=1e-5)
    assert_same_loss_and_gradients(method, output, reference + 0.3 * (cl_user + cl_item))


def test_lightgcl_loss_matches_dense_reference():
    graph = random_graph()
    method, data = build(LightGCL, graph, cl_weight=0.4, temperature=0.5, rank=3,
                         l2_weight=1e-3)
    batch = data.batch_x(torch.arange(13))
    torch.manual_seed(13)
    output = method([batch])
    torch.manual_seed(13)
    negatives = uniform_negatives(batch.users, graph)[:, 0]
    encoder = method.encoder
    outputs = dense_layers(encoder, [dense_adjacency(graph)] * 2)
    users, items = split(method, torch.stack(outputs).mean(dim=0))
    reference = naive_ranking(encoder, users, items, batch, negatives, 0.0)
    user_scaled, _, _, right_t = method.factors
    low_rank = user_scaled @ right_t  # U S V^T, formed densely here
    cl_user = cl_item = reference.new_zeros(())
    for layer in (1, 2):
        previous_users, previous_items = split(method, outputs[layer - 1])
        main_users, main_items = split(method, outputs[layer])
        svd_users, svd_items = low_rank @ previous_items, low_rank.T @ previous_users
        batch_users, batch_items = torch.unique(batch.users), torch.unique(batch.items)
        cl_user = cl_user + naive_infonce([main_users[u] for u in batch_users.tolist()],
                                          svd_users, batch_users.tolist(), 0.5) / len(batch_users)
        cl_item = cl_item + naive_infonce([main_items[i] for i in batch_items.tolist()],
                                          svd_items, batch_items.tolist(), 0.5) / len(batch_items)
    assert output.metrics["cl_user"].item() == pytest.approx(cl_user.item(), rel=1e-5)
    tables = encoder.user_embedding.weight.pow(2).sum() + encoder.item_embedding.weight.pow(2).sum()
    reference = reference + 0.4 * (cl_user + cl_item) + 1e-3 * tables
    assert_same_loss_and_gradients(method, output, reference)


def test_ncl_loss_matches_dense_reference():
    graph = random_graph()
    method, data = build(NCL, graph, cl_weight=0.05, proto_weight=0.03, temperature=0.3,
                         alpha=0.5, num_clusters=3, proto_warmup_epochs=0, reg_weight=0.01)
    method.cluster()
    batch = data.batch_x(torch.tensor([0, 1, 2, 3, 3, 5, 8, 9, 9, 12]))
    torch.manual_seed(14)
    output = method([batch])
    torch.manual_seed(14)
    negatives = uniform_negatives(batch.users, graph)[:, 0]
    encoder = method.encoder
    outputs = dense_layers(encoder, [dense_adjacency(graph)] * 2)
    users, items = split(method, torch.stack(outputs).mean(dim=0))
    reference = naive_ranking(encoder, users, items, batch, negatives, 0.01)
    ego_users, ego_items = split(method, outputs[0])
    context_users, context_items = split(method, outputs[2])
    rows_u, rows_i = batch.users.tolist(), batch.items.tolist()
    structural = (naive_infonce([context_users[u] for u in rows_u], ego_users, rows_u, 0.3)
                  + 0.5 * naive_infonce([context_items[i] for i in rows_i], ego_items, rows_i,
                                        0.3))
    prototype = (naive_infonce([ego_users[u] for u in rows_u], method.user_centroids,
                               method.user_cluster[batch.users].tolist(), 0.3)
                 + naive_infonce([ego_items[i] for i in rows_i], method.item_centroids,
                                 method.item_cluster[batch.items].tolist(), 0.3))
    assert output.metrics["structural"].item() == pytest.approx(structural.item(), rel=1e-5)
    assert output.metrics["prototype"].item() == pytest.approx(prototype.item(), rel=1e-5)
    reference = reference + 0.05 * structural + 0.03 * prototype
    assert_same_loss_and_gradients(method, output, reference)


# -- the SVD view, k-means and NCL's epochs ------------------------------------------------------

def test_interaction_matrix_and_full_rank_svd_reconstruct_the_normalised_graph():
    graph = random_graph()
    dense = dense_adjacency(graph)[:graph.num_users, graph.num_users:]
    assert torch.allclose(interaction_matrix(graph).to_dense(), dense, atol=1e-6)
    method, _ = build(LightGCL, graph, rank=graph.num_users)
    user_scaled, item_scaled, left_t, right_t = method.factors
    singular = item_scaled.norm(dim=0)
    assert torch.allclose(user_scaled @ right_t, dense, atol=1e-4)
    assert torch.allclose(torch.sort(singular, descending=True).values,
                          torch.linalg.svdvals(dense), atol=1e-4)
    assert torch.allclose(left_t @ left_t.T, torch.eye(graph.num_users), atol=1e-4)


def test_lightgcl_svd_is_deterministic_and_leaves_the_default_rng_alone():
    graph = random_graph()
    first, data = build(LightGCL, graph, rank=2)
    state = torch.get_rng_state()
    second = LightGCL(first.encoder, rank=2)
    second.prepare(data, torch.device("cpu"))
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a, b) for a, b in zip(first.factors, second.factors))
    with pytest.raises(ValueError, match="call prepare"):
        LightGCL(first.encoder)([data.batch_x(torch.arange(3))])


def test_kmeans_finds_separated_clusters_and_assigns_to_the_nearest_centroid():
    torch.manual_seed(5)
    centres = torch.tensor([[10.0, 0.0], [0.0, 10.0], [-10.0, -10.0]])
    labels = torch.arange(3).repeat_interleave(8)
    points = centres[labels] + 0.3 * torch.randn(24, 2)
    found = []
    for _ in range(5):
        centroids, assignment = kmeans(points, 3, 10)
        found.append(len({(int(label), int(cluster))
                          for label, cluster in zip(labels, assignment)}))
        for point, cluster in zip(points, assignment.tolist()):
            distances = [float((point - centre).pow(2).sum()) for centre in centroids]
            assert distances[cluster] == min(distances)
        for cluster in range(3):
            members = points[assignment == cluster]
            if len(members):
                assert torch.allclose(centroids[cluster], members.mean(dim=0), atol=1e-4)
    assert 3 in found  # a start with one point per blob separates them exactly
    torch.manual_seed(9)
    first = kmeans(points, 3, 4)
    torch.manual_seed(9)
    assert all(torch.equal(a, b) for a, b in zip(first, kmeans(points, 3, 4)))


def test_ncl_clusters_clamp_recluster_each_epoch_and_warm_up():
    graph = random_graph(count=40)
    method, data = build(NCL, graph, num_clusters=1000, proto_warmup_epochs=1,
                         cluster_every_epochs=2)
    assert method.user_centroids.shape == (graph.num_users, 8)
    assert method.item_centroids.shape == (graph.num_items, 8)
    batch_size = 8
    steps_per_epoch = len(data) // batch_size
    clustered, prototype = [], []
    for step in range(4 * steps_per_epoch):
        batch = data.batch_x(torch.arange(batch_size) + (step % steps_per_epoch) * batch_size)
        output = method([batch])
        method([batch])  # a second pass over the same batch (SAM) is not counted again
        prototype.append(float(output.metrics["prototype"]))
        method.after_optimizer_step(step, 4 * steps_per_epoch)
        clustered.append(int(method.clustered_epoch))
    # clustered at the first step (epoch 0), then at the starts of epochs 2 and 4 only
    assert set(clustered[:2 * steps_per_epoch - 1]) == {0}
    assert set(clustered[2 * steps_per_epoch - 1:-1]) == {2} and clustered[-1] == 4
    assert int(method.epoch) == 4
    assert all(value == 0 for value in prototype[:steps_per_epoch])
    assert all(value > 0 for value in prototype[steps_per_epoch:])
    norms = method.user_centroids.norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)


# -- training --------------------------------------------------------------------------------------

METHOD_CASES = [
    (SGL, {}),
    (SimGCL, {}),
    (XSimGCL, {}),
    (LightGCL, {"rank": 3}),
    (NCL, {"cl_weight": 1e-2, "proto_weight": 1e-2, "num_clusters": 4,
           "proto_warmup_epochs": 0}),
]


def views_for(method, batch, seed: int):
    if isinstance(method, SGL):
        return sgl_views(aug_type="ed", drop_ratio=0.2)(batch, torch.Generator().manual_seed(seed))
    return [batch]


@pytest.mark.parametrize(("method_class", "kwargs"), METHOD_CASES)
def test_one_step_has_a_finite_loss_and_gradients_on_both_tables(method_class, kwargs):
    method, data = build(method_class, random_graph(), **kwargs)
    output = method(views_for(method, data.batch_x(torch.arange(12)), 0))
    assert torch.isfinite(output.loss)
    assert all(value.dim() == 0 and not value.requires_grad for value in output.metrics.values())
    output.loss.backward()
    for table in (method.encoder.user_embedding.weight, method.encoder.item_embedding.weight):
        assert table.grad is not None and table.grad.abs().sum() > 0


@pytest.mark.parametrize(("method_class", "kwargs"), METHOD_CASES)
def test_a_few_dozen_adam_steps_lower_the_loss(method_class, kwargs):
    graph = random_graph(num_users=10, num_items=12, count=40)
    method, data = build(method_class, graph, **kwargs)
    batch = data.batch_x(torch.arange(len(data)))

    def fixed_loss() -> float:  # the same negatives, noise and views every time
        torch.manual_seed(123)
        with torch.no_grad():
            return method(views_for(method, batch, 123)).loss.item()

    before = fixed_loss()
    optimizer = torch.optim.Adam(method.parameters(), lr=0.05)
    for step in range(30):
        optimizer.zero_grad()
        method(views_for(method, batch, step)).loss.backward()
        optimizer.step()
        method.after_optimizer_step(step, 30)
    assert fixed_loss() < before - 0.05


# -- across two processes ----------------------------------------------------------------------

DISTRIBUTED_ROWS = ([0, 1, 1, 2, 5, 7, 7, 7], [2, 3, 4, 9, 10, 11, 12, 13])
"""Each rank's batch rows: different numbers of distinct users and items on the two ranks."""


def _contrast_on_rank(rank: int, directory: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{os.path.join(directory, 'init')}",
                            rank=rank, world_size=2, timeout=datetime.timedelta(seconds=60))
    try:
        method, data = build(SimGCL, random_graph(), eps=0.0)
        output = method([data.batch_x(torch.tensor(DISTRIBUTED_ROWS[rank]))])
        torch.save({key: output.metrics[key] for key in ("cl_user", "cl_item")},
                   os.path.join(directory, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.distributed
def test_gather_contrasts_the_nodes_of_every_process_batch(tmp_path):
    """With gather, each process contrasts the distinct nodes of the global batch, taken from
    its own (replicated) tables: the same term as one process with the whole batch."""
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    mp.spawn(_contrast_on_rank, args=(str(tmp_path),), nprocs=2, join=True)
    method, data = build(SimGCL, random_graph(), eps=0.0)
    whole = method([data.batch_x(torch.tensor(sum(DISTRIBUTED_ROWS, [])))]).metrics
    for rank in range(2):
        saved = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for key in ("cl_user", "cl_item"):
            assert saved[key].item() == pytest.approx(whole[key].item(), rel=1e-5)


# -- registration and bad options ------------------------------------------------------------------

def test_registered_names():
    assert [METHODS.get(name) for name in ("sgl", "simgcl", "xsimgcl", "lightgcl", "ncl")] == [
        SGL, SimGCL, XSimGCL, LightGCL, NCL]
    assert AUGMENTATIONS.get("sgl_views") is sgl_views
    assert SGL.default_views == "sgl_views"


@pytest.mark.parametrize(("method_class", "kwargs", "message"), [
    (SGL, {"cl_weight": -0.1}, "cl_weight must be >= 0"),
    (SGL, {"temperature": 0.0}, "temperature must be > 0"),
    (SimGCL, {"eps": -1.0}, "eps must be >= 0"),
    (SimGCL, {"reg_weight": -1.0}, "reg_weight must be >= 0"),
    (XSimGCL, {"cl_layer": 3}, "cl_layer must be a propagated layer"),
    (XSimGCL, {"cl_weight": -1.0}, "cl_weight must be >= 0"),
    (LightGCL, {"rank": 7}, "rank must be in"),
    (LightGCL, {"rank": 0}, "rank must be in"),
    (LightGCL, {"l2_weight": -1e-7}, "l2_weight must be >= 0"),
    (NCL, {"proto_weight": -1.0}, "proto_weight must be >= 0"),
    (NCL, {"num_clusters": 0}, "num_clusters must be > 0"),
    (NCL, {"hyper_layers": 2}, "hyper_layers must be >= 1"),
    (NCL, {"alpha": -1.0}, "alpha must be >= 0"),
])
def test_bad_options_raise_one_line_errors(method_class, kwargs, message):
    encoder = LightGCN(6, 8, 0, dim=4, layers=2)
    with pytest.raises(ValueError, match=message) as error:
        method_class(encoder, **kwargs)
    assert "\n" not in str(error.value)
