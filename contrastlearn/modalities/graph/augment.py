"""Graph views: batched edits of a `GraphBatch` with random draws from the view's generator.

Every view takes the whole batch (one big graph at node level, many small graphs at graph
level), draws its randomness from the `torch.Generator` it is given (on the batch's device), is
the identity at rate / strength 0, and never loops over nodes or edges in Python. Undirected
edges stay undirected (both directions of a pair are dropped or added together), a seed node
of a node-level batch is never dropped, and aligned fields (`edge_attr`, `edge_weight`,
`node_ids`, `atoms`, `feature_variants`) follow their edges and nodes.

PyG's `dropout_edge` and `mask_feature` draw from torch's global generator, which would break
"same generator state, same views", so the sampling here is written with
`torch.rand(..., generator=generator)` instead. PyG is imported inside the functions that
need it, so importing the graph room stays cheap.

The views come from GRACE (Zhu et al. 2020, arXiv 2006.04131), GraphCL (You et al. 2020,
arXiv 2010.13902), BGRL (Thakoor et al. 2021, arXiv 2102.06514), DGI (Velickovic et al. 2019,
arXiv 1809.10341) and GAugLLM (Fang et al. 2024, arXiv 2406.11945); MVGRL's diffusion and
LightGCL's low-rank views are in `diffusion`, CSGCL's in `community`, KCL's in `knowledge`.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from contrastlearn.augment.base import Augmentation, Compose, Identity
from contrastlearn.augment.views import Views
from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.graph.batch import (
    EDGE_FIELDS,
    NODE_FIELDS,
    GraphBatch,
    check_graph_batch,
)


def check_rate(value: float, name: str, owner: str) -> float:
    """`value` as a float in [0, 1], or a one-line error naming the setting."""
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{owner} {name} must be in [0, 1], got {value}")
    return value


def check_strength(strength: float, owner: str) -> float:
    """A view policy's `strength` (>= 0) as a float."""
    strength = float(strength)
    if not strength >= 0.0:
        raise ValueError(f"{owner} strength must be >= 0, got {strength}")
    return strength


def graph_starts(batch: GraphBatch) -> Tensor:
    """(num_graphs,) index of each graph's first node (`batch.batch` is sorted)."""
    sizes = batch.graph_sizes()
    return torch.cumsum(sizes, 0) - sizes


DENSE_ELEMENTS = 2 ** 25
"""Most entries of one block of padded dense per-graph tensors."""


