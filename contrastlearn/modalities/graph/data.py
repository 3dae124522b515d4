"""Train/test splits of graph data, at the two levels of `GraphBatch`.

- **Node level** (`node_splits`): one graph whose nodes are the samples. A seeded fraction of
  the undirected edges is removed before training and kept for link prediction
  (`extras["held_out_edges"]`, one direction each), never one that would leave a node without
  edges; the nodes are split by a stratified holdout, and both splits share the graph
  (transductive: every node takes part in message passing, a split only chooses the samples).
- **Graph level** (`graph_splits`): many small graphs whose graphs are the samples; an official
  test set, or a stratified holdout.

`graph_split_arrays` is the room's splitter for what users hand over: a PyG `Data` (one graph,
node level), a list of `Data` or single-graph `GraphBatch`es (graph level), or node features
`x` (N, F) with `edge_index` (2, E) (node level). `from_pyg` turns a PyG object into a
`GraphBatch`: a graph without node features gets one constant feature per node (ones (N, 1):
the structure alone must carry the signal), `edge_attr`, `edge_weight` and atomic numbers `z`
are kept, and the reverse of every edge is added when it is missing (message passing runs over
both directions). Self-loops given as arrays or PyG objects are kept as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from contrastlearn.data.arrays import (
    DataError,
    DatasetSplits,
    as_float_tensor,
    as_labels,
    stratified_holdout,
)
from contrastlearn.modalities.graph.batch import GraphBatch
from contrastlearn.modalities.graph.datasets import GraphDataset, NodeDataset, single_graph
from contrastlearn.modalities.graph.options import GraphOptions
from contrastlearn.modalities.graph.protocols import attach_protocols
from contrastlearn.modalities.graph.text_features import featurize_texts

MODALITY = "graph"
DEFAULT_HELD_OUT_EDGES = 0.05
"""Fraction of a node-level graph's undirected edges held out for link prediction when the
recipe and the dataset do not say."""


def _is_pyg_data(value: Any) -> bool:
    if not type(value).__module__.startswith("torch_geometric."):
        return False
    from torch_geometric.data import Data

    return isinstance(value, Data)


def _make_undirected(edge_index: Tensor, num_nodes: int,
                     aligned: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """Both directions of every edge, duplicates merged (aligned edge values averaged)."""
    from torch_geometric.utils import is_undirected, to_undirected

    if is_undirected(edge_index, num_nodes=num_nodes):
        return edge_index, aligned
    if not aligned:
        return to_undirected(edge_index, num_nodes=num_nodes), []
    edge_index, aligned = to_undirected(edge_index, aligned, num_nodes=num_nodes,
                                        reduce="mean")
    return edge_index, list(aligned)


def _check_edge_index(edge_index: Any, num_nodes: int, what: str) -> Tensor:
    """`edge_index` as an int64 (2, E) tensor of node numbers in [0, num_nodes)."""
    tensor = torch.as_tensor(np.asarray(edge_index) if not isinstance(edge_index, Tensor)
                             else edge_index)
    if tensor.dtype.is_floating_point or tensor.dtype == torch.bool or tensor.is_complex():
        raise DataError(f"{what} has dtype {tensor.dtype}; edge indices must be integers")
    if tensor.dim() != 2 or tensor.shape[0] != 2:
        raise DataError(f"{what} must have shape (2, num_edges), got {tuple(tensor.shape)}; "
                        "transpose an (num_edges, 2) edge list with .T")
    tensor = tensor.long()
    outside = (tensor < 0) | (tensor >= num_nodes)
    if bool(outside.any()):
        raise DataError(f"{what} refers to node {int(tensor[outside][0])} but the graph has "
                        f"nodes 0..{num_nodes - 1}; give one feature row per node")
    return tensor


def from_pyg(data: Any, what: str = "graph") -> GraphBatch:
    """A PyG `Data` as a single-graph GraphBatch (see the module docstring for what is kept)."""
    num_nodes = int(data.num_nodes or 0)
    if num_nodes == 0:
        raise DataError(f"{what} has no nodes")
    x = getattr(data, "x", None)
    if x is None:
        x = torch.ones(num_nodes, 1)
    x = as_float_tensor(x, f"{what}: x")
    if x.dim() == 1:
        x = x[:, None]
    edge_index = getattr(data, "edge_index", None)
    if edge_index is None:
        edge_index = torch.zeros(2, 0, dtype=torch.long)
    edge_index = _check_edge_index(edge_index, num_nodes, f"{what}: edge_index")
    optional: dict[str, Tensor] = {}
    for name in ("edge_attr", "edge_weight"):
        value = getattr(data, name, None)
        if value is not None:
            value = torch.as_tensor(value).float()
            optional[name] = value[:, None] if name == "edge_attr" and value.dim() == 1 else value
    edge_index, aligned = _make_undirected(edge_index, num_nodes, list(optional.values()))
    optional = dict(zip(optional, aligned))
    atoms = getattr(data, "z", None)
    if atoms is not None:
        optional["atoms"] = torch.as_tensor(atoms).long()
    return single_graph(x, edge_index, **optional)


def _as_single_graph(value: Any, what: str) -> GraphBatch:
    if isinstance(value, GraphBatch):
        if value.num_graphs != 1:
            raise DataError(f"{what} holds {value.num_graphs} graphs; give one graph per item")
        return replace(value, seeds=None)
    if _is_pyg_data(value):
        return from_pyg(value, what)
    raise DataError(f"{what} is a {type(value).__name__}; expected a torch_geometric Data or a "
                    "GraphBatch")


def _split_graphs(batch: GraphBatch) -> list[GraphBatch]:
    return [batch.select_graphs(torch.tensor([index])) for index in range(batch.num_graphs)]


def _is_graph_list(value: Any) -> bool:
    if isinstance(value, GraphBatch):
        return value.num_graphs > 1
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(
        isinstance(item, GraphBatch) or _is_pyg_data(item) for item in value)


def _graph_list(value: Any, what: str) -> list[GraphBatch]:
    if isinstance(value, GraphBatch):
        return _split_graphs(value)
    return [_as_single_graph(item, f"{what}[{index}]") for index, item in enumerate(value)]


def _pyg_graph_labels(items: Any, what: str) -> list[Any] | None:
    """The graph labels `y` of PyG objects (one value each), or None when none has one."""
    if isinstance(items, GraphBatch):
        return None
    values = [getattr(item, "y", None) for item in items]
    if all(value is None for value in values):
        return None
    for index, value in enumerate(values):
        if value is None or torch.as_tensor(value).numel() != 1:
            shape = None if value is None else tuple(torch.as_tensor(value).shape)
            raise DataError(f"{what}[{index}] has y of shape {shape}; graph-level data needs one "
                            "label per graph (pass y=... instead)")
    return [torch.as_tensor(value).reshape(()).item() for value in values]


def _check_graphs(graphs: Sequence[GraphBatch], what: str,
                  num_features: int | None = None) -> list[GraphBatch]:
    graphs = list(graphs)
    if not graphs:
        raise DataError(f"{what} is empty; give at least one graph")
    num_features = num_features or int(graphs[0].x.shape[1])
    edge_dims = set()
    for index, graph in enumerate(graphs):
        if int(graph.x.shape[1]) != num_features:
            raise DataError(f"{what}[{index}] has {int(graph.x.shape[1])} node features but the "
                            f"first graph has {num_features}; every graph needs the same")
        if graph.edge_attr is not None:
            edge_dims.add(int(graph.edge_attr.shape[1]))
    if len(edge_dims) > 1:
        raise DataError(f"{what}: graphs have edge_attr of {sorted(edge_dims)} dims; every graph "
                        "needs the same")
    return graphs


def hold_out_edges(graph: GraphBatch, fraction: float, seed: int) -> tuple[GraphBatch, Tensor]:
    """`graph` without `fraction` of its undirected edges (both directions removed), and those
    edges (2, H), one direction each (smaller node first). Edges are visited in a seeded random
    order and taken while both their nodes keep another edge, so no node is isolated (fewer
    than `fraction` are taken when too few qualify). Self-loops are never held out."""
    if not 0.0 <= fraction < 0.5:
        raise DataError(f"held_out_edges must be in [0, 0.5), got {fraction}")
    num_nodes = graph.num_nodes
    source, target = graph.edge_index
    low, high = torch.minimum(source, target), torch.maximum(source, target)
    proper = low != high
    edge_keys = low * num_nodes + high
    keys = torch.unique(edge_keys[proper])
    count = round(fraction * len(keys))
    if count == 0:
        return graph, torch.zeros(2, 0, dtype=torch.long)
    first, second = keys // num_nodes, keys % num_nodes
    degree = torch.bincount(torch.cat([first, second]), minlength=num_nodes).tolist()
    first_list, second_list = first.tolist(), second.tolist()
    order = torch.randperm(len(keys), generator=torch.Generator().manual_seed(seed)).tolist()
    chosen = []
    for position in order:
        a, b = first_list[position], second_list[position]
        if degree[a] > 1 and degree[b] > 1:
            degree[a] -= 1
            degree[b] -= 1
            chosen.append(position)
            if len(chosen) == count:
                break
    held_keys = keys[torch.tensor(sorted(chosen), dtype=torch.long)]
    remove = torch.isin(edge_keys, held_keys) & proper
    keep = ~remove
    kept = graph.with_edges(
        graph.edge_index[:, keep],
        None if graph.edge_weight is None else graph.edge_weight[keep],
        None if graph.edge_attr is None else graph.edge_attr[keep])
    return kept, torch.stack([held_keys // num_nodes, held_keys % num_nodes])


def _num_undirected_edges(edge_index: Tensor, num_nodes: int) -> int:
    """Edges counted once whichever directions are present (a self-loop counts once)."""
    low = torch.minimum(edge_index[0], edge_index[1])
    high = torch.maximum(edge_index[0], edge_index[1])
    return int(torch.unique(low * num_nodes + high).numel())


def node_splits(
    graph: GraphBatch, labels: Any, *, name: str, holdout_fraction: float, seed: int,
    held_out_edges: float = DEFAULT_HELD_OUT_EDGES, num_hops: int = 2,
    texts: Sequence[str] | None = None, info: dict[str, Any] | None = None,
) -> DatasetSplits:
    """Node-level splits of one graph (see the module docstring): train = the nodes not held
    out, test = a stratified `holdout_fraction` of the nodes (None without labels), both on
    the graph without the held-out edges; `extras["nodes"]` is every node (with labels) and
    `extras["held_out_edges"]` the removed edges (2, H)."""
    if graph.num_graphs != 1:
        raise DataError(f"{name}: a node-level graph is one graph; got {graph.num_graphs}")
    num_nodes = graph.num_nodes
    _check_edge_index(graph.edge_index, num_nodes, f"{name}: edge_index")
    y = as_labels(labels, num_nodes, f"{name}: node labels")
    if texts is not None and len(texts) != num_nodes:
        raise DataError(f"{name}: {len(texts)} node texts for {num_nodes} nodes; give one text "
                        "per node")
    if num_hops < 0:
        raise DataError(f"{name}: num_hops must be >= 0, got {num_hops}")
    graph = replace(graph, seeds=None)
    num_edges = _num_undirected_edges(graph.edge_index, num_nodes)
    training_graph, held_edges = hold_out_edges(graph, held_out_edges, seed)
    nodes = NodeDataset(torch.arange(num_nodes), y, graph=training_graph, num_hops=num_hops,
                        texts=None if texts is None else list(texts), name=name)
    if y is None or holdout_fraction <= 0:
        train, test, split = nodes, None, "none"
    else:
        kept, held = stratified_holdout(y, num_nodes, holdout_fraction, seed)
        train, test = nodes.subset(kept), nodes.subset(held)
        split = f"holdout_{holdout_fraction:g}_seed{seed}"
    summary = {
        "name": name, "level": "node", "num_nodes": num_nodes, "num_edges": num_edges,
        "num_held_out_edges": int(held_edges.shape[1]), "num_features": int(graph.x.shape[1]),
        "num_classes": None if y is None else int(y.max()) + 1, "num_train": len(train),
        "num_test": 0 if test is None else len(test), "test_split": split,
        **_class_names(labels), **(info or {}),
    }
    return attach_protocols(DatasetSplits(train, test, MODALITY, summary,
                                          extras={"nodes": nodes, "held_out_edges": held_edges}))


def _class_names(*labels: Any) -> dict[str, list[str]]:
    """{"classes": the sorted class names} when labels are strings (codes follow that order),
    else nothing."""
    arrays = [np.asarray(values) for values in labels if values is not None]
    if not arrays or all(array.dtype.kind not in "US" for array in arrays):
        return {}
    return {"classes": np.unique(np.concatenate([a.astype(str) for a in arrays])).tolist()}


def _joint_class_codes(labels: Any, labels_test: Any) -> tuple[Any, Any]:
    """Class names (strings) of both splits as one set of codes, so a class has the same code
    in train and test even when one split lacks another class."""
    if labels is None or labels_test is None:
        return labels, labels_test
    train, test = np.asarray(labels), np.asarray(labels_test)
    if train.dtype.kind not in "US" and test.dtype.kind not in "US":
        return labels, labels_test
    classes = np.unique(np.concatenate([train.astype(str), test.astype(str)]))
    return (np.searchsorted(classes, train.astype(str)),
            np.searchsorted(classes, test.astype(str)))


def graph_splits(
    graphs: Sequence[GraphBatch], labels: Any, graphs_test: Sequence[GraphBatch] | None = None,
    labels_test: Any = None, *, name: str, holdout_fraction: float, seed: int,
    info: dict[str, Any] | None = None,
) -> DatasetSplits:
    """Graph-level splits: the official test graphs when given (test_split "test"), else a
    stratified `holdout_fraction` of the graphs; `extras["graphs"]` is every graph."""
    graphs = _check_graphs(graphs, f"{name}: graphs")
    num_features = int(graphs[0].x.shape[1])
    classes = _class_names(labels, labels_test)
    labels, labels_test = _joint_class_codes(labels, labels_test)
    y = as_labels(labels, len(graphs), f"{name}: y")
    if graphs_test is not None:
        test_graphs = _check_graphs(graphs_test, f"{name}: graphs_test", num_features)
        y_test = as_labels(labels_test, len(test_graphs), f"{name}: y_test")
        if (y is None) != (y_test is None):
            raise DataError(f"{name}: give labels for both splits (y and y_test) or for neither")
        count = len(graphs)
        train = GraphDataset(torch.arange(count), y, graphs=graphs, name=name)
        test = GraphDataset(torch.arange(len(test_graphs)), y_test,
                            torch.arange(len(test_graphs)) + count, graphs=test_graphs,
                            name=name)
        every = GraphDataset(torch.arange(count + len(test_graphs)),
                             None if y is None else torch.cat([y, y_test]),
                             graphs=graphs + test_graphs, name=name)
        split = "test"
    else:
        if labels_test is not None:
            raise DataError(f"{name}: y_test given without test graphs")
        every = GraphDataset(torch.arange(len(graphs)), y, graphs=graphs, name=name)
        kept, held = stratified_holdout(y, len(graphs), holdout_fraction, seed)
        train, test = every.subset(kept), every.subset(held)
        split = f"holdout_{holdout_fraction:g}_seed{seed}"
    sizes = torch.tensor([graph.num_nodes for graph in every.graphs], dtype=torch.float)
    edge_attr = every.graphs[0].edge_attr
    labels_all = every.y
    summary = {
        "name": name, "level": "graph", "num_graphs": len(every), "num_train": len(train),
        "num_test": len(test), "num_features": num_features,
        "num_edge_features": None if edge_attr is None else int(edge_attr.shape[1]),
        "mean_nodes": round(float(sizes.mean()), 2),
        "num_classes": None if labels_all is None else int(labels_all.max()) + 1,
        "test_split": split, **classes, **(info or {}),
    }
    return attach_protocols(DatasetSplits(train, test, MODALITY, summary,
                                          extras={"graphs": every}))


def _check_option_names(options: dict[str, Any], name: str) -> None:
    unknown = sorted(set(options) - set(GraphOptions.model_fields))
    if unknown:
        raise DataError(f"{name}: unknown graph options {unknown}; accepted: "
                        f"{', '.join(GraphOptions.model_fields)}")


def _node_level_arrays(x: Any, edge_index: Any, texts: Sequence[str] | None, name: str,
                       features: str, feature_dim: int, text_views: int) -> GraphBatch:
    """One graph from node features (or node texts, or nothing: ones) and an edge index."""
    variants = None
    if x is not None:
        x = as_float_tensor(x, f"{name}: x")
        if x.dim() != 2:
            raise DataError(f"{name}: x must be node features of shape (num_nodes, "
                            f"num_features), got {tuple(x.shape)}")
        num_nodes = int(x.shape[0])
    elif texts is not None:
        matrix, variant_matrix = featurize_texts(list(texts), features=features,
                                                 feature_dim=feature_dim, text_views=text_views)
        x = torch.from_numpy(matrix)
        variants = None if variant_matrix is None else torch.from_numpy(variant_matrix)
        num_nodes = len(texts)
    else:
        raw = torch.as_tensor(np.asarray(edge_index))
        num_nodes = int(raw.max()) + 1 if raw.numel() else 0
        if num_nodes == 0:
            raise DataError(f"{name}: no nodes (x is None and edge_index is empty)")
        x = torch.ones(num_nodes, 1)
    edges = _check_edge_index(edge_index, num_nodes, f"{name}: edge_index")
    edges, _ = _make_undirected(edges, num_nodes, [])
    optional = {} if variants is None else {"feature_variants": variants}
    return single_graph(x, edges, **optional)


def graph_split_arrays(
    x: Any = None, y: Any = None, x_test: Any = None, y_test: Any = None, *,
    edge_index: Any = None, graphs: Any = None, texts: Sequence[str] | None = None,
    name: str = "graph", holdout_fraction: float = 0.2, seed: int = 0,
    held_out_edges: float | None = None, num_hops: int = 2, features: str = "tfidf",
    feature_dim: int = 256, text_views: int = 0, **options: Any,
) -> DatasetSplits:
    """The graph room's splitter. `x` (or `graphs`) is a PyG `Data` or single `GraphBatch`
    (node level: its nodes are the samples, labels `y` or `data.y`), a list of them or a
    multi-graph `GraphBatch` (graph level: labels `y` or each `data.y`; `x_test`/`y_test`
    the official test graphs), or node features (N, F) with `edge_index` (2, E) (node level;
    x None: features from `texts` as `features`/`feature_dim`/`text_views` say, else ones).
    `held_out_edges` (None: 0.05) and `num_hops` shape node-level splits; other graph options
    (`options`, e.g. the recipe's reader options) do not apply to in-memory data."""
    _check_option_names(options, name)
    if graphs is not None:
        if x is not None:
            raise DataError(f"{name}: give the graphs as x or as graphs, not both")
        x = graphs
    if x is not None and _is_graph_list(x):
        if edge_index is not None or texts is not None:
            raise DataError(f"{name}: edge_index and texts describe one node-level graph; a list "
                            "of graphs carries its own edges")
        train_graphs = _graph_list(x, f"{name}: graphs")
        labels = y if y is not None else _pyg_graph_labels(x, f"{name}: graphs")
        test_graphs, test_labels = None, y_test
        if x_test is not None:
            if not _is_graph_list(x_test):
                raise DataError(f"{name}: x_test must be a list of graphs like x")
            test_graphs = _graph_list(x_test, f"{name}: x_test")
            if test_labels is None:
                test_labels = _pyg_graph_labels(x_test, f"{name}: x_test")
        return graph_splits(train_graphs, labels, test_graphs, test_labels, name=name,
                            holdout_fraction=holdout_fraction, seed=seed)
    if x_test is not None or y_test is not None:
        raise DataError(f"{name}: a node-level graph is split by holdout_fraction; leave out "
                        "x_test and y_test")
    if isinstance(x, GraphBatch) or _is_pyg_data(x):
        if edge_index is not None:
            raise DataError(f"{name}: the graph carries its own edges; leave out edge_index")
        graph = _as_single_graph(x, f"{name}: graph")
        if y is None and _is_pyg_data(x):
            y = getattr(x, "y", None)
    elif edge_index is not None:
        graph = _node_level_arrays(x, edge_index, texts, name, features, feature_dim,
                                   text_views)
    else:
        raise DataError(f"{name}: graph data needs edges: pass a torch_geometric Data (one "
                        "graph), a list of Data (many graphs), or node features x with "
                        "edge_index of shape (2, num_edges)")
    fraction = DEFAULT_HELD_OUT_EDGES if held_out_edges is None else held_out_edges
    return node_splits(graph, y, name=name, holdout_fraction=holdout_fraction, seed=seed,
                       held_out_edges=fraction, num_hops=num_hops, texts=texts)


def graph_samples(inputs: Any, scale: float | None = None) -> NodeDataset | GraphDataset:
    """Graphs to embed (`to_samples`; `scale` does not apply to graphs): one graph (a PyG
    `Data` or single `GraphBatch`) -> a NodeDataset of all its nodes; a list of graphs or a
    multi-graph `GraphBatch` -> a GraphDataset of the graphs; a Node/GraphDataset as is."""
    if isinstance(inputs, (NodeDataset, GraphDataset)):
        return inputs
    if _is_graph_list(inputs):
        graphs = _check_graphs(_graph_list(inputs, "graphs"), "graphs")
        return GraphDataset(torch.arange(len(graphs)), graphs=graphs, name="graphs")
    if isinstance(inputs, GraphBatch) or _is_pyg_data(inputs):
        graph = _as_single_graph(inputs, "graph")
        return NodeDataset(torch.arange(graph.num_nodes), graph=graph, name="graph")
    raise DataError(f"cannot embed a {type(inputs).__name__} as graphs: pass a torch_geometric "
                    "Data (its nodes are embedded) or a list of Data (each graph is embedded)")
