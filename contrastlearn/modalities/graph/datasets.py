"""The two kinds of graph data the engine draws batches from.

- `NodeDataset`: one graph whose nodes are the samples (a citation graph, WordNet). A batch
  of nodes is the whole graph with those nodes as seeds when the batch is at least half the
  graph (full-batch training, exact), else their `num_hops`-hop neighbourhood (mini-batch
  training in bounded memory; GCN's degree normalisation then sees the subgraph's degrees
  at its border). The graph is transductive: every node takes part in message passing, and
  a split only decides which nodes are samples.
- `GraphDataset`: many small graphs (molecules) whose graphs are the samples; a batch
  collates the chosen graphs into one disconnected `GraphBatch`.

Both keep the sample index in `x` (int64), so the engine's seeded, resumable batch order
and every `ArrayDataset` helper (subset, ids, labels) work unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from contrastlearn.data.arrays import ArrayDataset
from contrastlearn.modalities.graph.batch import EDGE_FIELDS, NODE_FIELDS, GraphBatch

FULL_GRAPH_FRACTION = 0.5
"""A node batch at least this fraction of the graph is trained on the whole graph."""


def single_graph(x: Tensor, edge_index: Tensor, **optional: Any) -> GraphBatch:
    """One graph as a GraphBatch (all nodes in graph 0)."""
    batch = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    return GraphBatch(x=x, edge_index=edge_index, batch=batch, num_graphs=1, **optional)


def collate_graphs(graphs: list[GraphBatch]) -> GraphBatch:
    """Single graphs as one disconnected batch: nodes stacked, edge indices offset, `batch`
    numbering the graphs in order. Optional fields are kept when every graph has them."""
    sizes = torch.tensor([graph.num_nodes for graph in graphs])
    offsets = torch.cumsum(sizes, 0) - sizes
    edge_index = torch.cat([graph.edge_index + offset
                            for graph, offset in zip(graphs, offsets.tolist())], dim=1)
    batch = torch.repeat_interleave(torch.arange(len(graphs)), sizes)
    optional = {}
    for name in (*NODE_FIELDS[2:], *EDGE_FIELDS):
        values = [getattr(graph, name) for graph in graphs]
        if all(value is not None for value in values):
            optional[name] = torch.cat(values)
    return GraphBatch(x=torch.cat([graph.x for graph in graphs]), edge_index=edge_index,
                      batch=batch, num_graphs=len(graphs), **optional)


@torch.no_grad()
def _encode(encoder: nn.Module, batch: GraphBatch, device: torch.device | str | None) -> Tensor:
    if device is not None:
        batch = batch.to(device)
    return encoder(batch).float().cpu()


def _in_eval_mode(encoder: nn.Module, work) -> Tensor:
    was_training = encoder.training
    encoder.eval()
    try:
        return work()
    finally:
        encoder.train(was_training)


@dataclass
class NodeDataset(ArrayDataset):
    """The nodes `x` (int64 indices into `graph`) of one graph as samples, with labels `y`.
    `texts` are the node texts of a text-attributed graph (indexed like the graph's nodes)."""

    graph: GraphBatch | None = None
    num_hops: int = 2
    texts: list[str] | None = None
    variable_length: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.graph is None:
            raise ValueError("a NodeDataset needs its graph")
        if self.graph.node_ids is None:
            self.graph = replace(self.graph, node_ids=torch.arange(self.graph.num_nodes))

    def batch_x(self, indices: Tensor) -> GraphBatch:
        nodes = self.x[indices]
        if len(nodes) >= FULL_GRAPH_FRACTION * self.graph.num_nodes:
            return replace(self.graph, seeds=nodes)
        return self.neighbourhood(nodes)

    def neighbourhood(self, nodes: Tensor) -> GraphBatch:
        """The `num_hops`-hop subgraph around `nodes`, with them as seeds (PyG's
        `k_hop_subgraph`; edges point both ways, so the direction does not matter)."""
        from torch_geometric.utils import k_hop_subgraph

        subset, edge_index, mapping, edge_mask = k_hop_subgraph(
            nodes, self.num_hops, self.graph.edge_index, relabel_nodes=True,
            num_nodes=self.graph.num_nodes)
        optional = {name: getattr(self.graph, name)[subset] for name in NODE_FIELDS[2:]
                    if getattr(self.graph, name) is not None}
        optional.update({name: getattr(self.graph, name)[edge_mask] for name in EDGE_FIELDS
                         if getattr(self.graph, name) is not None})
        return single_graph(self.graph.x[subset], edge_index, seeds=mapping, **optional)

    def embed_with(self, encoder: nn.Module, *, batch_size: int = 512,
                   device: torch.device | str | None = None) -> Tensor:
        """(N, D) embeddings of this dataset's nodes from one pass over the whole graph
        (`batch_size` is not needed: message passing is over the full graph)."""
        whole = replace(self.graph, seeds=self.x)
        return _in_eval_mode(encoder, lambda: _encode(encoder, whole, device))

    @property
    def num_features(self) -> int:
        return int(self.graph.x.shape[1])


@dataclass
class GraphDataset(ArrayDataset):
    """Graphs as samples: `x` holds indices into `graphs` (single-graph GraphBatches)."""

    graphs: list[GraphBatch] | None = None
    variable_length: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.graphs:
            raise ValueError("a GraphDataset needs at least one graph")

    def batch_x(self, indices: Tensor) -> GraphBatch:
        return collate_graphs([self.graphs[int(index)] for index in self.x[indices]])

    def embed_with(self, encoder: nn.Module, *, batch_size: int = 512,
                   device: torch.device | str | None = None) -> Tensor:
        """(N, D) embeddings of the graphs, `batch_size` graphs per forward pass."""
        def work() -> Tensor:
            positions = torch.arange(len(self.x))
            parts = [_encode(encoder, self.batch_x(chunk), device)
                     for chunk in positions.split(batch_size)]
            return torch.cat(parts)

        return _in_eval_mode(encoder, work)

    @property
    def num_features(self) -> int:
        return int(self.graphs[0].x.shape[1])
