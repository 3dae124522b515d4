"""Link prediction from frozen node embeddings: do held-out edges score higher than pairs that
are not edges? The protocol of the graph auto-encoders (Kipf & Welling 2016, "Variational Graph
Auto-Encoders", arXiv 1611.07308), used for contrastive node encoders too: ROC-AUC and average
precision of held-out edges against as many sampled non-edges.

Protocol:

- Edges are undirected: (u, v) and (v, u) are one pair; self-loops are dropped. The positives
  are the distinct held-out pairs.
- Negatives: as many distinct pairs drawn uniformly at random (seeded) among the pairs that
  are neither a known edge (the graph the encoder saw) nor a held-out edge nor a self-loop.
- Score of a pair: the cosine similarity of its two embeddings (or their dot product).
- ROC-AUC and average precision (scikit-learn's ``roc_auc_score`` and
  ``average_precision_score``) of the scores with positives labelled 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.validation import _check_matrix

ENUMERATE_LIMIT = 2_000_000
"""Graphs with at most this many node pairs draw non-edges from the full list of them (exact
for dense graphs); larger ones draw random pairs and reject edges (sparse graphs)."""
SCORES = ("cosine", "dot")


def undirected_keys(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Sorted distinct keys ``min(u, v) * num_nodes + max(u, v)`` of the non-loop edges."""
    edge_index = torch.as_tensor(edge_index, dtype=torch.long).cpu()
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edges must have shape (2, num_edges), got {tuple(edge_index.shape)}")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        raise ValueError(f"edges name nodes outside 0..{num_nodes - 1}; there are {num_nodes} "
                         f"node embeddings, one per node of the graph")
    low, high = edge_index.min(dim=0).values, edge_index.max(dim=0).values
    keep = low != high
    return torch.unique(low[keep] * num_nodes + high[keep])


def sample_non_edges(num_nodes: int, excluded_edges: Tensor, count: int, seed: int) -> Tensor:
    """(2, count) distinct node pairs (u < v) drawn uniformly (seeded) among the pairs that are
    not in `excluded_edges` (2, E) in either direction and are not self-loops."""
    excluded = undirected_keys(excluded_edges, num_nodes)
    total = num_nodes * (num_nodes - 1) // 2
    if total - len(excluded) < count:
        raise ValueError(f"the graph has only {total - len(excluded)} node pairs that are not "
                         f"edges, fewer than the {count} negatives needed (as many as held-out "
                         f"edges); hold out fewer edges")
    generator = torch.Generator().manual_seed(int(seed))
    if total <= ENUMERATE_LIMIT:
        low, high = torch.triu_indices(num_nodes, num_nodes, offset=1)
        keys = low * num_nodes + high
        keys = keys[~torch.isin(keys, excluded)]
        chosen = keys[torch.randperm(len(keys), generator=generator)[:count]]
    else:
        found = torch.empty(0, dtype=torch.long)
        while len(found) < count:
            pairs = torch.randint(num_nodes, (2, 2 * (count - len(found)) + 64),
                                  generator=generator)
            low, high = pairs.min(dim=0).values, pairs.max(dim=0).values
            keys = (low * num_nodes + high)[low != high]
            keys = keys[~torch.isin(keys, excluded) & ~torch.isin(keys, found)]
            found = torch.cat([found, torch.unique(keys)])
        chosen = found[torch.randperm(len(found), generator=generator)[:count]]
    return torch.stack([chosen // num_nodes, chosen % num_nodes])


def link_prediction(
    embeddings: Any, held_out_edges: Tensor, known_edges: Tensor, *, score: str = "cosine",
    seed: int = 0, split: str = "test",
) -> list[Result]:
    """ROC-AUC and average precision of held-out edges against as many sampled non-edges.

    `embeddings` (num_nodes, D) has one row per node of the graph, in node order;
    `held_out_edges` and `known_edges` are (2, E) node-index pairs, either direction or both.
    Returns two Results, protocol "link_prediction", metrics "auroc" and "average_precision";
    `settings` holds score, seed, num_positive, num_negative, num_nodes and the negative
    sampling rule. Raises ValueError for no held-out edge, edges naming missing nodes, an
    unknown score, or too few non-edges.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    if score not in SCORES:
        raise ValueError(f"unknown link score {score!r}; choose from {SCORES}")
    z = _check_matrix(embeddings, "node embeddings").to(torch.float64)
    num_nodes = len(z)
    positive_keys = undirected_keys(held_out_edges, num_nodes)
    known_keys = undirected_keys(known_edges, num_nodes)
    if len(positive_keys) == 0:
        raise ValueError("link prediction needs at least one held-out edge between two "
                         "different nodes")
    positives = torch.stack([positive_keys // num_nodes, positive_keys % num_nodes])
    known = torch.stack([known_keys // num_nodes, known_keys % num_nodes])
    negatives = sample_non_edges(num_nodes, torch.cat([known, positives], 1),
                                 len(positive_keys), seed)
    if score == "cosine":
        z = F.normalize(z, dim=1)
    pairs = torch.cat([positives, negatives], dim=1)
    scores = (z[pairs[0]] * z[pairs[1]]).sum(dim=1).numpy()
    truth = np.concatenate([np.ones(positives.shape[1]), np.zeros(negatives.shape[1])])
    settings = {
        "score": score, "seed": int(seed), "num_positive": int(positives.shape[1]),
        "num_negative": int(negatives.shape[1]), "num_nodes": num_nodes,
        "negatives": "uniform random node pairs that are neither a known nor a held-out edge "
                     "nor a self-loop, as many as held-out edges",
    }
    return [
        Result("link_prediction", "auroc", float(roc_auc_score(truth, scores)), split,
               dict(settings)),
        Result("link_prediction", "average_precision",
               float(average_precision_score(truth, scores)), split, dict(settings)),
    ]

