"""DCCF's encoder: LightGCN plus global intent prototypes and adaptive graphs (Ren et al.
2023, "Disentangled Contrastive Collaborative Filtering", SIGIR 2023, arXiv 2305.02759).

Each layer l reads the previous layer's node matrix E_{l-1} and builds four parts:

- Z_l: E_{l-1} propagated over the normalised user-item graph (LightGCN's step);
- R_l: intent-aware representations, softmax(E_{l-1} C) C^T with the (D, K) prototypes C of
  users for user rows and of items for item rows;
- H^beta_l, H^gamma_l: E_{l-1} propagated over two learned graphs, the same edges re-weighted
  by the parameterised interaction mask generator from the cosine similarity of each edge's
  endpoints in Z_l (local view) and in R_l (intent view);

and E_l = Z_l + R_l + H^beta_l + H^gamma_l + E_{l-1}. The final representation, the one that is
ranked, is the sum of E_0..E_L (as the official code HKUDS/DCCF does). Since it depends on the
prototypes and on the learned graphs, a plain LightGCN cannot reproduce it: this encoder holds
the prototypes so that an exported encoder ranks as DCCF trained it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.recsys.encoders import LayerHook, LightGCN
from contrastlearn.modalities.recsys.graph_ops import as_csr, symmetric_product


def intent_aware(nodes: Tensor, prototypes: Tensor) -> Tensor:
    """(N, D) each row's mixture of the (D, K) intent `prototypes`, weighted by the softmax
    over intents of its affinities to them (DCCF's intent-aware aggregation)."""
    return torch.softmax(nodes @ prototypes, dim=1) @ prototypes.T


def adaptive_edge_weights(nodes: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """(E,) the mask generator's weights of the directed edges rows -> cols: the endpoints'
    cosine similarity in `nodes` (N, D) mapped to [0, 1] by (cos + 1) / 2, divided by the sum
    of those of the edges leaving the same row (row normalisation D^-1 A, as the official
    code does). Rows whose edges all weigh 0 keep weights 0."""
    unit = F.normalize(nodes, dim=1)
    strength = ((unit[rows] * unit[cols]).sum(dim=1) + 1.0) / 2.0
    degree = torch.zeros(nodes.shape[0], dtype=strength.dtype, device=strength.device)
    degree = degree.index_add(0, rows, strength)
    return strength / torch.where(degree > 0, degree, torch.ones_like(degree))[rows]


class _EdgePropagation(torch.autograd.Function):
    """`sparse(edges, weights) @ nodes` with torch.sparse, differentiable in the weights by a
    per-edge gather: torch.sparse.mm's own backward for the values of a COO matrix forms the
    dense (N, N) product first, which does not fit in memory at real graph sizes."""

    @staticmethod
    def forward(ctx, edges: Tensor, weights: Tensor, nodes: Tensor) -> Tensor:
        size = (nodes.shape[0], nodes.shape[0])
        matrix = torch.sparse_coo_tensor(edges, weights, size, is_coalesced=True,
                                         check_invariants=False)
        ctx.save_for_backward(edges, weights, nodes)
        return torch.sparse.mm(matrix, nodes)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor | None, Tensor | None]:
        edges, weights, nodes = ctx.saved_tensors
        grad_weights = grad_nodes = None
        if ctx.needs_input_grad[1]:
            grad_weights = (grad[edges[0]] * nodes[edges[1]]).sum(dim=1)
        if ctx.needs_input_grad[2]:
            size = (grad.shape[0], grad.shape[0])
            transposed = torch.sparse_coo_tensor(edges.flip(0), weights, size,
                                                 check_invariants=False).coalesce()
            grad_nodes = torch.sparse.mm(transposed, grad)
        return None, grad_weights, grad_nodes


def edge_list(adjacency: Tensor) -> Tensor:
    """(2, nnz) row and column of every stored entry of a sparse COO or CSR matrix, sorted
    by row then column."""
    if adjacency.layout == torch.sparse_csr:
        rows = torch.repeat_interleave(
            torch.arange(adjacency.shape[0], device=adjacency.device),
            adjacency.crow_indices().diff())
        return torch.stack([rows, adjacency.col_indices()])
    return adjacency.coalesce().indices()


def adaptive_propagation(similarity_nodes: Tensor, adjacency: Tensor, nodes: Tensor) -> Tensor:
    """(N, D) `nodes` propagated over the learned graph: the edges of `adjacency` (sparse
    COO or CSR, (N, N)) weighted by `adaptive_edge_weights(similarity_nodes, ...)`;
    differentiable in `similarity_nodes` and `nodes`."""
    edges = edge_list(adjacency)
    weights = adaptive_edge_weights(similarity_nodes, edges[0], edges[1])
    return _EdgePropagation.apply(edges, weights.to(nodes.dtype), nodes)


@dataclass
class DCCFPropagation:
    """One DCCF propagation: `outputs` [E_0..E_L] and, for layers 1..L, the parts each sums:
    `propagated` (Z), `intents` (R), `graph_augmented` (H^beta), `intent_augmented`
    (H^gamma); every tensor (U + I, D)."""

    outputs: list[Tensor]
    propagated: list[Tensor]
    intents: list[Tensor]
    graph_augmented: list[Tensor]
    intent_augmented: list[Tensor]

    def final(self) -> Tensor:
        """(U + I, D) the representation DCCF ranks with: the sum of every layer's output."""
        return torch.stack(self.outputs).sum(dim=0)


@ENCODERS.register("dccf")
class DCCFEncoder(LightGCN):
    """DCCF over the training graph (see the module docstring): LightGCN's embeddings, graph
    and constructor, plus `num_intents` intent prototypes for users and for items (official
    default 128); `propagate` gives DCCF's final user and item representations."""

    def __init__(self, num_users: int, num_items: int, num_edges: int = 0, dim: int = 64,
                 layers: int = 2, num_intents: int = 128) -> None:
        if num_intents < 1:
            raise ValueError(f"dccf needs num_intents >= 1 intent prototypes; got {num_intents}")
        super().__init__(num_users, num_items, num_edges, dim, layers)
        self.num_intents = num_intents
        self.user_intents = nn.Parameter(nn.init.xavier_normal_(torch.empty(dim, num_intents)))
        self.item_intents = nn.Parameter(nn.init.xavier_normal_(torch.empty(dim, num_intents)))

    def intent_representations(self, nodes: Tensor) -> Tensor:
        """(U + I, D) the intent-aware rows of a (U + I, D) node matrix: users mixed from the
        user prototypes, items from the item prototypes."""
        users, items = self.split(nodes)
        return torch.cat([intent_aware(users, self.user_intents),
                          intent_aware(items, self.item_intents)])

    def dccf_layers(self, adjacency: Tensor | Sequence[Tensor] | None = None,
                    hook: LayerHook | None = None) -> DCCFPropagation:
        """Every layer's parts and output. `adjacency` replaces the stored graph's normalised
        adjacency (one matrix, or one per layer); the learned graphs re-weight its edges.
        `hook(layer, E_l)` edits each layer's output (l >= 1)."""
        if adjacency is None:
            adjacency = self.adjacency()
        per_layer = ([as_csr(matrix) for matrix in adjacency]
                     if isinstance(adjacency, Sequence) else [as_csr(adjacency)] * self.layers)
        current = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        result = DCCFPropagation([current], [], [], [], [])
        for layer in range(self.layers):
            graph = per_layer[layer]
            propagated = symmetric_product(graph, current)
            intents = self.intent_representations(current)
            graph_augmented = adaptive_propagation(propagated, graph, current)
            intent_augmented = adaptive_propagation(intents, graph, current)
            current = propagated + intents + graph_augmented + intent_augmented + current
            if hook is not None:
                current = hook(layer + 1, current)
            result.outputs.append(current)
            result.propagated.append(propagated)
            result.intents.append(intents)
            result.graph_augmented.append(graph_augmented)
            result.intent_augmented.append(intent_augmented)
        return result

    def layer_outputs(self, adjacency: Tensor | Sequence[Tensor] | None = None,
                      hook: LayerHook | None = None) -> list[Tensor]:
        """[E_0, ..., E_layers], each (U + I, D): DCCF's layer outputs."""
        return self.dccf_layers(adjacency, hook).outputs

    def propagate(self, adjacency: Tensor | Sequence[Tensor] | None = None,
                  hook: LayerHook | None = None) -> tuple[Tensor, Tensor]:
        """(users (U, D), items (I, D)): DCCF's final representations, the sum of the layer
        outputs (not LightGCN's mean)."""
        return self.split(self.dccf_layers(adjacency, hook).final())
