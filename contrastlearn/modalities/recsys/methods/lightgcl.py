"""LightGCL (Cai et al. 2023, "LightGCL: Simple Yet Effective Graph Contrastive Learning for
Recommendation", ICLR 2023, arXiv 2302.08191): LightGCN + BPR, contrasted with an SVD view.

`prepare` computes once a rank-q truncated SVD of the normalised user-item matrix
A = D_u^-1/2 R D_i^-1/2 (`torch.svd_lowrank`, U S V^T). At every layer l the SVD view
propagates the main view's previous layer over the low-rank graph, never forming it:
g_u^l = (U S)(V^T e_i^(l-1)), g_i^l = (V S)(U^T e_u^(l-1)) (paper eq. 5, its official code),
so the main layers e^l = z^l are the LightGCN layer outputs.

The contrastive term is the paper's (section 3.3): for every layer l = 1..L and every distinct
user u of the batch, -log( exp(cos(z_u^l, g_u^l) / t) / sum_{u'} exp(cos(z_u^l, g_{u'}^l) /
t) ) with u' over ALL users, averaged over the batch's users and summed over layers; the same
for the distinct positive items against all items. The official code's current version
differs: one term on the layer sums, raw dot products with the positive clamped to [-5, 5]
and the SVD view as anchor; the paper's form is kept here. The paper's sum over nodes is a
mean over the batch's nodes (the official code's reduction, to which its lambda_1 is tuned).

Loss = BPR + `cl_weight` (lambda_1) * contrastive + `l2_weight` (lambda_2) * (squared L2 norm
of both whole embedding tables, the paper's ||Theta||^2 as the official code sums it).
Defaults are the official code's (parser.py): lambda_1 0.2, lambda_2 1e-7, temperature 0.2,
q 5, edge dropout 0 (so the main view is LightGCN's). Differences kept by using the LightGCN
encoder: the final embedding is its mean over layers (the official code sums them), and the
paper's per-batch random node dropout of the contrastive term is not applied (the official
code's current version does not either).

Memory: each layer's term is a (batch users x all users) and a (batch items x all items)
logit matrix, as in the official code.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from contrastlearn.core.registry import METHODS
from contrastlearn.modalities.recsys.graph_ops import normalized_adjacency
from contrastlearn.modalities.recsys.interactions import Interactions
from contrastlearn.modalities.recsys.methods.common import RecMethod
from contrastlearn.modalities.recsys.methods.graph_contrast import (
    all_node_infonce,
    batch_nodes,
    check_non_negative,
    check_positive,
)
from contrastlearn.modalities.recsys.methods.lightgcn import require_lightgcn
from contrastlearn.objectives.base import LossOutput

SVD_SEED = 0
"""Seed of the randomised SVD, drawn in a forked CPU generator: the same factors in a run and
in its resumed copy, without moving torch's default random streams (the SVD runs once, on the
CPU: a few sparse products with q columns)."""


def interaction_matrix(graph: Interactions, device: torch.device | str | None = None) -> Tensor:
    """(U, I) sparse D_u^-1/2 R D_i^-1/2: the user-item block of `normalized_adjacency`."""
    adjacency = normalized_adjacency(graph, device)
    rows, cols = adjacency.indices()
    block = (rows < graph.num_users) & (cols >= graph.num_users)
    indices = torch.stack([rows[block], cols[block] - graph.num_users])
    return torch.sparse_coo_tensor(indices, adjacency.values()[block],
                                   (graph.num_users, graph.num_items),
                                   check_invariants=False).coalesce()


def low_rank_factors(matrix: Tensor, rank: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(U S, V S, U^T, V^T) of the rank-`rank` randomised SVD of the (U, I) `matrix`, computed
    on the CPU from a fixed seed in a forked CPU generator (module constant SVD_SEED)."""
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(SVD_SEED)
        left, singular, right = torch.svd_lowrank(matrix.cpu(), q=rank)
    return left * singular, right * singular, left.T.contiguous(), right.T.contiguous()


@METHODS.register("lightgcl")
class LightGCL(RecMethod):
    """views = [batch] -> LightGCN for BPR, its layers against the rank-`rank` SVD view's
    for `cl_weight` * (user + item InfoNCE over all users / items at `temperature`), +
    `l2_weight` * squared L2 of the embedding tables (module docstring)."""

    method_name = "lightgcl"

    def __init__(self, encoder: nn.Module, cl_weight: float = 0.2, temperature: float = 0.2,
                 rank: int = 5, l2_weight: float = 1e-7) -> None:
        check_positive(self.method_name, temperature=temperature)
        check_non_negative(self.method_name, cl_weight=cl_weight, l2_weight=l2_weight)
        super().__init__(encoder, reg_weight=0.0)
        require_lightgcn(encoder, self.method_name)
        smallest = min(encoder.num_users, encoder.num_items)
        if not 1 <= rank <= smallest:
            raise ValueError(f"lightgcl rank must be in [1, {smallest}] (the smaller of the "
                             f"graph's {encoder.num_users} users and {encoder.num_items} "
                             f"items); got {rank}")
        self.cl_weight, self.temperature, self.rank = cl_weight, temperature, rank
        self.l2_weight = l2_weight
        self.factors: tuple[Tensor, Tensor, Tensor, Tensor] | None = None

    def prepare(self, data: Any, device: torch.device) -> None:
        super().prepare(data, device)
        factors = low_rank_factors(interaction_matrix(self.train_graph), self.rank)
        self.factors = tuple(factor.to(device) for factor in factors)

    def training_step(self, views, *, labels, ids) -> LossOutput:
        batch = self.batch_of(views)
        if self.factors is None:
            raise ValueError("lightgcl needs its SVD view: call prepare(data, device) first")
        encoder = self.encoder
        outputs = encoder.layer_outputs()
        users, items = encoder.split(torch.stack(outputs).mean(dim=0))
        user_table, item_table = encoder.user_embedding.weight, encoder.item_embedding.weight
        loss, metrics = self.ranking_loss(batch, users, items, user_table, item_table)
        batch_users, batch_items = batch_nodes(batch)
        cl_user, cl_item = self.svd_contrast(outputs, batch_users, batch_items)
        l2 = user_table.pow(2).sum() + item_table.pow(2).sum()
        metrics.update(cl_user=cl_user.detach(), cl_item=cl_item.detach(), l2=l2.detach())
        total = loss + self.cl_weight * (cl_user + cl_item) + self.l2_weight * l2
        return LossOutput(total, metrics)

    def svd_contrast(self, outputs: list[Tensor], batch_users: Tensor, batch_items: Tensor
                     ) -> tuple[Tensor, Tensor]:
        """(user term, item term): over layers l >= 1, the mean InfoNCE of the batch nodes'
        main-view layer l against the SVD view's layer l of every user / item."""
        user_scaled, item_scaled, left_t, right_t = (
            factor.to(outputs[0].device) for factor in self.factors)
        cl_user = cl_item = outputs[0].new_zeros(())
        for layer in range(1, len(outputs)):
            previous_users, previous_items = self.encoder.split(outputs[layer - 1])
            main_users, main_items = self.encoder.split(outputs[layer])
            svd_users = user_scaled @ (right_t @ previous_items)
            svd_items = item_scaled @ (left_t @ previous_users)
            cl_user = cl_user + all_node_infonce(main_users[batch_users], svd_users,
                                                 batch_users, self.temperature).mean()
            cl_item = cl_item + all_node_infonce(main_items[batch_items], svd_items,
                                                 batch_items, self.temperature).mean()
        return cl_user, cl_item
