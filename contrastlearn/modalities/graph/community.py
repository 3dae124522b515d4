"""CSGCL's community-strength views (Chen et al. 2023, "CSGCL: Community-Strength-Enhanced
Graph Contrastive Learning", IJCAI, arXiv 2305.04658): Communal Edge Dropping (CED) and
Communal Attribute Voting (CAV).

Communities are found once per graph by Louvain (`networkx.community.louvain_communities`,
seeded; CSGCL's default is Leiden, which networkx offers only through a backend) and cached by
graph structure. The strength of community c is its term of the modularity,

    S_c = L_c / m - (d_c / 2m)^2,

with L_c the edges inside c, d_c the summed degree of c's nodes and m the graph's edges
(self-loops ignored): dense communities that matter to the graph have large S_c.

- CED: edge (i, j) gets w = S_c when both ends are in community c, else -(S_ci + S_cj);
  min-max normalised per graph to w', it is kept with probability
  clip((1 - p) w' / mean(w'), 1 - threshold, 1): edges inside strong communities survive,
  edges between communities are dropped first. Both directions share one draw.
- CAV: attribute f gets the vote v_f = sum_i |x_if| S_c(i) of the graph's nodes; with
  w_f = (max log v - log v_f) / (max log v - min log v), the column is zeroed for all of the
  graph's nodes with probability min(max_probability, p w_f / mean(w)): attributes carried by
  strong communities are masked least.

Ours: communities and normalisations are per graph of a batch (the paper has one graph); an
attribute whose vote is not positive (only weak communities carry it) is treated as the least
protected one, and an attribute that no node has is never masked (CSGCL: such columns are
set to the top vote); a graph whose weights are all equal falls back to uniform rates p;
CED at p = 0 is the identity (the formula alone would still drop below-average edges). The
"team-up" objective is a method's loss, not a view, and is not here.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from contrastlearn.augment.base import Augmentation, Compose
from contrastlearn.augment.views import Views
from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.graph.augment import (
    StructureCache,
    check_rate,
    check_strength,
    graph_starts,
    graph_sums,
    keep_edges,
    structure_key,
    undirected_pairs,
)
from contrastlearn.modalities.graph.batch import GraphBatch, check_graph_batch

COMMUNITIES = StructureCache(size=2 ** 16)
"""Community labels and strengths of recently seen graphs, by settings and structure."""


def detect_communities(edge_index: Tensor, num_nodes: int, seed: int = 0,
                       resolution: float = 1.0) -> Tensor:
    """(num_nodes,) community of each node of one graph by seeded Louvain; communities are
    numbered in order of their smallest node."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(range(num_nodes))
    pairs = edge_index[:, edge_index[0] != edge_index[1]].T.tolist()
    graph.add_edges_from(pairs)
    found = nx.community.louvain_communities(graph, seed=seed, resolution=resolution)
    labels = torch.empty(num_nodes, dtype=torch.long)
    for number, members in enumerate(sorted(found, key=min)):
        labels[sorted(members)] = number
    return labels


def community_strength(edge_index: Tensor, labels: Tensor) -> Tensor:
    """(num_communities,) S_c = L_c / m - (d_c / 2m)^2 of one graph's communities `labels`
    (float64; all zero for a graph without edges)."""
    count = int(labels.max()) + 1 if labels.numel() else 0
    simple = edge_index[:, edge_index[0] != edge_index[1]]
    pair, pairs = undirected_pairs(simple, len(labels))
    if pairs == 0:
        return torch.zeros(count, dtype=torch.float64)
    first = torch.zeros(pairs, dtype=torch.long).scatter_(0, pair, torch.arange(len(pair)))
    source, target = simple[:, first]
    degree = torch.bincount(torch.cat([source, target]), minlength=len(labels)).double()
    inside = labels[source] == labels[target]
    links = torch.bincount(labels[source][inside], minlength=count).double()
    total_degree = torch.zeros(count, dtype=torch.float64).index_add_(0, labels, degree)
    return links / pairs - (total_degree / (2 * pairs)) ** 2


def _graph_communities(edge_index: Tensor, num_nodes: int, seed: int,
                       resolution: float) -> tuple[Tensor, Tensor]:
    labels = detect_communities(edge_index, num_nodes, seed, resolution)
    return labels, community_strength(edge_index, labels)


def community_strengths(batch: GraphBatch, seed: int = 0,
                        resolution: float = 1.0) -> tuple[Tensor, Tensor]:
    """(num_nodes,) community of each node (numbered across the batch) and (num_nodes,) the
    strength of its community, every graph's communities found on its own (cached)."""
    edge_index, sizes = batch.edge_index.cpu(), batch.graph_sizes().cpu()
    starts = graph_starts(batch).cpu()
    edge_graph = batch.batch.cpu()[edge_index[0]]
    order = torch.argsort(edge_graph, stable=True)
    per_graph = edge_index[:, order].split(
        torch.bincount(edge_graph, minlength=batch.num_graphs).tolist(), dim=1)
    labels, strengths, offset = [], [], 0
    for graph, edges in enumerate(per_graph):  # networkx works one graph at a time
        local, size = edges - starts[graph], int(sizes[graph])
        key = (seed, resolution, size, structure_key(local))
        label, strength = COMMUNITIES.get(key, partial(_graph_communities, local, size, seed,
                                                       resolution))
        labels.append(label + offset)
        strengths.append(strength[label])
        offset += len(strength)
    return (torch.cat(labels).to(batch.device),
            torch.cat(strengths).to(batch.device, torch.float32))


