"""GNN encoders (gcn, gin, gat) on GraphBatches: shapes at both levels, seeds, readouts, edge
weights, graphs without edges, permutation equivariance, bad input."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.graph.datasets import collate_graphs, single_graph
from contrastlearn.modalities.graph.encoders import GNNEncoder, gat, gcn, gin

FACTORIES = {"gcn": gcn, "gin": gin, "gat": gat}
FEATURES = 5


pytestmark = pytest.mark.usefixtures("one_thread")


def ring(num_nodes: int, seed: int = 0, features: int = FEATURES):
    """A cycle of `num_nodes` nodes (both edge directions) with random features."""
    generator = torch.Generator().manual_seed(seed)
    source = torch.arange(num_nodes)
    target = (source + 1) % num_nodes
    edge_index = torch.stack([torch.cat([source, target]), torch.cat([target, source])])
    return single_graph(torch.randn(num_nodes, features, generator=generator), edge_index)


def small_encoder(kind: str, **kwargs) -> GNNEncoder:
    torch.manual_seed(0)
    kwargs.setdefault("hidden_dim", 8)
    return FACTORIES[kind](FEATURES, **kwargs).eval()


@pytest.mark.parametrize("kind", FACTORIES)
def test_shapes_at_node_and_graph_level(kind):
    encoder = small_encoder(kind)
    graphs = collate_graphs([ring(4), ring(6, seed=1), ring(3, seed=2)])
    assert encoder.node_embeddings(graphs).shape == (13, encoder.out_dim)
    assert encoder(graphs).shape == (3, encoder.out_dim)
    seeded = replace(graphs, seeds=torch.tensor([7, 0, 12, 7]))
    assert encoder(seeded).shape == (4, encoder.out_dim)


def test_out_dim_follows_the_last_layer_or_the_concatenation():
    assert small_encoder("gcn", out_dim=3).out_dim == 3
    assert small_encoder("gcn", num_layers=3, jumping="concat").out_dim == 24
    assert small_encoder("gin", num_layers=3).out_dim == 24  # GraphCL's concat by default
    assert small_encoder("gat", out_dim=12, heads=4).out_dim == 12


@pytest.mark.parametrize("kind", FACTORIES)
def test_node_level_returns_the_seeds_rows_in_order(kind):
    encoder = small_encoder(kind)
    graph = replace(ring(7), seeds=torch.tensor([5, 2, 5, 0]))
    with torch.no_grad():
        nodes = encoder.node_embeddings(graph)
        torch.testing.assert_close(encoder(graph), nodes[[5, 2, 5, 0]])


@pytest.mark.parametrize("readout", ["sum", "mean", "max"])
def test_graph_level_readout_of_each_graph(readout):
    encoder = small_encoder("gcn", readout=readout)
    parts = [ring(4), ring(5, seed=1)]
    with torch.no_grad():
        pooled = encoder(collate_graphs(parts))
        for index, part in enumerate(parts):
            nodes = encoder.node_embeddings(part)
            expected = {"sum": nodes.sum(0), "mean": nodes.mean(0),
                        "max": nodes.max(0).values}[readout]
            torch.testing.assert_close(pooled[index], expected)


def test_concat_jumping_stacks_every_layers_output():
    encoder = small_encoder("gin", num_layers=2)
    graph = ring(5)
    with torch.no_grad():
        first = encoder.activations[0](encoder.norms[0](encoder.convs[0](graph.x,
                                                                        graph.edge_index)))
        torch.testing.assert_close(encoder.node_embeddings(graph)[:, :8], first)


def test_edge_weight_changes_gcn_and_is_ignored_by_gin_and_gat():
    graph = ring(6)
    weighted = graph.with_edges(graph.edge_index, torch.linspace(0.1, 2.0, graph.num_edges))
    with torch.no_grad():
        encoder = small_encoder("gcn")
        assert not torch.allclose(encoder(weighted), encoder(graph))
        ones = graph.with_edges(graph.edge_index, torch.ones(graph.num_edges))
        torch.testing.assert_close(encoder(ones), encoder(graph))
        for kind in ("gin", "gat"):
            encoder = small_encoder(kind)
            torch.testing.assert_close(encoder(weighted), encoder(graph))


@pytest.mark.parametrize("kind", FACTORIES)
def test_a_graph_without_edges_encodes_each_node_on_its_own(kind):
    encoder = small_encoder(kind)
    x = torch.randn(4, FEATURES, generator=torch.Generator().manual_seed(3))
    empty = torch.empty(2, 0, dtype=torch.long)
    with torch.no_grad():
        together = encoder.node_embeddings(single_graph(x, empty))
        alone = torch.cat([encoder.node_embeddings(single_graph(x[i:i + 1], empty))
                           for i in range(4)])
        assert torch.isfinite(together).all()
        torch.testing.assert_close(together, alone)
        assert encoder(single_graph(x, empty)).shape == (1, encoder.out_dim)


@pytest.mark.parametrize("kind", FACTORIES)
def test_node_embeddings_are_permutation_equivariant(kind):
    encoder = small_encoder(kind)
    graph = collate_graphs([ring(5), ring(4, seed=1)])
    graph = graph.with_edges(torch.cat([graph.edge_index, torch.tensor([[0, 2], [2, 0]])], 1))
    order = torch.randperm(graph.num_nodes, generator=torch.Generator().manual_seed(1))
    position = torch.empty_like(order)
    position[order] = torch.arange(len(order))
    permuted = replace(graph, x=graph.x[order], batch=graph.batch[order],
                       edge_index=position[graph.edge_index])
    with torch.no_grad():
        torch.testing.assert_close(encoder.node_embeddings(permuted),
                                   encoder.node_embeddings(graph)[order])
        torch.testing.assert_close(encoder(permuted), encoder(graph))


def test_public_parts_for_bound_propagation():
    encoder = small_encoder("gat", num_layers=3, heads=2)
    assert encoder.conv == "gat"
    assert len(encoder.convs) == len(encoder.activations) == len(encoder.norms) == 3
    assert type(encoder.convs[0]).__name__ == "GATConv"
    assert type(small_encoder("gin").convs[1]).__name__ == "GINConv"
    assert type(small_encoder("gcn").activations[0]).__name__ == "PReLU"


def test_registered_and_built_from_json_kwargs():
    encoder = ENCODERS.build("gcn", num_features=FEATURES, hidden_dim=4, num_layers=1)
    assert isinstance(encoder, GNNEncoder) and encoder.out_dim == 4
    assert {"gcn", "gin", "gat"} <= set(ENCODERS.names())


def test_reset_parameters_draws_new_weights():
    encoder = small_encoder("gin")
    before = [parameter.clone() for parameter in encoder.parameters()]
    encoder.reset_parameters()
    changed = [not torch.equal(a, b) for a, b in zip(before, encoder.parameters())]
    assert sum(changed) >= len(encoder.convs) * 2  # every conv's MLP weights at least


def test_gradients_reach_every_layer():
    encoder = small_encoder("gcn", num_layers=3).train()
    encoder(collate_graphs([ring(4), ring(5)])).sum().backward()
    for conv in encoder.convs:
        assert conv.lin.weight.grad is not None and conv.lin.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"readout": "median"}, "unknown readout 'median'"),
    ({"activation": "gelu"}, "unknown activation 'gelu'"),
    ({"jumping": "max"}, "unknown jumping 'max'"),
    ({"jumping": "concat", "out_dim": 4}, "leave out_dim unset"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"num_layers": 0}, "num_layers >= 1"),
])
def test_bad_settings_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gcn(FEATURES, **kwargs)


def test_bad_gat_width_and_bad_inputs():
    with pytest.raises(ValueError, match="multiple of heads=4"):
        gat(FEATURES, hidden_dim=6)
    with pytest.raises(ValueError, match="unknown graph convolution 'sage'"):
        GNNEncoder("sage", FEATURES)
    encoder = small_encoder("gcn")
    with pytest.raises(ValueError, match="built for 5 node features; the batch has 3"):
        encoder(ring(4, features=3))
    with pytest.raises(ValueError, match="expects a GraphBatch"):
        encoder(torch.randn(4, FEATURES))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", FACTORIES)
def test_cuda_matches_cpu(kind):
    encoder = small_encoder(kind)
    graph = collate_graphs([ring(4), ring(5, seed=1)])
    with torch.no_grad():
        expected = encoder(graph)
        got = encoder.cuda()(graph.to("cuda"))
        empty = single_graph(torch.randn(3, FEATURES), torch.empty(2, 0, dtype=torch.long))
        assert torch.isfinite(encoder(empty.to("cuda"))).all()
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-4, atol=1e-5)
