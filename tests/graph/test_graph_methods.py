"""DGI, MVGRL and GraphMAE on tiny graphs: one step trains the encoder at node and graph level,
DGI and MVGRL learn the blocks of a planted partition, GraphMAE's masking and its scaled cosine
error, bad input."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from contrastlearn.augment.views import Views
from contrastlearn.core.registry import AUGMENTATIONS, METHODS
from contrastlearn.modalities.graph.datasets import collate_graphs, single_graph
from contrastlearn.modalities.graph.encoders import gat, gcn, gin
from contrastlearn.modalities.graph.methods import DGI, MVGRL, GraphMAE
from contrastlearn.modalities.graph.methods.graphmae import scaled_cosine_error

FEATURES = 5


pytestmark = pytest.mark.usefixtures("one_thread")


def random_graph(num_nodes: int, num_edges: int, seed: int, features: int = FEATURES):
    generator = torch.Generator().manual_seed(seed)
    pairs = torch.randint(num_nodes, (2, num_edges), generator=generator)
    pairs = pairs[:, pairs[0] != pairs[1]]
    edge_index = torch.cat([pairs, pairs.flip(0)], dim=1)
    return single_graph(torch.randn(num_nodes, features, generator=generator), edge_index)


def node_level():
    return replace(random_graph(12, 20, seed=0), seeds=torch.tensor([0, 3, 4, 9, 11]))


def graph_level():
    return collate_graphs([random_graph(5, 6, seed=1), random_graph(7, 9, seed=2),
                           random_graph(4, 3, seed=3)])


def shuffled(graph):
    """DGI's corruption, made inline: node feature rows permuted, structure kept."""
    return graph.with_features(graph.x[torch.randperm(graph.num_nodes)])


def ppr_diffusion(graph, alpha: float = 0.2, threshold: float = 1e-3):
    """MVGRL's diffusion view, made inline: the dense personalised PageRank matrix
    alpha (I - (1 - alpha) D^-1/2 A D^-1/2)^-1, entries above `threshold` as weighted edges."""
    n = graph.num_nodes
    adjacency = torch.zeros(n, n)
    adjacency[graph.edge_index[0], graph.edge_index[1]] = 1.0
    scale = adjacency.sum(1).clamp_min(1).rsqrt()
    transition = scale[:, None] * adjacency * scale[None, :]
    diffusion = alpha * torch.linalg.inv(torch.eye(n) - (1 - alpha) * transition)
    edge_index = (diffusion > threshold).nonzero().T
    return graph.with_edges(edge_index, diffusion[edge_index[0], edge_index[1]])


def make_views(method: str, graph):
    if method == "dgi":
        return [graph, shuffled(graph)]
    if method == "mvgrl":
        return [graph, ppr_diffusion(graph)]
    return [graph]


ENCODERS = {"gcn": gcn, "gin": gin, "gat": gat}


