"""What the graph contrastive recommenders (SGL, SimGCL, XSimGCL, LightGCL, NCL) share: option
checks, the nodes a batch contrasts, the in-batch InfoNCE between two node tables, the InfoNCE
against every node of a table, and SimGCL's uniform embedding noise.

The in-batch term is the one-directional InfoNCE of SGL (Wu et al. 2021, arXiv 2010.10783,
eq. 10), SimGCL (Yu et al. 2022, arXiv 2112.08679, eq. 4) and XSimGCL (Yu et al. 2023, arXiv
2209.02544): for each node i of the batch, -log( exp(cos(a_i, b_i) / t) / sum_j exp(cos(a_i,
b_j) / t) ), j over the batch's nodes of the same kind in the other view (the positive
included), averaged over i. It is the shared `InfoNCE` objective with `anchor_views=1` (only
the first view's rows are anchors) and `cross_view_only=True` (candidates from the other view
only). Gathering across processes is done on node ids instead of rows: every process holds the
whole propagated tables, so with `gather` each process takes the distinct nodes of every
process's batch from its own tables (the objective's row gather needs equal row counts on
every process, and distinct-node counts differ).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.distributed import gather_no_grad
from contrastlearn.modalities.recsys.batch import RecBatch
from contrastlearn.modalities.recsys.encoders import LayerHook
from contrastlearn.objectives.infonce import InfoNCE


def check_non_negative(method: str, **values: float) -> None:
    """A one-line ValueError naming the first of `values` below 0 (or NaN)."""
    for name, value in values.items():
        if not value >= 0:
            raise ValueError(f"{method} {name} must be >= 0; got {value}")


def check_positive(method: str, **values: float) -> None:
    """A one-line ValueError naming the first of `values` not above 0 (or NaN)."""
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{method} {name} must be > 0; got {value}")


def batch_nodes(batch: RecBatch, gather: bool = False) -> tuple[Tensor, Tensor]:
    """(users, items): the distinct users and distinct positive items of the batch (of every
    process's batch when `gather` and running distributed), sorted."""
    users, items = batch.users, batch.items
    if gather:
        users, items = gather_no_grad(users), gather_no_grad(items)
    return torch.unique(users), torch.unique(items)


class NodeContrast(nn.Module):
    """In-batch InfoNCE between two (N, D) node tables at the rows `nodes` (module docstring):
    anchors from `anchor_table`, positive and negatives from `candidate_table`."""

    def __init__(self, temperature: float) -> None:
        super().__init__()
        self.objective = InfoNCE(temperature=temperature, cross_view_only=True, anchor_views=1)

    def forward(self, anchor_table: Tensor, candidate_table: Tensor, nodes: Tensor) -> Tensor:
        views = [anchor_table[nodes], candidate_table[nodes]]
        return self.objective(views, ids=nodes).loss


def all_node_infonce(anchors: Tensor, candidates: Tensor, positives: Tensor,
                     temperature: float) -> Tensor:
    """(B,) -log( exp(cos(anchors_b, candidates_p) / t) / sum_n exp(cos(anchors_b,
    candidates_n) / t) ) with p = positives[b]: each (B, D) anchor must pick its positive
    row among all N rows of the (N, D) `candidates` (NCL's and LightGCL's denominators run
    over every user or item, not the batch)."""
    logits = F.normalize(anchors, dim=-1) @ F.normalize(candidates, dim=-1).T / temperature
    return torch.logsumexp(logits, dim=1) - logits.gather(1, positives[:, None]).squeeze(1)


def uniform_noise(eps: float) -> LayerHook:
    """SimGCL's perturbation (Yu et al. 2022, arXiv 2112.08679, eq. 7) as a LightGCN layer
    hook: each row e gets eps * sign(e) * (u / ||u||), u uniform in [0, 1)^D from torch's
    default generator, so the noise has length eps and stays in e's orthant."""
    def perturb(layer: int, nodes: Tensor) -> Tensor:
        direction = F.normalize(torch.rand_like(nodes), dim=-1)
        return nodes + torch.sign(nodes) * direction * eps
    return perturb
