"""SGL (Wu et al. 2021, "Self-supervised Graph Learning for Recommendation", arXiv 2010.10783):
LightGCN + BPR on the training graph, plus an InfoNCE between two views of every node that the
same LightGCN gives on two perturbed graphs (node dropout, edge dropout or random walk: the
room's `sgl_views` policy, in `graph_views`).

The contrastive term (paper eq. 10) is, for the batch's distinct users and, separately, its
distinct positive items, the one-directional in-batch InfoNCE of view 1 against view 2 on
L2-normalised embeddings (`graph_contrast.NodeContrast`), as the official PyTorch code
(SGL-Torch) computes it. Defaults are the official Yelp2018 settings (README, conf/SGL):
ssl_temp 0.2 (`temperature`), ssl_reg 0.1 (`cl_weight`), reg 1e-4 (`reg_weight`); ssl_ratio
0.1 is `sgl_views`' drop_ratio. The official code sums BPR and InfoNCE over the batch; here
both are means (BPR as every recsys method here, InfoNCE over the distinct nodes), which
changes the ratio of the two terms by (distinct nodes / batch size), close to 1 for large
item sets.
"""

from __future__ import annotations

from torch import Tensor, nn

from contrastlearn.core.registry import METHODS
from contrastlearn.modalities.recsys import graph_views  # noqa: F401  (registers sgl_views)
from contrastlearn.modalities.recsys.batch import RecBatch, check_rec_batch
from contrastlearn.modalities.recsys.graph_ops import normalized_adjacency
from contrastlearn.modalities.recsys.interactions import Interactions
from contrastlearn.modalities.recsys.methods.common import RecMethod
from contrastlearn.modalities.recsys.methods.graph_contrast import (
    NodeContrast,
    batch_nodes,
    check_non_negative,
    check_positive,
)
from contrastlearn.modalities.recsys.methods.lightgcn import require_lightgcn
from contrastlearn.objectives.base import LossOutput


@METHODS.register("sgl")
class SGL(RecMethod):
    """views = [batch, view1, view2] (`sgl_views`) -> LightGCN on the training graph for BPR
    + `reg_weight` * L2, and on each view's perturbed graph for `cl_weight` * (user InfoNCE +
    item InfoNCE) at `temperature`; `gather` takes the contrasted nodes from every process's
    batch."""

    method_name = "sgl"
    default_views = "sgl_views"

    def __init__(self, encoder: nn.Module, temperature: float = 0.2, cl_weight: float = 0.1,
                 reg_weight: float = 1e-4, gather: bool = True) -> None:
        check_positive(self.method_name, temperature=temperature)
        check_non_negative(self.method_name, cl_weight=cl_weight)
        super().__init__(encoder, reg_weight)
        require_lightgcn(encoder, self.method_name)
        self.cl_weight = cl_weight
        self.gather = gather
        self.contrast = NodeContrast(temperature)

    def training_step(self, views, *, labels, ids) -> LossOutput:
        if len(views) != 3:
            raise ValueError(f"sgl needs the three views [batch, view1, view2] of the sgl_views "
                             f"policy (views.name: sgl_views); got {len(views)} view(s)")
        batch = self.batch_of(views)
        encoder = self.encoder
        users, items = encoder.propagate()
        loss, metrics = self.ranking_loss(batch, users, items, encoder.user_embedding.weight,
                                          encoder.item_embedding.weight)
        (users_1, items_1), (users_2, items_2) = (
            encoder.propagate(self.view_adjacency(check_rec_batch(view, self.method_name)))
            for view in views[1:])
        batch_users, batch_items = batch_nodes(batch, self.gather)
        cl_user = self.contrast(users_1, users_2, batch_users)
        cl_item = self.contrast(items_1, items_2, batch_items)
        metrics.update(cl_user=cl_user.detach(), cl_item=cl_item.detach())
        return LossOutput(loss + self.cl_weight * (cl_user + cl_item), metrics)

    def view_adjacency(self, view: RecBatch) -> Tensor | list[Tensor] | None:
        """The normalised adjacency of a view's perturbed graph (one per layer for a random
        walk; None, the training graph's, for a view without one: strength 0)."""
        graph_view = view.graph_view
        device = self.encoder.user_embedding.weight.device
        if graph_view is None:
            return None
        if isinstance(graph_view, Interactions):
            return normalized_adjacency(graph_view, device)
        if len(graph_view) != self.encoder.layers:
            raise ValueError(f"sgl got a random-walk view with {len(graph_view)} graphs for a "
                             f"lightgcn with {self.encoder.layers} layers: set the sgl_views "
                             f"layers to the encoder's ({self.encoder.layers})")
        return [normalized_adjacency(graph, device) for graph in graph_view]
