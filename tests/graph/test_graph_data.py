"""Graph splits: held-out edges (both directions, seeded, nobody isolated), stratified node and
graph holdouts, official test graphs, the room's splitter for PyG objects and arrays, and the
samples `to_samples` makes."""

import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")

from torch_geometric.data import Data  # noqa: E402

from contrastlearn.data.arrays import DataError  # noqa: E402
from contrastlearn.modalities.graph.batch import GraphBatch  # noqa: E402
from contrastlearn.modalities.graph.data import (  # noqa: E402
    from_pyg,
    graph_samples,
    graph_split_arrays,
    graph_splits,
    hold_out_edges,
    node_splits,
)
from contrastlearn.modalities.graph.datasets import (  # noqa: E402
    GraphDataset,
    NodeDataset,
    single_graph,
)


def undirected(pairs: list[tuple[int, int]]) -> torch.Tensor:
    edges = torch.tensor(pairs, dtype=torch.long).T
    return torch.cat([edges, edges.flip(0)], dim=1)


def grid_graph(side: int = 6) -> GraphBatch:
    """A side x side grid: every node has degree 2 to 4."""
    pairs = []
    for row in range(side):
        for column in range(side):
            node = row * side + column
            if column + 1 < side:
                pairs.append((node, node + 1))
            if row + 1 < side:
                pairs.append((node, node + side))
    return single_graph(torch.randn(side * side, 3, generator=torch.Generator().manual_seed(0)),
                        undirected(pairs))


def edge_set(edge_index: torch.Tensor) -> set[tuple[int, int]]:
    return {tuple(pair) for pair in edge_index.T.tolist()}


def test_hold_out_edges_removes_both_directions_and_isolates_nobody():
    graph = grid_graph()
    kept, held = hold_out_edges(graph, 0.3, seed=1)
    total = len(edge_set(graph.edge_index)) // 2  # 60 undirected edges
    assert held.shape == (2, round(0.3 * total))
    assert bool((held[0] < held[1]).all())
    remaining = edge_set(kept.edge_index)
    for a, b in held.T.tolist():
        assert (a, b) not in remaining and (b, a) not in remaining
    # what is left is exactly the rest of the graph, still both directions
    assert remaining == edge_set(graph.edge_index) - {(a, b) for a, b in held.T.tolist()} - {
        (b, a) for a, b in held.T.tolist()}
    degree = torch.bincount(kept.edge_index[0], minlength=graph.num_nodes)
    assert bool((degree > 0).all())


def test_hold_out_edges_is_seeded_and_keeps_edge_fields_aligned():
    graph = grid_graph()
    weights = graph.edge_index[0].float() * 100 + graph.edge_index[1].float()
    graph = graph.with_edges(graph.edge_index, edge_weight=weights,
                             edge_attr=torch.stack([weights, -weights], dim=1))
    first = hold_out_edges(graph, 0.2, seed=3)
    again = hold_out_edges(graph, 0.2, seed=3)
    other = hold_out_edges(graph, 0.2, seed=4)
    assert torch.equal(first[1], again[1])
    assert not torch.equal(first[1], other[1])
    kept = first[0]
    expected = kept.edge_index[0].float() * 100 + kept.edge_index[1].float()
    assert torch.equal(kept.edge_weight, expected)
    assert torch.equal(kept.edge_attr[:, 1], -expected)


def test_hold_out_edges_never_takes_a_bridge_to_a_leaf():
    star = single_graph(torch.ones(5, 1), undirected([(0, 1), (0, 2), (0, 3), (0, 4)]))
    kept, held = hold_out_edges(star, 0.45, seed=0)  # every edge is a leaf's only edge
    assert held.shape == (2, 0)
    assert torch.equal(kept.edge_index, star.edge_index)


def test_hold_out_edges_refuses_a_fraction_out_of_range():
    with pytest.raises(DataError, match=r"held_out_edges must be in \[0, 0.5\)"):
        hold_out_edges(grid_graph(), 0.5, seed=0)


