"""Local-global mutual information: DGI's discriminator between node and graph summaries.

Deep Graph Infomax (Veličković et al. 2019, arXiv 1809.10341) maximises the mutual information
between local (node) embeddings and the summary of their graph with a Jensen-Shannon estimator:
a bilinear discriminator D(h, s) = h^T W s + b scores pairs, and a binary cross-entropy teaches
it to tell positives (a node of the graph, that graph's summary) from negatives (a node of a
corrupted graph, the same summary). MVGRL (Hassani & Khasahmadi 2020, arXiv 2006.05582) uses it
across views, InfoGraph (Sun et al. 2020, arXiv 1908.01000) per graph of a batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives.base import LossOutput


@OBJECTIVES.register("local_global_bce")
class LocalGlobalBCE(nn.Module):
    """Binary cross-entropy of the bilinear discriminator D(h_i, s) = h_i^T W s + b over N
    positive pairs (`local[i]`, `summaries[assignment[i]]`) and N negative pairs
    (`local_negative[i]`, the same summary), averaged over the 2N pairs (DGI's loss). `W` is
    (dim, dim), Xavier-initialised, `b` a scalar (with `bias`). Metrics: `accuracy`, the share
    of pairs the discriminator classifies right (logit > 0 means positive)."""

    def __init__(self, dim: int, bias: bool = True) -> None:
        super().__init__()
        if int(dim) <= 0:
            raise ValueError(f"local_global_bce needs the embedding size dim > 0; got {dim}")
        self.weight = nn.Parameter(torch.empty(int(dim), int(dim)))
        nn.init.xavier_uniform_(self.weight)
        self.bias = nn.Parameter(torch.zeros(())) if bias else None

    def score(self, local: Tensor, summary: Tensor) -> Tensor:
        """(N,) discriminator logits of the row pairs (local[i], summary[i])."""
        logits = ((local @ self.weight) * summary).sum(dim=1)
        return logits + self.bias if self.bias is not None else logits

    def forward(self, local: Tensor, local_negative: Tensor, summaries: Tensor,
                assignment: Tensor) -> LossOutput:
        dim = self.weight.shape[0]
        if local.dim() != 2 or local.shape[1] != dim or local.shape[0] == 0:
            raise ValueError(f"local_global_bce: local must be (N > 0, {dim}); got "
                             f"{tuple(local.shape)}")
        if local_negative.shape != local.shape:
            raise ValueError(f"local_global_bce: local_negative must match local "
                             f"{tuple(local.shape)}; got {tuple(local_negative.shape)}")
        if summaries.dim() != 2 or summaries.shape[1] != dim:
            raise ValueError(f"local_global_bce: summaries must be (num_graphs, {dim}); got "
                             f"{tuple(summaries.shape)}")
        if assignment.shape != (local.shape[0],) or assignment.dtype != torch.long:
            raise ValueError(f"local_global_bce: assignment must be int64 of shape "
                             f"({local.shape[0]},), the graph of each node; got "
                             f"{assignment.dtype} {tuple(assignment.shape)}")
        summary = summaries[assignment]
        positive = self.score(local, summary)
        negative = self.score(local_negative, summary)
        # -log sigmoid(x) = softplus(-x), -log(1 - sigmoid(x)) = softplus(x)
        loss = (F.softplus(-positive).sum() + F.softplus(negative).sum()) / (2 * len(local))
        correct = (positive > 0).sum() + (negative < 0).sum()
        return LossOutput(loss, {"accuracy": (correct.float() / (2 * len(local))).detach()})