@pytest.mark.parametrize("method", ["dgi", "mvgrl", "graphmae"])
@pytest.mark.parametrize("level", [node_level, graph_level])
@pytest.mark.parametrize("kind", ["gcn", "gin", "gat"])
def test_one_step_gives_a_finite_loss_and_encoder_gradients(method, level, kind):
    torch.manual_seed(0)
    encoder = ENCODERS[kind](FEATURES, hidden_dim=8)
    model = METHODS.build(method, encoder=encoder)
    batch = level()
    output = model(make_views(method, batch))
    assert output.loss.dim() == 0 and torch.isfinite(output.loss)
    output.loss.backward()
    grads = [p.grad for p in encoder.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    assert output.embeddings[0].shape == (len(batch), encoder.out_dim)


def planted_partition(seed: int, per_block: int = 20, p_in: float = 0.4, p_out: float = 0.02):
    """Two blocks, dense inside and sparse between; one-hot node features, so only the
    structure tells the blocks apart."""
    generator = torch.Generator().manual_seed(seed)
    blocks = torch.arange(2 * per_block) // per_block
    same = blocks[:, None] == blocks[None, :]
    upper = (torch.rand(len(blocks), len(blocks), generator=generator)
             < torch.where(same, p_in, p_out)).triu(1)
    edge_index = (upper | upper.T).nonzero().T
    graph = single_graph(torch.eye(len(blocks)), edge_index, seeds=torch.arange(len(blocks)))
    return graph, blocks


def block_separation(embeddings, blocks):
    """Squared distance between the two block means over the mean within-block spread, of the
    centred, L2-normalised embeddings (a Fisher ratio)."""
    centred = embeddings - embeddings.mean(0)
    rows = centred / centred.norm(dim=1, keepdim=True).clamp_min(1e-8)
    means = [rows[blocks == block].mean(0) for block in (0, 1)]
    spread = sum((rows[blocks == block] - means[block]).pow(2).sum(1).mean()
                 for block in (0, 1)) / 2
    return float((means[0] - means[1]).pow(2).sum() / spread)


@pytest.mark.parametrize("method", ["dgi", "mvgrl"])
def test_learns_the_blocks_of_a_planted_partition(method):
    torch.manual_seed(0)
    graph, blocks = planted_partition(seed=1)
    encoder = gcn(graph.x.shape[1], hidden_dim=16, num_layers=1)
    model = METHODS.build(method, encoder=encoder)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    with torch.no_grad():
        before = block_separation(encoder(graph), blocks)
    diffusion = ppr_diffusion(graph)
    for _ in range(40):
        views = [graph, shuffled(graph)] if method == "dgi" else [graph, diffusion]
        output = model(views)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = block_separation(encoder(graph), blocks)
    assert after > 3 * before, (before, after)
    assert float(output.metrics["accuracy"]) > 0.9


def test_mvgrl_diffusion_encoder_is_a_fresh_copy_and_both_train():
    encoder = gcn(FEATURES, hidden_dim=8)
    model = MVGRL(encoder)
    first = dict(encoder.named_parameters())
    second = dict(model.diffusion_encoder.named_parameters())
    assert first.keys() == second.keys()
    assert not torch.equal(first["convs.0.lin.weight"], second["convs.0.lin.weight"])
    model([node_level(), ppr_diffusion(node_level())]).loss.backward()
    assert second["convs.0.lin.weight"].grad.abs().sum() > 0
    assert model.encoder is encoder


def test_mvgrl_without_projection_and_the_diffusion_weights_matter():
    graph = node_level()
    torch.manual_seed(0)
    model = MVGRL(gcn(FEATURES, hidden_dim=8), projection=False).eval()
    diffusion = ppr_diffusion(graph)
    unweighted = diffusion.with_edges(diffusion.edge_index)
    torch.manual_seed(1)
    weighted_loss = model([graph, diffusion]).loss
    torch.manual_seed(1)
    assert not torch.isclose(weighted_loss, model([graph, unweighted]).loss)


def test_scaled_cosine_error_against_the_hand_formula():
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0]])
    prediction = torch.tensor([[1.0, 1.0], [0.0, -2.0], [6.0, 8.0]])
    cosines = [1 / math.sqrt(2), -1.0, 1.0]
    for gamma in (1.0, 2.0, 3.0):
        expected = sum((1 - c) ** gamma for c in cosines) / 3
        assert float(scaled_cosine_error(target, prediction, gamma)) == pytest.approx(expected)


def test_graphmae_masks_only_a_share_of_the_seeds():
    torch.manual_seed(0)
    encoder = gcn(FEATURES, hidden_dim=8)
    model = GraphMAE(encoder, mask_rate=0.6, replace_rate=0.0)
    with torch.no_grad():
        model.mask_token.fill_(7.0)
    seen = []
    original = encoder.node_embeddings
    encoder.node_embeddings = lambda batch: seen.append(batch.x) or original(batch)
    graph = node_level()
    output = model([graph])
    changed = (seen[0] != graph.x).any(1).nonzero().flatten()
    assert len(changed) == 3 == output.metrics["masked_nodes"]  # int(0.6 * 5 seeds)
    assert set(changed.tolist()) <= set(graph.seeds.tolist())
    assert bool((seen[0][changed] == 7.0).all())
    output.loss.backward()
    assert model.mask_token.grad.abs().sum() > 0