def test_node_splits_stratify_nodes_and_share_the_training_graph():
    graph = grid_graph()
    labels = torch.arange(36) % 3
    splits = node_splits(graph, labels, name="grid", holdout_fraction=0.25, seed=0,
                         held_out_edges=0.1, num_hops=1, texts=[f"node {i}" for i in range(36)])
    train, test = splits.train, splits.test
    assert isinstance(train, NodeDataset) and isinstance(test, NodeDataset)
    assert splits.modality == "graph"
    assert sorted(train.x.tolist() + test.x.tolist()) == list(range(36))
    assert torch.bincount(test.y).tolist() == [3, 3, 3]
    assert torch.equal(test.y, labels[test.x]) and torch.equal(test.ids, test.x)
    assert train.graph is test.graph and train.num_hops == 1
    held = splits.extras["held_out_edges"]
    assert held.shape == (2, 6)
    assert not edge_set(held) & edge_set(train.graph.edge_index)
    nodes = splits.extras["nodes"]
    assert torch.equal(nodes.x, torch.arange(36)) and torch.equal(nodes.y, labels)
    assert nodes.texts[5] == "node 5"
    info = splits.info
    assert info["level"] == "node" and info["test_split"] == "holdout_0.25_seed0"
    assert (info["num_nodes"], info["num_edges"], info["num_held_out_edges"]) == (36, 60, 6)
    assert (info["num_features"], info["num_classes"]) == (3, 3)


def test_node_splits_without_labels_have_no_test_split():
    splits = node_splits(grid_graph(), None, name="grid", holdout_fraction=0.2, seed=0)
    assert splits.test is None and len(splits.train) == 36
    assert splits.info["num_classes"] is None and splits.info["test_split"] == "none"


def test_node_splits_refuse_labels_of_the_wrong_length():
    with pytest.raises(DataError, match="has 5 labels but there are 36 samples"):
        node_splits(grid_graph(), [0, 1, 0, 1, 0], name="grid", holdout_fraction=0.2, seed=0)


def small_graphs(count: int, features: int = 2) -> list[GraphBatch]:
    return [single_graph(torch.full((index % 3 + 2, features), float(index)),
                         undirected([(0, 1)])) for index in range(count)]


def test_graph_splits_hold_out_a_stratified_part():
    graphs = small_graphs(20)
    labels = np.array([0] * 10 + [1] * 10)
    splits = graph_splits(graphs, labels, name="toy", holdout_fraction=0.2, seed=0)
    assert isinstance(splits.train, GraphDataset)
    assert torch.bincount(splits.test.y).tolist() == [2, 2]
    assert sorted(splits.train.x.tolist() + splits.test.x.tolist()) == list(range(20))
    batch = splits.test.batch_x(torch.arange(len(splits.test)))
    assert batch.num_graphs == 4
    assert torch.equal(batch.x[batch.batch == 0, 0].unique(),
                       torch.tensor([float(splits.test.x[0])]))
    assert splits.info["level"] == "graph" and splits.info["num_graphs"] == 20
    assert len(splits.extras["graphs"]) == 20


def test_graph_splits_with_official_test_graphs_share_class_codes():
    train, test = small_graphs(4), small_graphs(3)
    splits = graph_splits(train, ["b", "c", "b", "c"], test, ["a", "c", "a"], name="toy",
                          holdout_fraction=0.2, seed=0)
    # classes a, b, c -> 0, 1, 2 in both splits, though train has no "a"
    assert splits.train.y.tolist() == [1, 2, 1, 2]
    assert splits.test.y.tolist() == [0, 2, 0]
    assert splits.test.ids.tolist() == [4, 5, 6]
    assert splits.info["test_split"] == "test" and splits.info["num_classes"] == 3
    assert splits.info["classes"] == ["a", "b", "c"]
    assert splits.extras["graphs"].y.tolist() == [1, 2, 1, 2, 0, 2, 0]


def test_graph_splits_refuse_graphs_with_different_feature_counts():
    graphs = small_graphs(3) + small_graphs(1, features=5)
    with pytest.raises(DataError, match=r"toy: graphs\[3\] has 5 node features"):
        graph_splits(graphs, None, name="toy", holdout_fraction=0.2, seed=0)


def test_from_pyg_adds_reverse_edges_and_constant_features():
    data = Data(edge_index=torch.tensor([[0, 1], [1, 2]]), num_nodes=3,
                edge_attr=torch.tensor([[1.0, 0.0], [0.0, 1.0]]), z=torch.tensor([6, 8, 6]))
    graph = from_pyg(data)
    assert torch.equal(graph.x, torch.ones(3, 1))
    assert edge_set(graph.edge_index) == {(0, 1), (1, 0), (1, 2), (2, 1)}
    attr = {tuple(pair): row.tolist() for pair, row in zip(graph.edge_index.T.tolist(),
                                                           graph.edge_attr)}
    assert attr[(1, 0)] == [1.0, 0.0] and attr[(2, 1)] == [0.0, 1.0]
    assert graph.atoms.tolist() == [6, 8, 6]


