"""The evaluation protocols of graph papers, as `splits.extras` objects that `contrastlearn
evaluate` and every pretraining run (they have `evaluate(encoder, *, device, batch_size,
split) -> list[Result]`).

- `NodeProtocols` (one graph, nodes are samples): node classification on random stratified
  train splits of 1%, 10% and 80% of the labelled nodes over 10 seeds, L2-normalised
  embeddings and logistic regression (GRACE, Zhu et al. 2020, arXiv 2006.04131; GCA, arXiv
  2010.14945); k-means NMI/ARI with k = the number of classes; link-prediction ROC-AUC and
  average precision of the held-out edges against as many sampled non-edges (VGAE, Kipf &
  Welling 2016, arXiv 1611.07308), scored by cosine similarity.
- `GraphProtocols` (graphs are samples): 10-fold cross-validated linear SVM accuracy with C
  chosen by inner CV (InfoGraph, Sun et al. 2020, arXiv 1908.01000; GraphCL, You et al. 2020,
  arXiv 2010.13902).

With `raw_baseline` each protocol also runs on the raw input: node features for nodes; for
graphs, per graph the mean and the sum of its node features, its number of nodes and its
number of (undirected) edges (`graph_raw_features`). A protocol that cannot run on the data
(one class, too few samples per fold) gives a "not_applicable" Result that says why, so a
finished pretraining is never lost to its evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from contrastlearn.data.arrays import DatasetSplits
from contrastlearn.evaluation import (
    Result,
    kmeans_clustering,
    link_prediction,
    node_classification,
    svm_cross_validation,
)
from contrastlearn.evaluation.random_splits import NODE_FRACTIONS
from contrastlearn.modalities.graph.datasets import GraphDataset, NodeDataset

NOT_APPLICABLE = "not_applicable"
RAW_NODE_FEATURES = "node features"
RAW_GRAPH_FEATURES = ("mean and sum of node features, number of nodes, number of undirected "
                      "edges")


def _run(protocol: str, job: Callable[[], Result | list[Result]], split: str) -> list[Result]:
    """The job's Results, or one "not_applicable" Result carrying the reason."""
    try:
        made = job()
    except ValueError as error:
        return [Result(protocol, NOT_APPLICABLE, math.nan, split, {"reason": str(error)})]
    return made if isinstance(made, list) else [made]


def _label(results: list[Result], representation: str,
           raw_note: str | None = None) -> list[Result]:
    for result in results:
        result.settings["representation"] = representation
        if representation == "raw":
            result.settings["raw_features"] = raw_note
    return results


@dataclass
class NodeProtocols:
    """Node classification (random splits), clustering and link prediction of `nodes` (every
    node with its label) and `held_out_edges` (2, H) kept out of the training graph."""

    nodes: NodeDataset
    held_out_edges: Tensor | None = None
    fractions: Sequence[float] = NODE_FRACTIONS
    seeds: Sequence[int] = range(10)
    raw_baseline: bool = True

    def evaluate(self, encoder: nn.Module, *, device: str | torch.device, batch_size: int,
                 split: str) -> list[Result]:
        z = self.nodes.embed_with(encoder, batch_size=batch_size, device=device)
        results = _label(self._protocols(z, lambda: self._all_nodes(encoder, z, device),
                                         split), "encoder")
        if self.raw_baseline:
            graph = self.nodes.graph
            raw = self._protocols(graph.x[self.nodes.x].float().cpu(),
                                  lambda: graph.x.float().cpu(), split)
            results += _label(raw, "raw", RAW_NODE_FEATURES)
        return results

    def _all_nodes(self, encoder: nn.Module, z: Tensor, device: str | torch.device) -> Tensor:
        """Embeddings of every node of the graph in node order (link prediction needs the
        held-out edges' ends, which need not all be in `nodes`)."""
        everything = torch.arange(self.nodes.graph.num_nodes)
        if torch.equal(self.nodes.x.cpu(), everything):
            return z
        every_node = replace(self.nodes, x=everything, y=None, ids=None)
        return every_node.embed_with(encoder, device=device)

    def _protocols(self, z: Tensor, all_nodes: Callable[[], Tensor], split: str) -> list[Result]:
        results: list[Result] = []
        labels = self.nodes.y
        if labels is not None:
            results += _run("node_classification", lambda: node_classification(
                z, labels, fractions=self.fractions, seeds=self.seeds, split=split), split)
            results += _run("clustering", lambda: kmeans_clustering(z, labels, z, labels,
                                                                    split=split), split)
        if self.held_out_edges is not None:
            results += _run("link_prediction", lambda: link_prediction(
                all_nodes(), self.held_out_edges, self.nodes.graph.edge_index, split=split),
                split)
        return results


def graph_raw_features(graphs: GraphDataset, batch_size: int = 512) -> Tensor:
    """(num_graphs, 2F + 2) raw features of each graph of `graphs`: the mean and the sum of its
    node features, its number of nodes and its number of undirected edges (edge_index holds
    both directions, so half its columns)."""
    parts = []
    for chunk in torch.arange(len(graphs)).split(batch_size):
        batch = graphs.batch_x(chunk)
        x = batch.x.float()
        sums = torch.zeros(batch.num_graphs, x.shape[1]).index_add_(0, batch.batch, x)
        sizes = batch.graph_sizes().float()
        edges = torch.bincount(batch.batch[batch.edge_index[0]], minlength=batch.num_graphs)
        parts.append(torch.cat([sums / sizes.clamp(min=1)[:, None], sums, sizes[:, None],
                                edges.float()[:, None] / 2], dim=1))
    return torch.cat(parts)


@dataclass
class GraphProtocols:
    """The `folds`-fold cross-validated linear SVM on embeddings of `graphs` (all graphs with
    their labels)."""

    graphs: GraphDataset
    folds: int = 10
    raw_baseline: bool = True

    def evaluate(self, encoder: nn.Module, *, device: str | torch.device, batch_size: int,
                 split: str) -> list[Result]:
        labels = self.graphs.y
        if labels is None:
            return []
        z = self.graphs.embed_with(encoder, batch_size=batch_size, device=device)
        results = _label(self._protocols(z, labels, split), "encoder")
        if self.raw_baseline:
            raw = self._protocols(graph_raw_features(self.graphs, batch_size), labels, split)
            results += _label(raw, "raw", RAW_GRAPH_FEATURES)
        return results

    def _protocols(self, z: Tensor, labels: Tensor, split: str) -> list[Result]:
        return _run("svm_cross_validation", lambda: svm_cross_validation(
            z, labels, folds=self.folds, split=split), split)


def attach_protocols(splits: DatasetSplits) -> DatasetSplits:
    """`splits` with `extras["node_protocols"]` (from `extras["nodes"]` and, when present,
    `extras["held_out_edges"]`) and/or `extras["graph_protocols"]` (from `extras["graphs"]`)."""
    extras = dict(splits.extras)
    if "nodes" in extras:
        extras["node_protocols"] = NodeProtocols(extras["nodes"], extras.get("held_out_edges"))
    if "graphs" in extras:
        extras["graph_protocols"] = GraphProtocols(extras["graphs"])
    return replace(splits, extras=extras)