def test_graphmae_replaces_a_share_of_the_masked_nodes_with_other_features():
    torch.manual_seed(0)
    encoder = gin(FEATURES, hidden_dim=8)
    model = GraphMAE(encoder, mask_rate=0.5, replace_rate=0.5)
    seen = []
    original = encoder.node_embeddings
    encoder.node_embeddings = lambda batch: seen.append(batch.x) or original(batch)
    graph = random_graph(40, 60, seed=4)
    model([graph])
    token = (seen[0] == 0.0).all(1)  # the mask token starts at zero
    changed = (seen[0] != graph.x).any(1)
    assert int(token.sum()) == 10 and int(changed.sum()) == 20
    assert type(model.decoder).__name__ == "GINConv"  # the paper's decoder for GIN encoders
    assert type(GraphMAE(gat(FEATURES, hidden_dim=8)).decoder).__name__ == "GATConv"


def test_graphmae_reconstruction_error_falls():
    torch.manual_seed(0)
    graph, blocks = planted_partition(seed=2)
    graph = graph.with_features(torch.nn.functional.one_hot(blocks, 2).float()
                                + 0.1 * torch.randn(len(blocks), 2))
    model = GraphMAE(gcn(2, hidden_dim=16))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(60):
        output = model([graph])
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        losses.append(float(output.loss.detach()))
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10, losses


def test_graph_identity_views_returns_the_graph_itself():
    views = AUGMENTATIONS.build("graph_identity_views")
    assert isinstance(views, Views) and views.num_views == 1
    graph = node_level()
    assert views(graph, torch.Generator()) == [graph]
    assert METHODS.get("graphmae").default_views == "graph_identity_views"
    assert METHODS.get("dgi").default_views == "dgi_views"
    assert METHODS.get("mvgrl").default_views == "mvgrl_views"


def test_bad_views_and_encoders_are_named():
    graph = node_level()
    with pytest.raises(ValueError, match="dgi needs 2 views from dgi_views"):
        DGI(gcn(FEATURES, hidden_dim=8))([graph])
    with pytest.raises(ValueError, match="must keep the nodes of the graph"):
        MVGRL(gcn(FEATURES, hidden_dim=8))([graph, graph.keep_nodes(torch.arange(12) != 10)])
    with pytest.raises(ValueError, match="expects a GraphBatch"):
        GraphMAE(gcn(FEATURES, hidden_dim=8))([torch.randn(4, FEATURES)])
    plain = torch.nn.Linear(FEATURES, 4)
    plain.out_dim = 4
    with pytest.raises(TypeError, match="needs a graph encoder with node_embeddings"):
        DGI(plain)
    with pytest.raises(ValueError, match="0 < mask_rate < 1"):
        GraphMAE(gcn(FEATURES, hidden_dim=8), mask_rate=1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", ["dgi", "mvgrl", "graphmae"])
def test_one_step_on_cuda(method):
    torch.manual_seed(0)
    model = METHODS.build(method, encoder=gcn(FEATURES, hidden_dim=8)).cuda()
    views = [view.to("cuda") for view in make_views(method, node_level())]
    output = model(views)
    output.loss.backward()
    assert torch.isfinite(output.loss) and output.loss.device.type == "cuda"


def test_mvgrl_corruption_keeps_every_node_in_its_graph():
    from contrastlearn.modalities.graph.methods.common import shuffle_within_graphs

    torch.manual_seed(0)
    batch = graph_level()
    order = shuffle_within_graphs(batch)
    assert sorted(order.tolist()) == list(range(batch.num_nodes))
    assert torch.equal(batch.batch[order], batch.batch)
    assert not torch.equal(order, torch.arange(batch.num_nodes))