def test_split_arrays_takes_one_pyg_graph_at_node_level():
    graph = grid_graph()
    data = Data(x=graph.x, edge_index=graph.edge_index, y=torch.arange(36) % 2)
    splits = graph_split_arrays(data, name="grid", holdout_fraction=0.5, seed=0,
                                held_out_edges=0.1, num_hops=3, features="tfidf")
    assert splits.info["level"] == "node" and splits.info["num_held_out_edges"] == 6
    assert splits.train.num_hops == 3 and len(splits.test) == 18
    assert torch.equal(splits.extras["nodes"].graph.x, graph.x)


def test_split_arrays_takes_a_list_of_pyg_graphs_at_graph_level():
    items = [Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]]),
                  y=torch.tensor([index % 2])) for index in range(10)]
    splits = graph_split_arrays(items, name="mols", holdout_fraction=0.2, seed=0)
    assert splits.info["level"] == "graph" and splits.info["num_classes"] == 2
    assert splits.train.graphs[0].num_edges == 4  # reverse edges added
    official = graph_split_arrays(items[:6], x_test=items[6:], name="mols",
                                  holdout_fraction=0.2, seed=0)
    assert (len(official.train), len(official.test)) == (6, 4)
    assert official.test.y.tolist() == [0, 1, 0, 1]


def test_split_arrays_takes_features_and_an_edge_index():
    x = np.eye(4, dtype=np.float32)
    splits = graph_split_arrays(x, [0, 0, 1, 1], edge_index=np.array([[0, 1, 2], [1, 2, 3]]),
                                name="path", holdout_fraction=0.5, seed=0, held_out_edges=0.0)
    graph = splits.extras["nodes"].graph
    assert edge_set(graph.edge_index) == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)}
    assert torch.equal(graph.x, torch.eye(4))
    ones = graph_split_arrays(None, edge_index=[[0, 1], [1, 2]], name="path",
                              holdout_fraction=0.2, seed=0, held_out_edges=0.0)
    assert torch.equal(ones.train.graph.x, torch.ones(3, 1))


def test_split_arrays_featurizes_node_texts_when_there_are_no_features():
    texts = ["red apple fruit", "green apple fruit", "red car engine", "blue car engine"]
    splits = graph_split_arrays(None, edge_index=[[0, 2], [1, 3]], texts=texts, name="t",
                                holdout_fraction=0.2, seed=0, held_out_edges=0.0,
                                text_views=2, feature_dim=2)
    graph = splits.train.graph
    assert graph.x.shape == (4, 2) and graph.feature_variants.shape == (4, 2, 2)
    assert splits.train.texts == texts


@pytest.mark.parametrize("kwargs, message", [
    ({"x": np.ones((3, 2))}, "graph data needs edges"),
    ({"x": np.ones((3, 2)), "edge_index": [[0, 1, 2]]}, r"must have shape \(2, num_edges\)"),
    ({"x": np.ones((3, 2)), "edge_index": [[0, 1], [1, 3]]}, "refers to node 3 but the graph "
                                                             "has nodes 0..2"),
    ({"x": np.ones((3, 2)), "edge_index": [[0.0], [1.0]]}, "edge indices must be integers"),
    ({"x": np.ones((3, 2)), "edge_index": [[0], [1]], "x_test": np.ones((1, 2))},
     "a node-level graph is split by holdout_fraction"),
    ({"x": np.ones((3, 2)), "edge_index": [[0], [1]], "header": True}, r"unknown graph options "
                                                                       r"\['header'\]"),
    ({"x": [Data(x=torch.ones(2, 1), edge_index=torch.tensor([[0], [1]]),
                 y=torch.tensor([0, 1]))] * 2}, "needs one label per graph"),
])
def test_split_arrays_refuses_bad_input(kwargs, message):
    with pytest.raises(DataError, match=message):
        graph_split_arrays(**kwargs, name="bad", holdout_fraction=0.2, seed=0)


def test_graph_samples_embed_nodes_of_one_graph_and_graphs_of_a_list():
    graph = grid_graph(3)
    nodes = graph_samples(Data(x=graph.x, edge_index=graph.edge_index))
    assert isinstance(nodes, NodeDataset) and torch.equal(nodes.x, torch.arange(9))
    graphs = graph_samples([Data(x=torch.ones(2, 1), edge_index=torch.tensor([[0], [1]]))] * 3)
    assert isinstance(graphs, GraphDataset) and len(graphs) == 3
    with pytest.raises(DataError, match="cannot embed a ndarray as graphs"):
        graph_samples(np.ones((3, 2)))
