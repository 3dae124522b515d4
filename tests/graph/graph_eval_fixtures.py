"""Tiny graph data and stand-in encoders/views for the graph room's protocol and preview tests
(the real encoders and views are separate parts of the room)."""

import torch
from torch import nn

from contrastlearn.augment.base import Augmentation
from contrastlearn.modalities.graph.batch import GraphBatch
from contrastlearn.modalities.graph.datasets import (
    GraphDataset,
    NodeDataset,
    collate_graphs,
    single_graph,
)


def both_directions(pairs: torch.Tensor) -> torch.Tensor:
    return torch.cat([pairs, pairs.flip(0)], dim=1)


def community_graph(num_groups=3, size=10, held_out=10, seed=0):
    """Communities whose members share a one-hot feature (plus noise); half of the
    within-community pairs are edges, `held_out` of them kept out of the graph. Returns the
    NodeDataset of every node (labels = community) and the held-out edges (2, held_out)."""
    generator = torch.Generator().manual_seed(seed)
    num_nodes = num_groups * size
    groups = torch.arange(num_nodes) // size
    pairs = torch.combinations(torch.arange(num_nodes))
    within = pairs[groups[pairs[:, 0]] == groups[pairs[:, 1]]]
    edges = within[torch.randperm(len(within), generator=generator)[:len(within) // 2]].T
    held, kept = edges[:, :held_out], edges[:, held_out:]
    x = torch.eye(num_groups)[groups] + 0.05 * torch.randn(num_nodes, num_groups,
                                                           generator=generator)
    graph = single_graph(x, both_directions(kept))
    return NodeDataset(x=torch.arange(num_nodes), y=groups, graph=graph), held


def small_graphs(per_class=6, seed=0):
    """Paths (label 0, features near +1) and cycles (label 1, features near -1) of 3-6 nodes."""
    generator = torch.Generator().manual_seed(seed)
    graphs, labels = [], []
    for label in (0, 1):
        for index in range(per_class):
            size = 3 + index % 4
            chain = torch.stack([torch.arange(size - 1), torch.arange(1, size)])
            if label == 1:
                chain = torch.cat([chain, torch.tensor([[size - 1], [0]])], dim=1)
            x = (1.0 - 2.0 * label) + 0.1 * torch.randn(size, 4, generator=generator)
            graphs.append(single_graph(x, both_directions(chain)))
            labels.append(label)
    return GraphDataset(x=torch.arange(len(graphs)), y=torch.tensor(labels), graphs=graphs)


class SeedFeatures(nn.Module):
    """Node level: the input features of the seed nodes; graph level: each graph's mean."""

    out_dim = 4

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        if batch.seeds is not None:
            return batch.x[batch.seeds]
        sums = torch.zeros(batch.num_graphs, batch.x.shape[1]).index_add_(0, batch.batch,
                                                                          batch.x)
        return sums / batch.graph_sizes()[:, None]


class RandomNodeTable(nn.Module):
    """A fixed random vector per node id: embeddings that know nothing of labels or edges."""

    out_dim = 8

    def __init__(self, num_nodes: int) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(num_nodes, self.out_dim,
                                              generator=torch.Generator().manual_seed(7)))
        self.calls: list[int] = []

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        self.calls.append(len(batch.seeds))
        return self.table[batch.node_ids[batch.seeds]]


class DropEdges(Augmentation):
    """Stand-in edge view: each directed edge column kept with probability 1 - p."""

    def __init__(self, p: float = 0.4) -> None:
        self.p = p

    def apply(self, batch: GraphBatch, generator: torch.Generator) -> GraphBatch:
        keep = torch.rand(batch.num_edges, generator=generator, device=batch.device) >= self.p
        return batch.with_edges(batch.edge_index[:, keep])


class DropNodesMaskFeatures(Augmentation):
    """Stand-in node view: drops non-seed nodes with probability p, zeroes the features of
    some others."""

    def __init__(self, p: float = 0.3) -> None:
        self.p = p

    def apply(self, batch: GraphBatch, generator: torch.Generator) -> GraphBatch:
        keep = torch.rand(batch.num_nodes, generator=generator) >= self.p
        if batch.seeds is not None:
            keep[batch.seeds] = True
        masked = torch.rand(batch.num_nodes, generator=generator) < self.p
        kept = batch.with_features(batch.x * (~masked)[:, None].float()).keep_nodes(keep)
        return kept


def graph_batch_of(dataset: GraphDataset, count: int) -> GraphBatch:
    return collate_graphs([dataset.graphs[index] for index in range(count)])
