"""Graph batches: the one representation every graph view, encoder and method shares.

A `GraphBatch` is a set of tensors, not a PyG object, so views edit it with plain tensor ops
and PyG's functional utilities (`dropout_edge`, `subgraph`, ...), and the engine can slice it
into micro-batches and move it to a device like any tensor:

- `x` (num_nodes, num_features) float node features; `edge_index` (2, num_edges) int64, both
  directions of an undirected edge present; `batch` (num_nodes,) the graph of each node
  (sorted; all zeros for one graph); `num_graphs`.
- **Node level** (one big graph; the samples are nodes): `seeds` (B,) are the node indices
  whose embeddings are the batch's samples, in batch order. Views never drop a seed.
- **Graph level** (many small graphs; the samples are graphs): `seeds` is None and the
  samples are the `num_graphs` graphs, in order.
- Optional, aligned with nodes: `node_ids` (the node's index in the source graph: text views
  and caches look nodes up by it), `atoms` (atomic numbers of molecules, for knowledge views),
  `feature_variants` (num_nodes, K, num_features): K re-encoded rewrites of each node's text
  (text-attributed graphs, for text-attribute views);
  aligned with edges: `edge_weight` (diffusion views), `edge_attr` (bond features).

`keep_nodes` and `with_edges` are the two edits views make; both keep every aligned field
consistent.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

NODE_FIELDS = ("x", "batch", "node_ids", "atoms", "feature_variants")
EDGE_FIELDS = ("edge_weight", "edge_attr")


@dataclass(frozen=True, eq=False)
class GraphBatch:
    """Graphs as tensors; see the module docstring for the fields and the two levels."""

    x: Tensor
    edge_index: Tensor
    batch: Tensor
    num_graphs: int
    seeds: Tensor | None = None
    edge_weight: Tensor | None = None
    edge_attr: Tensor | None = None
    node_ids: Tensor | None = None
    atoms: Tensor | None = None
    feature_variants: Tensor | None = None

    def __post_init__(self) -> None:
        if self.edge_index.dim() != 2 or self.edge_index.shape[0] != 2:
            raise ValueError(f"GraphBatch edge_index must have shape (2, num_edges); got "
                             f"{tuple(self.edge_index.shape)}")
        if self.batch.shape != (self.x.shape[0],):
            raise ValueError(f"GraphBatch batch must give one graph per node ({self.x.shape[0]} "
                             f"nodes); got shape {tuple(self.batch.shape)}")

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    @property
    def node_level(self) -> bool:
        return self.seeds is not None

    @property
    def device(self) -> torch.device:
        return self.x.device

    @property
    def shape(self) -> tuple[int, ...]:
        """(samples, nodes, edges, features): batches of equal shape may be encoded together."""
        return (len(self), self.num_nodes, self.num_edges, int(self.x.shape[1]))

    def __len__(self) -> int:
        return len(self.seeds) if self.seeds is not None else self.num_graphs

    def to(self, device: torch.device | str, non_blocking: bool = False) -> GraphBatch:
        moved = {item.name: getattr(self, item.name) for item in fields(self)}
        for name, value in moved.items():
            if isinstance(value, Tensor):
                moved[name] = value.to(device, non_blocking=non_blocking)
        return GraphBatch(**moved)

    def __getitem__(self, index: slice) -> GraphBatch:
        """Samples `index` (a slice): the engine's micro-batches. Node level keeps the graph
        and narrows the seeds; graph level keeps the chosen graphs."""
        if not isinstance(index, slice):
            raise TypeError(f"a GraphBatch is sliced by a slice of samples; got {index!r}")
        chosen = torch.arange(len(self))[index]
        if len(chosen) == len(self):
            return self
        if self.seeds is not None:
            return replace(self, seeds=self.seeds[chosen.to(self.seeds.device)])
        return self.select_graphs(chosen.to(self.device))

    def select_graphs(self, graphs: Tensor) -> GraphBatch:
        """The graphs `graphs` (indices, in this order of graph number) as a new batch."""
        keep = torch.isin(self.batch, graphs)
        kept = self.keep_nodes(keep)
        renumber = torch.full((self.num_graphs,), -1, dtype=torch.long, device=self.device)
        renumber[graphs.sort().values] = torch.arange(len(graphs), device=self.device)
        return replace(kept, batch=renumber[kept.batch], num_graphs=len(graphs))

    def keep_nodes(self, keep: Tensor) -> GraphBatch:
        """The batch restricted to the nodes where `keep` (num_nodes,) bool is True: edges
        between kept nodes survive, nodes are renumbered, seeds follow their nodes. A seed
        must be kept (node-level views never drop one)."""
        keep = keep.to(torch.bool)
        new_index = torch.cumsum(keep.long(), 0) - 1
        source, target = self.edge_index
        edge_kept = keep[source] & keep[target]
        changes: dict = {"edge_index": new_index[self.edge_index[:, edge_kept]]}
        for name in NODE_FIELDS:
            value = getattr(self, name)
            if value is not None:
                changes[name] = value[keep]
        for name in EDGE_FIELDS:
            value = getattr(self, name)
            if value is not None:
                changes[name] = value[edge_kept]
        if self.seeds is not None:
            if not bool(keep[self.seeds].all()):
                raise ValueError("keep_nodes would drop a seed node; node-level views must keep "
                                 "every seed")
            changes["seeds"] = new_index[self.seeds]
        return replace(self, **changes)

    def with_edges(self, edge_index: Tensor, edge_weight: Tensor | None = None,
                   edge_attr: Tensor | None = None) -> GraphBatch:
        """The same nodes with new edges (and their weights / attributes, or none)."""
        return replace(self, edge_index=edge_index, edge_weight=edge_weight, edge_attr=edge_attr)

    def with_features(self, x: Tensor) -> GraphBatch:
        """The same graph with new node features (same number of nodes)."""
        if x.shape[0] != self.num_nodes:
            raise ValueError(f"new features must keep the {self.num_nodes} nodes; got "
                             f"{x.shape[0]}")
        return replace(self, x=x)

    def graph_sizes(self) -> Tensor:
        """(num_graphs,) number of nodes of each graph."""
        return torch.bincount(self.batch, minlength=self.num_graphs)


def check_graph_batch(x: object, owner: str) -> GraphBatch:
    """`x` as a GraphBatch, or a clear error naming `owner` (a view or an encoder)."""
    if not isinstance(x, GraphBatch):
        raise ValueError(f"{owner} expects a GraphBatch (graph data: data.modality=graph); "
                         f"got {type(x).__name__}")
    return x
