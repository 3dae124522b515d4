"""SimGCL (Yu et al. 2022, "Are Graph Augmentations Necessary? Simple Graph Contrastive
Learning for Recommendation", arXiv 2112.08679): LightGCN + BPR, plus an InfoNCE between two
extra propagations whose every layer output gets uniform noise of length `eps` in the row's
own orthant (`graph_contrast.uniform_noise`, paper eq. 7), instead of perturbing the graph.

The contrastive term is the one-directional in-batch InfoNCE of the first noisy view against
the second on L2-normalised embeddings, over the batch's distinct users and, separately, its
distinct positive items (`graph_contrast.NodeContrast`), as the authors' SELFRec code.
Defaults are the paper's / RecBole-GNN's SimGCL settings: lambda 0.5 (`cl_weight`), eps 0.1,
temperature 0.2, L2 1e-4 (`reg_weight`).

The paper leaves the layer-0 embeddings out of the final mean; this method uses the encoder's
mean over every layer (layer 0 included) for both BPR and the views, so that training and
the encoder's evaluation rank with the same embeddings.
"""

from __future__ import annotations

from torch import nn

from contrastlearn.core.registry import METHODS
from contrastlearn.modalities.recsys.methods.common import RecMethod
from contrastlearn.modalities.recsys.methods.graph_contrast import (
    NodeContrast,
    batch_nodes,
    check_non_negative,
    check_positive,
    uniform_noise,
)
from contrastlearn.modalities.recsys.methods.lightgcn import require_lightgcn
from contrastlearn.objectives.base import LossOutput


@METHODS.register("simgcl")
class SimGCL(RecMethod):
    """views = [batch] -> LightGCN for BPR + `reg_weight` * L2, and two noisy LightGCN passes
    (noise length `eps`) for `cl_weight` * (user InfoNCE + item InfoNCE) at `temperature`;
    `gather` takes the contrasted nodes from every process's batch."""

    method_name = "simgcl"

    def __init__(self, encoder: nn.Module, cl_weight: float = 0.5, temperature: float = 0.2,
                 eps: float = 0.1, reg_weight: float = 1e-4, gather: bool = True) -> None:
        check_positive(self.method_name, temperature=temperature)
        check_non_negative(self.method_name, cl_weight=cl_weight, eps=eps)
        super().__init__(encoder, reg_weight)
        require_lightgcn(encoder, self.method_name)
        self.cl_weight, self.eps, self.gather = cl_weight, eps, gather
        self.contrast = NodeContrast(temperature)

    def training_step(self, views, *, labels, ids) -> LossOutput:
        batch = self.batch_of(views)
        encoder = self.encoder
        users, items = encoder.propagate()
        loss, metrics = self.ranking_loss(batch, users, items, encoder.user_embedding.weight,
                                          encoder.item_embedding.weight)
        noise = uniform_noise(self.eps)
        users_1, items_1 = encoder.propagate(hook=noise)
        users_2, items_2 = encoder.propagate(hook=noise)
        batch_users, batch_items = batch_nodes(batch, self.gather)
        cl_user = self.contrast(users_1, users_2, batch_users)
        cl_item = self.contrast(items_1, items_2, batch_items)
        metrics.update(cl_user=cl_user.detach(), cl_item=cl_item.detach())
        return LossOutput(loss + self.cl_weight * (cl_user + cl_item), metrics)
