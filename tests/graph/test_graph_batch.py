"""The graph batch contract: edits keep aligned fields consistent, slicing gives the engine's
micro-batches, and node batches are the whole graph or an exact k-hop neighbourhood."""

import pytest
import torch

pytest.importorskip("torch_geometric")

from contrastlearn.modalities.graph.batch import GraphBatch, check_graph_batch  # noqa: E402
from contrastlearn.modalities.graph.datasets import (  # noqa: E402
    GraphDataset,
    NodeDataset,
    collate_graphs,
    single_graph,
)


def path_graph(num_nodes: int, features: int = 3) -> GraphBatch:
    source = torch.arange(num_nodes - 1)
    edges = torch.stack([source, source + 1])
    edge_index = torch.cat([edges, edges.flip(0)], dim=1)
    x = torch.arange(num_nodes * features, dtype=torch.float32).reshape(num_nodes, features)
    return single_graph(x, edge_index, atoms=torch.arange(num_nodes) + 1,
                        edge_weight=torch.arange(edge_index.shape[1], dtype=torch.float32))


def test_keep_nodes_renumbers_edges_and_keeps_aligned_fields():
    graph = replace_seeds(path_graph(5), torch.tensor([0, 2]))
    kept = graph.keep_nodes(torch.tensor([True, False, True, True, False]))
    assert kept.num_nodes == 3
    assert kept.atoms.tolist() == [1, 3, 4]
    assert kept.seeds.tolist() == [0, 1]
    # only the edge 2-3 (both directions) survives, renumbered to 1-2
    assert sorted(map(tuple, kept.edge_index.T.tolist())) == [(1, 2), (2, 1)]
    assert kept.edge_weight.shape == (2,)
    assert torch.equal(kept.x[1], graph.x[2])


def replace_seeds(graph: GraphBatch, seeds: torch.Tensor) -> GraphBatch:
    from dataclasses import replace
    return replace(graph, seeds=seeds)


def test_keep_nodes_refuses_to_drop_a_seed():
    graph = replace_seeds(path_graph(4), torch.tensor([1]))
    with pytest.raises(ValueError, match="seed"):
        graph.keep_nodes(torch.tensor([True, False, True, True]))


def test_collate_and_slice_graph_level_batch():
    graphs = [path_graph(3), path_graph(5), path_graph(2)]
    batch = collate_graphs(graphs)
    assert len(batch) == 3 and batch.num_nodes == 10
    assert batch.graph_sizes().tolist() == [3, 5, 2]
    assert batch.atoms.tolist() == [1, 2, 3, 1, 2, 3, 4, 5, 1, 2]
    middle = batch[1:2]
    assert len(middle) == 1 and middle.num_nodes == 5
    assert torch.equal(middle.edge_index, graphs[1].edge_index)
    assert batch[0:3] is batch


def test_node_level_slice_narrows_seeds_and_keeps_graph():
    graph = replace_seeds(path_graph(6), torch.tensor([5, 4, 3, 2]))
    part = graph[1:3]
    assert part.seeds.tolist() == [4, 3] and part.num_nodes == 6


def test_node_dataset_full_graph_or_k_hop_neighbourhood():
    graph = path_graph(10)
    data = NodeDataset(torch.arange(10), torch.zeros(10, dtype=torch.long), graph=graph,
                       num_hops=1)
    whole = data.batch_x(torch.arange(6))
    assert whole.num_nodes == 10 and whole.seeds.tolist() == list(range(6))
    local = data.batch_x(torch.tensor([4]))
    assert sorted(local.node_ids.tolist()) == [3, 4, 5]
    assert local.node_ids[local.seeds].tolist() == [4]
    assert local.atoms.tolist() == (local.node_ids + 1).tolist()


def test_embed_with_uses_whole_graph_and_restores_training_mode():
    class MeanNeighbours(torch.nn.Module):
        out_dim = 3

        def forward(self, batch):
            return batch.x[batch.seeds] * 2

    data = NodeDataset(torch.tensor([2, 7]), None, graph=path_graph(10))
    encoder = MeanNeighbours()
    embedded = data.embed_with(encoder)
    assert torch.equal(embedded, data.graph.x[[2, 7]] * 2)
    assert encoder.training


def test_graph_dataset_embeds_in_chunks_in_order():
    class GraphSize(torch.nn.Module):
        out_dim = 1

        def forward(self, batch):
            return batch.graph_sizes().float()[:, None]

    graphs = [path_graph(n) for n in (2, 3, 4, 5, 6)]
    data = GraphDataset(torch.arange(5), graphs=graphs)
    assert data.embed_with(GraphSize(), batch_size=2).flatten().tolist() == [2, 3, 4, 5, 6]


def test_bad_shapes_and_types_are_clear_errors():
    with pytest.raises(ValueError, match="edge_index"):
        GraphBatch(torch.zeros(2, 1), torch.zeros(3, 2, dtype=torch.long),
                   torch.zeros(2, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="one graph per node"):
        GraphBatch(torch.zeros(2, 1), torch.zeros(2, 0, dtype=torch.long),
                   torch.zeros(3, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="GraphBatch"):
        check_graph_batch(torch.zeros(2), "edge_removing")