def graph_blocks(batch: GraphBatch, entries_per_graph: int) -> Iterator[tuple[int, int]]:
    """Ranges [first, last) of consecutive graphs, each range's padded dense tensors (of
    `entries_per_graph` entries per graph) holding at most DENSE_ELEMENTS entries."""
    per_block = max(1, DENSE_ELEMENTS // max(1, entries_per_graph))
    for first in range(0, batch.num_graphs, per_block):
        yield first, min(first + per_block, batch.num_graphs)


def block_structure(batch: GraphBatch, first: int, last: int) -> tuple[Tensor, Tensor, int]:
    """Graphs [first, last) of the batch as (edge_index, graph of each node), both numbered
    from the block's first node and graph, and that first node's index in the batch."""
    starts, sizes = graph_starts(batch), batch.graph_sizes()
    low, high = int(starts[first]), int(starts[last - 1] + sizes[last - 1])
    source = batch.edge_index[0]
    inside = (source >= low) & (source < high)
    return batch.edge_index[:, inside] - low, batch.batch[low:high] - first, low


def graph_sums(values: Tensor, graph: Tensor, num_graphs: int) -> Tensor:
    """(num_graphs, ...) sums of the rows of `values` by `graph`, added in a fixed order
    (`index_add_` on a GPU adds in any order, so a seeded view could change in the last bits
    from run to run and flip a random draw)."""
    from torch_geometric.utils import to_dense_batch

    order = torch.argsort(graph, stable=True)
    dense, _ = to_dense_batch(values[order], graph[order], batch_size=num_graphs)
    return dense.sum(1)


def seed_mask(batch: GraphBatch) -> Tensor:
    """(num_nodes,) True at the seed nodes of a node-level batch (all False at graph level)."""
    mask = torch.zeros(batch.num_nodes, dtype=torch.bool, device=batch.device)
    if batch.seeds is not None:
        mask[batch.seeds.to(batch.device)] = True
    return mask


def rank_in_graph(graph_of_node: Tensor, score: Tensor) -> Tensor:
    """(num_nodes,) position of each node among its graph's nodes sorted by `score` (ascending;
    ties keep node order). `graph_of_node` must be sorted, as `GraphBatch.batch` is."""
    order = torch.argsort(score, stable=True)
    order = order[torch.argsort(graph_of_node[order], stable=True)]
    sizes = torch.bincount(graph_of_node)
    starts = torch.cumsum(sizes, 0) - sizes
    rank = torch.empty_like(order)
    positions = torch.arange(len(order), device=order.device)
    rank[order] = positions - starts[graph_of_node[order]]
    return rank


def undirected_pairs(edge_index: Tensor, num_nodes: int) -> tuple[Tensor, int]:
    """(num_edges,) id of each edge's unordered node pair, and the number of pairs: both
    directions of an undirected edge share one id, so one draw per id keeps them together."""
    low = torch.minimum(edge_index[0], edge_index[1])
    high = torch.maximum(edge_index[0], edge_index[1])
    _, pair = torch.unique(low * num_nodes + high, return_inverse=True)
    count = int(pair.max()) + 1 if pair.numel() else 0
    return pair, count


def keep_edges(batch: GraphBatch, keep: Tensor) -> GraphBatch:
    """The batch with only the edges where `keep` (num_edges,) is True, their weights and
    attributes following them."""
    fields = {name: None if getattr(batch, name) is None else getattr(batch, name)[keep]
              for name in EDGE_FIELDS}
    return batch.with_edges(batch.edge_index[:, keep], **fields)


def structure_key(*tensors: Tensor) -> bytes:
    """A digest of the tensors' dtypes, shapes and values: the same graph structure gives the
    same key on any device, whichever tensor object carries it."""
    digest = hashlib.blake2b(digest_size=16)
    for tensor in tensors:
        digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.digest()


class StructureCache:
    """The most recently used results computed from a graph's structure (diffusion matrices,
    communities), so node-level full-batch training, which sees the same graph every step,
    computes them once. Cached results are deterministic functions of the structure: they
    never draw from a view's generator, so a hit and a miss leave the generator alike."""

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self.hits = 0
        self._entries: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        """The result stored under `key`, made by `make()` the first time."""
        if key in self._entries:
            self._entries.move_to_end(key)
            self.hits += 1
            return self._entries[key]
        value = make()
        self._entries[key] = value
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self.hits = 0


def merge_graph_pieces(pieces: Sequence[tuple[Tensor, GraphBatch]],
                       num_graphs: int) -> GraphBatch:
    """One graph-level batch from `pieces`, each (graph numbers, a batch of those graphs in
    that order): nodes back in graph order, edges renumbered, aligned fields joined."""
    graph_of_node = torch.cat([graphs[piece.batch] for graphs, piece in pieces])
    order = torch.argsort(graph_of_node, stable=True)
    position = torch.empty_like(order)
    position[order] = torch.arange(len(order), device=order.device)
    sizes = torch.tensor([piece.num_nodes for _, piece in pieces])
    offsets = (torch.cumsum(sizes, 0) - sizes).tolist()
    edge_index = torch.cat([piece.edge_index + offset
                            for (_, piece), offset in zip(pieces, offsets)], dim=1)
    fields: dict[str, Tensor | None] = {}
    for name in (*NODE_FIELDS, *EDGE_FIELDS):
        if name == "batch":
            continue
        values = [getattr(piece, name) for _, piece in pieces]
        if all(value is None for value in values):
            fields[name] = None
            continue
        if any(value is None for value in values):
            raise ValueError(f"cannot merge graphs augmented differently: some have {name} "
                             "and some do not; use augmentations that keep the same fields")
        joined = torch.cat(values)
        fields[name] = joined[order] if name in NODE_FIELDS else joined
    return GraphBatch(edge_index=position[edge_index], batch=graph_of_node[order],
                      num_graphs=num_graphs, **fields)


@AUGMENTATIONS.register("edge_removing")
class EdgeRemoving(Augmentation):
    """Drop each undirected edge (both directions together) with probability `p` (GRACE's
    edge removing, GraphCL's edge perturbation; Zhu et al. 2020, arXiv 2006.04131)."""

    def __init__(self, p: float = 0.2) -> None:
        self.p = check_rate(p, "p", "edge_removing")

    def apply(self, batch: GraphBatch, generator: torch.Generator) -> GraphBatch:
        batch = check_graph_batch(batch, "edge_removing")
        if self.p == 0 or batch.num_edges == 0:
            return batch
        pair, count = undirected_pairs(batch.edge_index, batch.num_nodes)
        kept = torch.rand(count, generator=generator, device=batch.device) >= self.p
        return keep_edges(batch, kept[pair])


@AUGMENTATIONS.register("edge_adding")
class EdgeAdding(Augmentation):
    """Add round(`p` x its undirected edges) random undirected edges to each graph, between two
    different nodes of that graph (GraphCL's edge perturbation, You et al. 2020, arXiv
    2010.13902). Draws that repeat an existing edge or another draw are discarded, so slightly
    fewer may be added. New edges get weight 1 and all-zero `edge_attr`."""

    def __init__(self, p: float = 0.2) -> None:
        self.p = check_rate(p, "p", "edge_adding")

    def apply(self, batch: GraphBatch, generator: torch.Generator) -> GraphBatch:
        batch = check_graph_batch(batch, "edge_adding")
        if self.p == 0 or batch.num_edges == 0:
            return batch
        device, num_nodes = batch.device, batch.num_nodes
        pair, count = undirected_pairs(batch.edge_index, num_nodes)
        graph_of_pair = torch.zeros(count, dtype=torch.long, device=device)
        graph_of_pair[pair] = batch.batch[batch.edge_index[0]]
        sizes = batch.graph_sizes()
        wanted = torch.round(self.p * torch.bincount(graph_of_pair, minlength=batch.num_graphs)
                             .to(torch.float64)).long()
        wanted = torch.where(sizes >= 2, wanted, torch.zeros_like(wanted))
        total = int(wanted.sum())
        if total == 0:
            return batch
        graph = torch.repeat_interleave(torch.arange(batch.num_graphs, device=device), wanted)
        size, start = sizes[graph], graph_starts(batch)[graph]
        first = (torch.rand(total, generator=generator, device=device) * size).long()
        second = (torch.rand(total, generator=generator, device=device) * (size - 1)).long()
        second = second + (second >= first).long()  # a different node of the same graph
        low = start + torch.minimum(first, second)
        high = start + torch.maximum(first, second)
        existing = (torch.minimum(batch.edge_index[0], batch.edge_index[1]) * num_nodes
                    + torch.maximum(batch.edge_index[0], batch.edge_index[1]))
        new = torch.unique(low * num_nodes + high)
        new = new[~torch.isin(new, existing)]
        low, high = new // num_nodes, new % num_nodes
        added = torch.stack([torch.cat([low, high]), torch.cat([high, low])])
        fields = {}
        if batch.edge_weight is not None:
            fields["edge_weight"] = torch.cat([batch.edge_weight,
                                               batch.edge_weight.new_ones(added.shape[1])])
        if batch.edge_attr is not None:
            blank = batch.edge_attr.new_zeros((added.shape[1], *batch.edge_attr.shape[1:]))
            fields["edge_attr"] = torch.cat([batch.edge_attr, blank])
        return batch.with_edges(torch.cat([batch.edge_index, added], dim=1), **fields)


@AUGMENTATIONS.register("feature_masking")
class FeatureMasking(Augmentation):
    """Zero the same random feature columns (each with probability `p`) for every node of a
    graph, drawn per graph of the batch (GRACE's feature masking; BGRL's too)."""

    def __init__(self, p: float = 0.3) -> None:
        self.p = check_rate(p, "p", "feature_masking")

    def apply(self, batch: GraphBatch, generator: torch.Generator) -> GraphBatch:
        batch = check_graph_batch(batch, "feature_masking")
        if self.p == 0:
            return batch
        shape = (batch.num_graphs, batch.x.shape[1])
        masked = torch.rand(shape, generator=generator, device=batch.device) < self.p
        return batch.with_features(batch.x.masked_fill(masked[batch.batch], 0))


@AUGMENTATIONS.register("feature_dropout")
class FeatureDropout(Augmentation):
    """Zero each feature of each node independently with probability `p`; the kept values are
    not rescaled (a view, not a regulariser: the expected input stays comparable to masking)."""

    def __init__(self, p: float = 0.2) -> None:
        self.p = check_rate(p, "p", "feature_dropout")

    def apply(self, batch: GraphBatch, generator: torch.Generator) -> GraphBatch:
        batch = check_graph_batch(batch, "feature_dropout")
        if self.p == 0:
            return batch
        dropped = torch.rand(batch.x.shape, generator=generator, device=batch.device) < self.p
        return batch.with_features(batch.x.masked_fill(dropped, 0))


@AUGMENTATIONS.register("node_attribute_masking")
class NodeAttributeMasking(Augmentation):
    """Zero all features of each node with probability `p` (GraphCL's attribute masking, which
    masks whole nodes' attributes; the node and its edges stay)."""

    def __init__(self, p: float = 0.2) -> None:
        self.p = check_rate(p, "p", "node_attribute_masking")

    def apply(self, batch: GraphBatch, generator: torch.Generator) -> GraphBatch:
        batch = check_graph_batch(batch, "node_attribute_masking")
        if self.p == 0:
            return batch
        masked = torch.rand(batch.num_nodes, generator=generator, device=batch.device) < self.p
        return batch.with_features(batch.x.masked_fill(masked[:, None], 0))


@AUGMENTATIONS.register("node_dropping")
class NodeDropping(Augmentation):
    """Drop floor(`p` x n) random nodes of each graph of n nodes, with their edges (GraphCL's
    node dropping). Seeds are never dropped, and every graph keeps at least one node."""

    def __init__(self, p: float = 0.2) -> None:
        self.p = check_rate(p, "p", "node_dropping")

    def apply(self, batch: GraphBatch, generator: torch.Generator) -> GraphBatch:
        batch = check_graph_batch(batch, "node_dropping")
        if self.p == 0:
            return batch
        sizes = batch.graph_sizes()
        is_seed = seed_mask(batch)
        seeds = torch.bincount(batch.batch[is_seed], minlength=batch.num_graphs)
        dropped = torch.minimum(torch.floor(self.p * sizes.double()).long(),
                                sizes - seeds.clamp(min=1))
        score = torch.rand(batch.num_nodes, generator=generator, device=batch.device)
        score = torch.where(is_seed, 2.0, score)  # seeds sort last: never among the dropped
        return batch.keep_nodes(rank_in_graph(batch.batch, score) >= dropped[batch.batch])


@AUGMENTATIONS.register("random_walk_subgraph")
class RandomWalkSubgraph(Augmentation):
    """Keep the subgraph that random walks visit first: about (1 - `p`) of each graph's nodes
    (GraphCL's subgraph view). Each graph gets one walker per `nodes_per_walker` nodes to
    reach (at least one), started at random nodes; all walkers step together, to a uniformly
    chosen neighbour, until every graph has reached its share or `max_steps` is spent; nodes
    are kept in order of first visit. A graph whose walkers cannot reach enough nodes (other
    connected components) keeps only what they reached. Seeds are always kept.

    `torch_geometric.utils` has no random walker that takes a generator, hence this one."""

    def __init__(self, p: float = 0.2, nodes_per_walker: int = 20, max_steps: int = 200) -> None:
        self.p = check_rate(p, "p", "random_walk_subgraph")
        if int(nodes_per_walker) < 1 or int(max_steps) < 1:
            raise ValueError(f"random_walk_subgraph needs nodes_per_walker >= 1 and max_steps "
                             f">= 1; got {nodes_per_walker}, {max_steps}")
        self.nodes_per_walker, self.max_steps = int(nodes_per_walker), int(max_steps)

    def apply(self, batch: GraphBatch, generator: torch.Generator) -> GraphBatch:
        batch = check_graph_batch(batch, "random_walk_subgraph")
        if self.p == 0:
            return batch
        device = batch.device
        sizes = batch.graph_sizes()
        target = torch.ceil((1 - self.p) * sizes.double()).long().clamp(min=1)
        target = torch.minimum(target, sizes)
        walkers = torch.ceil(target.double() / self.nodes_per_walker).long()
        walkers = torch.where(sizes > 0, walkers.clamp(min=1), 0)
        graph = torch.repeat_interleave(torch.arange(batch.num_graphs, device=device), walkers)
        start = torch.rand(len(graph), generator=generator, device=device) * sizes[graph]
        position = graph_starts(batch)[graph] + start.long()
        first_visit = self._walk(batch, position, target, generator)
        tie_break = 0.5 * torch.rand(batch.num_nodes, generator=generator, device=device)
        is_seed = seed_mask(batch)
        order_key = torch.where(is_seed, -1.0, first_visit + tie_break)
        seeds = torch.bincount(batch.batch[is_seed], minlength=batch.num_graphs)
        quota = torch.maximum(target, seeds)[batch.batch]
        kept = (rank_in_graph(batch.batch, order_key) < quota) & torch.isfinite(order_key)
        return batch.keep_nodes(kept)

    def _walk(self, batch: GraphBatch, position: Tensor, target: Tensor,
              generator: torch.Generator) -> Tensor:
        """(num_nodes,) step at which a walker first reached each node (inf: never)."""
        device, num_nodes = batch.device, batch.num_nodes
        source, neighbour = batch.edge_index
        neighbour = neighbour[torch.argsort(source, stable=True)]
        degree = torch.bincount(source, minlength=num_nodes)
        first_edge = torch.cumsum(degree, 0) - degree
        first_visit = torch.full((num_nodes,), math.inf, device=device)
        first_visit[position] = 0.0
        if batch.num_edges == 0:
            return first_visit
        for step in range(1, self.max_steps + 1):
            options = degree[position]
            pick = (torch.rand(len(position), generator=generator, device=device)
                    * options).long()
            moved = options > 0
            position = torch.where(moved, neighbour[torch.where(moved, first_edge[position]
                                                                + pick, 0)], position)
            first_visit.scatter_reduce_(0, position, torch.full_like(
                first_visit[position], float(step)), reduce="amin")
            if step % 8 == 0:
                reached = torch.bincount(batch.batch[torch.isfinite(first_visit)],
                                         minlength=batch.num_graphs)
                if bool((reached >= target).all()):
                    break
        return first_visit


@AUGMENTATIONS.register("node_shuffling")
class NodeShuffling(Augmentation):
    """DGI's corruption (Velickovic et al. 2019, arXiv 1809.10341): permute the feature rows
    among the nodes of each graph, keeping the edges, so structure and features disagree.
    With `p` < 1 only a random fraction `p` of the nodes take part in the permutation. Only
    `x` moves; `atoms`, `node_ids` and `feature_variants` stay with their nodes."""

    def __init__(self, p: float = 1.0) -> None:
        self.p = check_rate(p, "p", "node_shuffling")

    def apply(self, batch: GraphBatch, generator: torch.Generator) -> GraphBatch:
        batch = check_graph_batch(batch, "node_shuffling")
        if self.p == 0:
            return batch
        device = batch.device
        chosen = torch.rand(batch.num_nodes, generator=generator, device=device) < self.p
        nodes = torch.nonzero(chosen).flatten()
        score = torch.rand(len(nodes), generator=generator, device=device)
        graph = batch.batch[nodes]
        order = torch.argsort(score, stable=True)
        shuffled = nodes[order[torch.argsort(graph[order], stable=True)]]
        x = batch.x.clone()
        x[nodes] = batch.x[shuffled]
        return batch.with_features(x)


@AUGMENTATIONS.register("text_attribute")
class TextAttribute(Augmentation):
    """GAugLLM's text-attribute view without an LLM at training time (Fang et al. 2024, arXiv
    2406.11945): with probability `p` per node, its features become one of its K
    `feature_variants` (re-encoded rewrites of its text, made by the data loader), chosen
    uniformly at random."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = check_rate(p, "p", "text_attribute")

    def apply(self, batch: GraphBatch, generator: torch.Generator) -> GraphBatch:
        batch = check_graph_batch(batch, "text_attribute")
        variants = batch.feature_variants
        if variants is None:
            raise ValueError("text_attribute needs K re-encoded rewrites of each node's text "
                             "(GraphBatch.feature_variants) and this batch has none: set "
                             "data.options.text_views: K (e.g. 4) in the recipe")
        if variants.dim() != 3 or variants.shape[0] != batch.num_nodes or \
                variants.shape[2] != batch.x.shape[1] or variants.shape[1] == 0:
            raise ValueError(f"text_attribute needs feature_variants of shape (num_nodes, K, "
                             f"num_features) = ({batch.num_nodes}, K, {batch.x.shape[1]}) with "
                             f"K >= 1; got {tuple(variants.shape)}")
        if self.p == 0:
            return batch
        device = batch.device
        chosen = torch.rand(batch.num_nodes, generator=generator, device=device) < self.p
        which = (torch.rand(batch.num_nodes, generator=generator, device=device)
                 * variants.shape[1]).long()
        rewrite = variants[torch.arange(batch.num_nodes, device=device), which]
        return batch.with_features(torch.where(chosen[:, None], rewrite.to(batch.x.dtype),
                                               batch.x))


class GraphOneOf(Augmentation):
    """Apply one of `augmentations`, chosen at random for each graph of a graph-level batch
    (`per_graph`; the augmented graphs are put back in order) or once for the whole batch (a
    node-level batch is one graph)."""

    def __init__(self, augmentations: Sequence[Augmentation], per_graph: bool = True) -> None:
        if not augmentations:
            raise ValueError("graph_one_of needs at least one augmentation")
        self.augmentations = list(augmentations)
        self.per_graph = bool(per_graph)

    def apply(self, batch: GraphBatch, generator: torch.Generator) -> GraphBatch:
        batch = check_graph_batch(batch, "graph_one_of")
        choice = torch.randint(len(self.augmentations), (batch.num_graphs,),
                               generator=generator, device=batch.device)
        if batch.node_level or not self.per_graph or batch.num_graphs == 1:
            return self.augmentations[int(choice[0])](batch, generator)
        pieces = []
        for index, augmentation in enumerate(self.augmentations):
            graphs = torch.nonzero(choice == index).flatten()
            if len(graphs):
                pieces.append((graphs, augmentation(batch.select_graphs(graphs), generator)))
        return merge_graph_pieces(pieces, batch.num_graphs)


def _scaled(rate: float, strength: float) -> float:
    return min(1.0, rate * strength)


def _edge_feature_views(owner: str, rates: Sequence[tuple[float, float]],
                        strength: float) -> Views:
    """Views of `edge_removing(p_e) -> feature_masking(p_f)`, one per (p_e, p_f)."""
    strength = check_strength(strength, owner)
    pipelines = []
    for edge_rate, feature_rate in rates:
        check_rate(edge_rate, "edge rate", owner)
        check_rate(feature_rate, "feature rate", owner)
        pipelines.append(Compose([EdgeRemoving(_scaled(edge_rate, strength)),
                                  FeatureMasking(_scaled(feature_rate, strength))]))
    return Views(pipelines)


@AUGMENTATIONS.register("grace_views")
def grace_views(p_e1: float = 0.2, p_e2: float = 0.4, p_f1: float = 0.3, p_f2: float = 0.4,
                strength: float = 1.0) -> Views:
    """GRACE's two views (Zhu et al. 2020, arXiv 2006.04131): edge removing then feature
    masking, rates p_e1/p_f1 and p_e2/p_f2 (GRACE's Cora settings), times `strength`."""
    return _edge_feature_views("grace_views", [(p_e1, p_f1), (p_e2, p_f2)], strength)


@AUGMENTATIONS.register("bgrl_views")
def bgrl_views(p_e1: float = 0.4, p_e2: float = 0.1, p_f1: float = 0.1, p_f2: float = 0.2,
               strength: float = 1.0) -> Views:
    """BGRL's two views (Thakoor et al. 2021, arXiv 2102.06514): edge masking and feature
    masking, rates from BGRL's Amazon-Photos settings, times `strength`."""
    return _edge_feature_views("bgrl_views", [(p_e1, p_f1), (p_e2, p_f2)], strength)


@AUGMENTATIONS.register("graphcl_views")
def graphcl_views(aug_ratio: float = 0.2, per_graph: bool = True,
                  strength: float = 1.0) -> Views:
    """GraphCL's random views (You et al. 2020, arXiv 2010.13902): each view applies one of
    node dropping, edge perturbation (remove a ratio of the edges, then add that ratio of the
    remaining number), attribute masking and a random-walk subgraph, chosen per graph
    (`per_graph`) or per batch, all at `aug_ratio` times `strength`."""
    ratio = _scaled(check_rate(aug_ratio, "aug_ratio", "graphcl_views"),
                    check_strength(strength, "graphcl_views"))
    if ratio == 0:
        return Views([Identity(), Identity()])
    choices = [NodeDropping(ratio), Compose([EdgeRemoving(ratio), EdgeAdding(ratio)]),
               NodeAttributeMasking(ratio), RandomWalkSubgraph(ratio)]
    return Views([GraphOneOf(choices, per_graph), GraphOneOf(choices, per_graph)])


@AUGMENTATIONS.register("dgi_views")
def dgi_views(strength: float = 1.0) -> Views:
    """DGI's pair (Velickovic et al. 2019, arXiv 1809.10341): the graph itself and its
    corruption, features shuffled among a fraction min(1, `strength`) of each graph's nodes."""
    strength = check_strength(strength, "dgi_views")
    return Views([Identity(), NodeShuffling(min(1.0, strength))])


@AUGMENTATIONS.register("text_attribute_views")
def text_attribute_views(p_text: float = 0.5, p_e1: float = 0.2, p_e2: float = 0.4,
                         p_f1: float = 0.3, p_f2: float = 0.4, strength: float = 1.0) -> Views:
    """GRACE's two views on text-attributed graphs, each starting with `text_attribute`
    (a node's features replaced by a rewrite of its text with probability `p_text`; after
    GAugLLM, Fang et al. 2024, arXiv 2406.11945). Needs data.options.text_views: K."""
    strength = check_strength(strength, "text_attribute_views")
    text_rate = _scaled(check_rate(p_text, "p_text", "text_attribute_views"), strength)
    structural = _edge_feature_views("text_attribute_views", [(p_e1, p_f1), (p_e2, p_f2)],
                                     strength)
    return Views([Compose([TextAttribute(text_rate), pipeline.augmentation])
                  for pipeline in structural.pipelines])
