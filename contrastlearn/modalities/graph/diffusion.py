"""Structural views that replace a graph's edges by a weighted, sparsified matrix made from
its adjacency: MVGRL's personalised-PageRank and heat diffusion (Hassani & Khasahmadi 2020,
arXiv 2006.05582) and LightGCL's truncated-SVD reconstruction (Cai et al. 2023, arXiv
2302.08191).

Each matrix is computed per graph, from the symmetrically normalised adjacency
T = D^-1/2 A D^-1/2 (A binary; with self-loops for the diffusions, as MVGRL adds them), so
it is symmetric and the new edges stay undirected:

- PPR: S = alpha (I - (1 - alpha) T)^-1 (MVGRL: alpha = 0.2).
- heat: S = exp(t (T - I)) (MVGRL: t = 5; MVGRL uses A D^-1, whose spectrum is the same).
- SVD: the rank-q reconstruction U_q Sigma_q V_q^T of T without self-loops (LightGCL: q = 5).

Each node keeps its `top_k` largest entries of at least `eps` (GDC's sparsification,
Gasteiger et al. 2019, arXiv 1911.05485); a pair kept by either end becomes an undirected
edge whose `edge_weight` is the matrix entry. Graphs up to `dense_limit` nodes are solved
exactly and densely, many at once (padded to one size); a larger graph is diffused by sparse
power/Taylor iterations over column chunks, and its low-rank factors come from
`torch.svd_lowrank` of the sparse matrix, so big graphs never hold an N x N matrix.

`strength` s blends: the view's edges are the original ones with weight (1 - s) plus the
matrix's with weight s (s = 1: the matrix alone; s = 0: the batch itself). The result is cached
per graph structure (`StructureCache`), so full-batch node-level training computes it once.
The new edges have no `edge_attr` (bond features mean nothing on a diffusion edge).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from contrastlearn.augment.base import Augmentation, Identity
from contrastlearn.augment.views import Views
from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.graph.augment import (
    StructureCache,
    block_structure,
    check_rate,
    check_strength,
    graph_blocks,
    graph_starts,
    structure_key,
)
from contrastlearn.modalities.graph.batch import GraphBatch, check_graph_batch

CHUNK_ELEMENTS = 2 ** 24
"""Most entries of one column chunk of a sparse diffusion."""
TOLERANCE = 1e-6
"""Truncation error of the sparse PPR and heat series."""
OVERSAMPLING = 10
"""Extra random directions of the randomised SVD (Halko et al. 2011), truncated afterwards."""
STRUCTURE_VIEWS = StructureCache(size=8)
"""Diffusion / low-rank edges of recently seen graphs, by view settings and structure."""


def _work_dtype(batch: GraphBatch) -> torch.dtype:
    return torch.float64 if batch.x.dtype == torch.float64 else torch.float32


def normalise_dense(adjacency: Tensor, valid: Tensor, self_loops: bool) -> Tensor:
    """(G, m, m) D^-1/2 A D^-1/2 of padded adjacencies (`valid` (G, m) marks real nodes)."""
    if self_loops:
        adjacency = torch.maximum(adjacency, torch.diag_embed(valid.to(adjacency.dtype)))
    degree = adjacency.sum(-1)
    scale = torch.where(degree > 0, degree.clamp(min=1e-12).rsqrt(), 0.0)
    return scale[:, :, None] * adjacency * scale[:, None, :]


def dense_blocks(batch: GraphBatch, self_loops: bool
                 ) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """Blocks of consecutive graphs as (first node of each graph (G,), normalised padded
    adjacency (G, m, m), real-node mask (G, m))."""
    from torch_geometric.utils import to_dense_adj

    sizes, starts = batch.graph_sizes(), graph_starts(batch)
    size = max(1, int(sizes.max()))
    for first, last in graph_blocks(batch, size * size):
        edge_index, graph, _ = block_structure(batch, first, last)
        adjacency = to_dense_adj(edge_index, graph, max_num_nodes=size, batch_size=last - first)
        adjacency = adjacency.to(_work_dtype(batch)).clamp(max=1)
        valid = torch.arange(size, device=batch.device)[None, :] < sizes[first:last, None]
        yield starts[first:last], normalise_dense(adjacency, valid, self_loops), valid


def sparse_normalised(batch: GraphBatch, self_loops: bool) -> Tensor:
    """The whole batch's D^-1/2 A D^-1/2 as a sparse (N, N) tensor (block diagonal)."""
    from torch_geometric.utils import coalesce

    num_nodes, edge_index = batch.num_nodes, batch.edge_index
    if self_loops:
        loops = torch.arange(num_nodes, device=batch.device)
        edge_index = torch.cat([edge_index, torch.stack([loops, loops])], dim=1)
    edge_index = coalesce(edge_index, num_nodes=num_nodes)
    degree = torch.bincount(edge_index[0], minlength=num_nodes).to(_work_dtype(batch))
    scale = degree.clamp(min=1).rsqrt()
    values = scale[edge_index[0]] * scale[edge_index[1]]
    return torch.sparse_coo_tensor(edge_index, values, (num_nodes, num_nodes),
                                   is_coalesced=True, check_invariants=False)