def _per_graph_min_max(values: Tensor, graph: Tensor, num_graphs: int) -> Tensor:
    """`values` min-max normalised within each graph (1 where a graph's values are equal)."""
    low = torch.full((num_graphs,), torch.inf, device=values.device).scatter_reduce(
        0, graph, values, reduce="amin")
    high = torch.full((num_graphs,), -torch.inf, device=values.device).scatter_reduce(
        0, graph, values, reduce="amax")
    span = (high - low)[graph]
    return torch.where(span > 0, (values - low[graph]) / span.clamp(min=1e-12), 1.0)


@AUGMENTATIONS.register("community_edge_dropping")
class CommunityEdgeDropping(Augmentation):
    """CSGCL's Communal Edge Dropping (Chen et al. 2023, arXiv 2305.04658): drop edges at
    rate about `p`, intra-community edges of strong communities least (module docstring).
    `threshold` bounds the drop probability; `seed` and `resolution` are Louvain's."""

    def __init__(self, p: float = 0.3, threshold: float = 1.0, seed: int = 0,
                 resolution: float = 1.0) -> None:
        self.p = check_rate(p, "p", "community_edge_dropping")
        self.threshold = check_rate(threshold, "threshold", "community_edge_dropping")
        self.seed, self.resolution = int(seed), float(resolution)

    def apply(self, batch: GraphBatch, generator: torch.Generator) -> GraphBatch:
        batch = check_graph_batch(batch, "community_edge_dropping")
        if self.p == 0 or batch.num_edges == 0:
            return batch
        labels, strength = community_strengths(batch, self.seed, self.resolution)
        source, target = batch.edge_index
        weight = torch.where(labels[source] == labels[target], strength[source],
                             -(strength[source] + strength[target]))
        graph = batch.batch[source]
        normalised = _per_graph_min_max(weight, graph, batch.num_graphs)
        mean = (graph_sums(normalised, graph, batch.num_graphs)
                / torch.bincount(graph, minlength=batch.num_graphs).clamp(min=1))
        keep = (normalised / mean[graph] * (1 - self.p)).clamp(min=1 - self.threshold, max=1)
        pair, count = undirected_pairs(batch.edge_index, batch.num_nodes)
        pair_keep = torch.zeros(count, device=batch.device).scatter_(0, pair, keep)
        kept = torch.rand(count, generator=generator, device=batch.device) < pair_keep
        return keep_edges(batch, kept[pair])


@AUGMENTATIONS.register("community_attribute_voting")
class CommunityAttributeVoting(Augmentation):
    """CSGCL's Communal Attribute Voting (Chen et al. 2023, arXiv 2305.04658): zero feature
    columns (for all nodes of a graph) at rate about `p`, attributes voted for by strong
    communities least (module docstring). `max_probability` caps a column's probability."""

    def __init__(self, p: float = 0.1, max_probability: float = 1.0, seed: int = 0,
                 resolution: float = 1.0) -> None:
        self.p = check_rate(p, "p", "community_attribute_voting")
        self.max_probability = check_rate(max_probability, "max_probability",
                                          "community_attribute_voting")
        self.seed, self.resolution = int(seed), float(resolution)

    def apply(self, batch: GraphBatch, generator: torch.Generator) -> GraphBatch:
        batch = check_graph_batch(batch, "community_attribute_voting")
        if self.p == 0:
            return batch
        _, strength = community_strengths(batch, self.seed, self.resolution)
        shape = (batch.num_graphs, batch.x.shape[1])
        magnitude = batch.x.abs().float()
        vote = graph_sums(magnitude * strength[:, None], batch.batch, batch.num_graphs)
        mass = graph_sums(magnitude, batch.batch, batch.num_graphs)
        positive = vote > 0
        log_vote = torch.log(vote.clamp(min=torch.finfo(vote.dtype).tiny))
        high = torch.where(positive, log_vote, -torch.inf).amax(1, keepdim=True)
        low = torch.where(positive, log_vote, torch.inf).amin(1, keepdim=True)
        span = high - low
        score = torch.where(span > 0, (high - log_vote) / span.clamp(min=1e-12), 1.0)
        score = torch.where(positive, score, 1.0)
        score = torch.where(mass > 0, score, 0.0)
        mean = score.mean(1, keepdim=True)
        probability = torch.where(mean > 0, self.p * score / mean.clamp(min=1e-12), 0.0)
        masked = (torch.rand(shape, generator=generator, device=batch.device)
                  < probability.clamp(max=self.max_probability))
        return batch.with_features(batch.x.masked_fill(masked[batch.batch], 0))


@AUGMENTATIONS.register("csgcl_views")
def csgcl_views(p_e1: float = 0.3, p_e2: float = 0.5, p_f1: float = 0.1, p_f2: float = 0.1,
                threshold: float = 1.0, max_probability: float = 1.0, seed: int = 0,
                strength: float = 1.0) -> Views:
    """CSGCL's two views (Chen et al. 2023, arXiv 2305.04658): communal edge dropping then
    communal attribute voting, rates p_e1/p_f1 and p_e2/p_f2 (CSGCL's released Amazon-Photo
    settings) times `strength`."""
    strength = check_strength(strength, "csgcl_views")
    pipelines: list[Augmentation] = []
    for edge_rate, feature_rate in ((p_e1, p_f1), (p_e2, p_f2)):
        edge_rate = min(1.0, check_rate(edge_rate, "edge rate", "csgcl_views") * strength)
        feature_rate = min(1.0, check_rate(feature_rate, "feature rate", "csgcl_views")
                           * strength)
        pipelines.append(Compose([
            CommunityEdgeDropping(edge_rate, threshold=threshold, seed=seed),
            CommunityAttributeVoting(feature_rate, max_probability=max_probability, seed=seed),
        ]))
    return Views(pipelines)
