"""Recommendation encoders. Every one maps a `RecBatch` to (B, D) user representations
(`forward`) and gives (num_items, D) item representations (`item_representations`); a user's
score for an item is the dot product of the two, which is what full-sort evaluation ranks.

- `lightgcn`: LightGCN (He et al. 2020, arXiv 2002.02126): user and item embeddings smoothed
  over the normalised user-item graph, `layers` propagations without weights or
  non-linearities, the final embedding the mean of every layer's (layer 0 included). The
  training graph is stored in the encoder (buffers), so an exported encoder scores users on
  its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.recsys.batch import RecBatch
from contrastlearn.modalities.recsys.graph_ops import (
    as_csr,
    normalized_adjacency,
    symmetric_product,
)
from contrastlearn.modalities.recsys.interactions import Interactions

LayerHook = Callable[[int, Tensor], Tensor]
"""`(layer, embeddings) -> embeddings`: applied to each propagated layer's output (SimGCL's
noise)."""


@ENCODERS.register("lightgcn")
class LightGCN(nn.Module):
    """LightGCN over the training graph (see the module docstring). `num_users`,
    `num_items` and `num_edges` come from the data; `dim` is the embedding size."""

    def __init__(self, num_users: int, num_items: int, num_edges: int = 0, dim: int = 64,
                 layers: int = 2) -> None:
        super().__init__()
        if layers < 0 or dim < 1:
            raise ValueError(f"lightgcn needs layers >= 0 and dim >= 1; got {layers}, {dim}")
        self.num_users, self.num_items, self.layers, self.out_dim = (
            num_users, num_items, layers, dim)
        self.user_embedding = nn.Embedding(num_users, dim)
        self.item_embedding = nn.Embedding(num_items, dim)
        nn.init.xavier_uniform_(self.user_embedding.weight)
        nn.init.xavier_uniform_(self.item_embedding.weight)
        self.register_buffer("edge_users", torch.zeros(num_edges, dtype=torch.long))
        self.register_buffer("edge_items", torch.zeros(num_edges, dtype=torch.long))
        self._adjacency: tuple[tuple, Tensor] | None = None

    def set_graph(self, graph: Interactions) -> None:
        """Store `graph` (the training interactions) as the graph to propagate over."""
        if (graph.num_users, graph.num_items) != (self.num_users, self.num_items):
            raise ValueError(f"the graph has {graph.num_users} users and {graph.num_items} "
                             f"items; this lightgcn was built for {self.num_users} and "
                             f"{self.num_items}")
        device = self.edge_users.device
        self.edge_users = graph.users.to(device).clone()
        self.edge_items = graph.items.to(device).clone()
        self._adjacency = None

    @property
    def graph(self) -> Interactions:
        return Interactions(self.edge_users, self.edge_items, self.num_users, self.num_items)

    def adjacency(self) -> Tensor:
        """The normalised adjacency of the stored graph, in CSR layout (built once per graph
        and device)."""
        key = (self.edge_users._version, self.edge_users.data_ptr(), len(self.edge_users),
               self.edge_users.device)
        if self._adjacency is None or self._adjacency[0] != key:
            self._adjacency = (key, as_csr(normalized_adjacency(self.graph,
                                                                self.edge_users.device)))
        return self._adjacency[1]

    def layer_outputs(self, adjacency: Tensor | Sequence[Tensor] | None = None,
                      hook: LayerHook | None = None) -> list[Tensor]:
        """[E_0, E_1, ..., E_layers], each (U + I, D): the embeddings and each propagation.
        `adjacency` replaces the stored graph's (one matrix, or one per layer: SGL's random
        walk); it must be symmetric, as every normalised bipartite adjacency is
        (`normalized_adjacency`: the backward reuses it untransposed). `hook(layer, E_l)` edits
        each propagated layer (l >= 1)."""
        if adjacency is None:
            adjacency = self.adjacency()
        per_layer = ([as_csr(matrix) for matrix in adjacency]
                     if isinstance(adjacency, Sequence) else [as_csr(adjacency)] * self.layers)
        current = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        outputs = [current]
        for layer in range(self.layers):
            current = symmetric_product(per_layer[layer], current)
            if hook is not None:
                current = hook(layer + 1, current)
            outputs.append(current)
        return outputs

    def split(self, nodes: Tensor) -> tuple[Tensor, Tensor]:
        """(users (U, D), items (I, D)) of a (U + I, D) node matrix."""
        return nodes[:self.num_users], nodes[self.num_users:]

    def propagate(self, adjacency: Tensor | Sequence[Tensor] | None = None,
                  hook: LayerHook | None = None) -> tuple[Tensor, Tensor]:
        """(users (U, D), items (I, D)): the mean over `layer_outputs`."""
        return self.split(torch.stack(self.layer_outputs(adjacency, hook)).mean(dim=0))

    def forward(self, batch: RecBatch) -> Tensor:
        users, _ = self.propagate()
        return users[batch.users]

    def user_representations(self, users: Tensor, sequences: Tensor | None = None) -> Tensor:
        """(U, D) the propagated embeddings of `users` (the graph carries their history)."""
        return self.propagate()[0][users]

    def item_representations(self) -> Tensor:
        return self.propagate()[1]