def dense_entries(matrix: Tensor, valid: Tensor, starts: Tensor, top_k: int | None,
                  eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """(rows, columns, values) in batch numbering of each real row's `top_k` largest entries
    of at least `eps` among the real columns of (G, m, m) per-graph matrices."""
    size = matrix.shape[-1]
    scores = matrix.masked_fill(~valid[:, None, :], -math.inf)
    values, columns = scores.topk(size if top_k is None else min(top_k, size), dim=-1)
    graph, row, slot = torch.nonzero(valid[:, :, None] & (values >= eps), as_tuple=True)
    return (starts[graph] + row, starts[graph] + columns[graph, row, slot],
            values[graph, row, slot])


def chunk_entries(scores: Tensor, columns: Tensor, batch: GraphBatch, top_k: int | None,
                  eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """(rows, columns, values) of each column's `top_k` largest entries of at least `eps` in
    (N, c) `scores` of the batch's `columns`, among nodes of the column's own graph."""
    other_graph = batch.batch[:, None] != batch.batch[columns][None, :]
    scores = scores.masked_fill(other_graph, -math.inf)
    values, rows = scores.topk(scores.shape[0] if top_k is None else
                               min(top_k, scores.shape[0]), dim=0)
    slot, column = torch.nonzero(values >= eps, as_tuple=True)
    return rows[slot, column], columns[column], values[slot, column]


def symmetric_edges(rows: Tensor, columns: Tensor, values: Tensor,
                    num_nodes: int) -> tuple[Tensor, Tensor]:
    """Undirected edges of the pairs any end kept, each with the mean of its kept entries."""
    from torch_geometric.utils import coalesce

    edge_index = torch.stack([torch.cat([rows, columns]), torch.cat([columns, rows])])
    return coalesce(edge_index, torch.cat([values, values]), num_nodes=num_nodes,
                    reduce="mean")


def blend(batch: GraphBatch, edge_index: Tensor, edge_weight: Tensor,
          strength: float) -> GraphBatch:
    """The batch with edges (1 - strength) x its own plus strength x the new weighted ones."""
    if strength >= 1:
        return batch.with_edges(edge_index, edge_weight=edge_weight)
    from torch_geometric.utils import coalesce

    own = (batch.edge_weight if batch.edge_weight is not None
           else torch.ones(batch.num_edges, device=batch.device))
    joined = torch.cat([batch.edge_index, edge_index], dim=1)
    weights = torch.cat([(1 - strength) * own.to(edge_weight.dtype), strength * edge_weight])
    joined, weights = coalesce(joined, weights, num_nodes=batch.num_nodes, reduce="sum")
    return batch.with_edges(joined, edge_weight=weights)


class StructuralView(Augmentation):
    """Shared frame of the matrix views: validation, caching, dense or chunked computation
    and the strength blend. Subclasses give `dense_matrix` and `chunk_entries`."""

    owner = "structural view"
    self_loops = True

    def __init__(self, strength: float, top_k: int | None, eps: float,
                 dense_limit: int) -> None:
        self.strength = check_rate(strength, "strength", self.owner)
        if top_k is not None and int(top_k) < 1:
            raise ValueError(f"{self.owner} top_k must be >= 1 or None (keep all), got {top_k}")
        if not eps >= 0:
            raise ValueError(f"{self.owner} eps must be >= 0, got {eps}")
        if int(dense_limit) < 0:
            raise ValueError(f"{self.owner} dense_limit must be >= 0, got {dense_limit}")
        self.top_k = None if top_k is None else int(top_k)
        self.eps, self.dense_limit = float(eps), int(dense_limit)

    def settings(self) -> tuple:
        """Everything besides the structure that the edges depend on (the cache key)."""
        return tuple(value for key, value in sorted(vars(self).items()) if key != "strength")

    def apply(self, batch: GraphBatch, generator: torch.Generator) -> GraphBatch:
        batch = check_graph_batch(batch, self.owner)
        if self.strength == 0 or batch.num_nodes == 0:
            return batch
        key = (type(self).__name__, self.settings(), str(batch.device), str(_work_dtype(batch)),
               structure_key(batch.edge_index, batch.batch))
        edge_index, edge_weight = STRUCTURE_VIEWS.get(key, lambda: self.edges(batch))
        return blend(batch, edge_index, edge_weight, self.strength)

    def edges(self, batch: GraphBatch) -> tuple[Tensor, Tensor]:
        """The sparsified matrix of every graph of the batch as undirected weighted edges."""
        if int(batch.graph_sizes().max()) <= self.dense_limit:
            parts = [dense_entries(self.dense_matrix(adjacency, valid), valid, starts,
                                   self.top_k, self.eps)
                     for starts, adjacency, valid in dense_blocks(batch, self.self_loops)]
        else:
            parts = list(self.sparse_entries(batch))
        rows, columns, values = (torch.cat(items) for items in zip(*parts))
        return symmetric_edges(rows, columns, values, batch.num_nodes)

    def dense_matrix(self, normalised: Tensor, valid: Tensor) -> Tensor:
        """(G, m, m) the view's matrix of each graph from its normalised adjacency."""
        raise NotImplementedError

    def sparse_entries(self, batch: GraphBatch) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """(rows, columns, values) of the kept entries, chunk by chunk, for big graphs."""
        raise NotImplementedError


class Diffusion(StructuralView):
    """A diffusion S = sum_k theta_k T^k: dense closed form per graph, or its truncated
    series on column chunks of big graphs."""

    def sparse_entries(self, batch: GraphBatch) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        operator = sparse_normalised(batch, self.self_loops)
        num_nodes = batch.num_nodes
        width = max(1, CHUNK_ELEMENTS // num_nodes)
        for first in range(0, num_nodes, width):
            columns = torch.arange(first, min(first + width, num_nodes), device=batch.device)
            basis = torch.zeros((num_nodes, len(columns)), dtype=operator.dtype,
                                device=batch.device)
            basis[columns, torch.arange(len(columns), device=batch.device)] = 1.0
            yield chunk_entries(self.series(operator, basis), columns, batch, self.top_k,
                                self.eps)

    def series(self, operator: Tensor, basis: Tensor) -> Tensor:
        """S applied to the (N, c) `basis` columns by a truncated series in `operator`."""
        raise NotImplementedError


@AUGMENTATIONS.register("ppr_diffusion")
class PPRDiffusion(Diffusion):
    """MVGRL's personalised-PageRank view (Hassani & Khasahmadi 2020, arXiv 2006.05582):
    edges S = alpha (I - (1 - alpha) T)^-1, each node's `top_k` entries >= `eps`, blended with
    the graph's own edges by `strength`. See the module docstring."""

    owner = "ppr_diffusion"

    def __init__(self, alpha: float = 0.2, strength: float = 1.0, top_k: int | None = 64,
                 eps: float = 1e-4, dense_limit: int = 4096) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"ppr_diffusion alpha (teleport probability) must be in (0, 1], "
                             f"got {alpha}")
        self.alpha = float(alpha)
        super().__init__(strength, top_k, eps, dense_limit)

    def dense_matrix(self, normalised: Tensor, valid: Tensor) -> Tensor:
        identity = torch.eye(normalised.shape[-1], dtype=normalised.dtype,
                             device=normalised.device).expand_as(normalised)
        return self.alpha * torch.linalg.solve(identity - (1 - self.alpha) * normalised,
                                               identity)

    def series(self, operator: Tensor, basis: Tensor) -> Tensor:
        steps = 1 if self.alpha == 1 else math.ceil(math.log(TOLERANCE)
                                                    / math.log(1 - self.alpha))
        result = self.alpha * basis
        for _ in range(steps):  # S = alpha sum_k ((1 - alpha) T)^k, as a fixed point
            result = self.alpha * basis + (1 - self.alpha) * torch.sparse.mm(operator, result)
        return result


@AUGMENTATIONS.register("heat_diffusion")
class HeatDiffusion(Diffusion):
    """MVGRL's heat-kernel view (Hassani & Khasahmadi 2020, arXiv 2006.05582): edges
    S = exp(t (T - I)), each node's `top_k` entries >= `eps`, blended by `strength`."""

    owner = "heat_diffusion"

    def __init__(self, t: float = 5.0, strength: float = 1.0, top_k: int | None = 64,
                 eps: float = 1e-4, dense_limit: int = 4096) -> None:
        if not t > 0:
            raise ValueError(f"heat_diffusion t (diffusion time) must be > 0, got {t}")
        self.t = float(t)
        super().__init__(strength, top_k, eps, dense_limit)

    def dense_matrix(self, normalised: Tensor, valid: Tensor) -> Tensor:
        identity = torch.eye(normalised.shape[-1], dtype=normalised.dtype,
                             device=normalised.device)
        return torch.linalg.matrix_exp(self.t * (normalised - identity))

    def series(self, operator: Tensor, basis: Tensor) -> Tensor:
        term = math.exp(-self.t) * basis  # e^-t t^k / k! T^k, k = 0, 1, ...
        result, mass, order = term.clone(), math.exp(-self.t), 0
        while 1 - mass > TOLERANCE:
            order += 1
            term = (self.t / order) * torch.sparse.mm(operator, term)
            mass += math.exp(-self.t + order * math.log(self.t) - math.lgamma(order + 1))
            result = result + term
        return result


@AUGMENTATIONS.register("svd_low_rank")
class SVDLowRank(StructuralView):
    """LightGCL's view (Cai et al. 2023, arXiv 2302.08191): the rank-`rank` truncated SVD
    reconstruction of the normalised adjacency as weighted edges, each node's `top_k`
    entries >= `eps`, blended by `strength`. Graphs up to `dense_limit` nodes use an exact
    batched SVD per graph; a batch with a larger graph uses `torch.svd_lowrank` (`niter`
    power iterations, `rank` + 10 random directions) of its whole sparse adjacency, so its
    graphs share the `rank` components (a node-level batch is one graph). That function
    draws from torch's global generator, so it runs under a forked generator seeded with
    `seed`: the view is a deterministic function of the graph (as LightGCL's, computed once)
    and global randomness is untouched."""

    owner = "svd_low_rank"
    self_loops = False

    def __init__(self, rank: int = 5, strength: float = 1.0, top_k: int | None = 32,
                 eps: float = 1e-4, dense_limit: int = 512, niter: int = 2,
                 seed: int = 0) -> None:
        if int(rank) < 1 or int(niter) < 0:
            raise ValueError(f"svd_low_rank needs rank >= 1 and niter >= 0; got {rank}, "
                             f"{niter}")
        self.rank, self.niter, self.seed = int(rank), int(niter), int(seed)
        super().__init__(strength, top_k, eps, dense_limit)

    def dense_matrix(self, normalised: Tensor, valid: Tensor) -> Tensor:
        left, singular, right = torch.linalg.svd(normalised)
        rank = min(self.rank, normalised.shape[-1])
        made = (left[..., :rank] * singular[..., None, :rank]) @ right[..., :rank, :]
        return (made + made.transpose(-1, -2)) / 2

    def sparse_entries(self, batch: GraphBatch) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        operator = sparse_normalised(batch, self_loops=False)
        device = batch.device
        cuda = list(range(torch.cuda.device_count())) if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(self.seed)
            left, singular, right = torch.svd_lowrank(
                operator, q=min(self.rank + OVERSAMPLING, batch.num_nodes), niter=self.niter)
        rank = min(self.rank, batch.num_nodes)
        weighted_left = left[:, :rank] * singular[None, :rank]
        right = right[:, :rank]
        num_nodes = batch.num_nodes
        width = max(1, CHUNK_ELEMENTS // num_nodes)
        for first in range(0, num_nodes, width):
            rows = torch.arange(first, min(first + width, num_nodes), device=device)
            # columns of the reconstruction's transpose = its rows (symmetric up to rounding)
            scores = (weighted_left[rows] @ right.T).T
            yield chunk_entries(scores, rows, batch, self.top_k, self.eps)


@AUGMENTATIONS.register("mvgrl_views")
def mvgrl_views(alpha: float = 0.2, diffusion: str = "ppr", t: float = 5.0,
                top_k: int | None = 64, eps: float = 1e-4, strength: float = 1.0) -> Views:
    """MVGRL's two views (Hassani & Khasahmadi 2020, arXiv 2006.05582): the graph itself and
    its diffusion (`diffusion` "ppr" with `alpha`, or "heat" with `t`), blended with the
    graph by min(1, `strength`)."""
    strength = min(1.0, check_strength(strength, "mvgrl_views"))
    if diffusion == "ppr":
        second: Augmentation = PPRDiffusion(alpha, strength=strength, top_k=top_k, eps=eps)
    elif diffusion == "heat":
        second = HeatDiffusion(t, strength=strength, top_k=top_k, eps=eps)
    else:
        raise ValueError(f"mvgrl_views diffusion must be 'ppr' or 'heat', got {diffusion!r}")
    return Views([Identity(), second])
