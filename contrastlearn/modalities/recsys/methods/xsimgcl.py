"""XSimGCL (Yu et al. 2023, "XSimGCL: Towards Extremely Simple Graph Contrastive Learning for
Recommendation", arXiv 2209.02544): one LightGCN pass with SimGCL's uniform noise at every
layer; BPR is computed on its final embeddings, and the contrastive views are that final
embedding and the (noisy) output of layer `cl_layer` (l*), so no extra propagation is needed.

The contrastive term is the one-directional in-batch InfoNCE of the final embedding against
the layer-l* one on L2-normalised rows, over the batch's distinct users and, separately, its
distinct positive items (`graph_contrast.NodeContrast`), as the authors' SELFRec code.
Defaults: lambda 0.2 (`cl_weight`), eps 0.2, l* 1, temperature 0.2, L2 1e-4 (`reg_weight`)
(the paper's / SELFRec's lambda, eps and l*, RecBole-GNN's temperature; SELFRec's Yelp2018
configuration uses 0.15).

As in `simgcl`, the final embedding is the encoder's mean over every layer, layer 0 included
(the paper leaves it out), so that training and evaluation use the same embeddings.
"""

from __future__ import annotations

import torch
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


@METHODS.register("xsimgcl")
class XSimGCL(RecMethod):
    """views = [batch] -> one noisy LightGCN pass (noise length `eps`): BPR + `reg_weight` *
    L2 on its final embeddings, + `cl_weight` * (user + item InfoNCE at `temperature`) of the
    final embeddings against layer `cl_layer`'s; `gather` takes the contrasted nodes from
    every process's batch."""

    method_name = "xsimgcl"

    def __init__(self, encoder: nn.Module, cl_weight: float = 0.2, temperature: float = 0.2,
                 eps: float = 0.2, cl_layer: int = 1, reg_weight: float = 1e-4,
                 gather: bool = True) -> None:
        check_positive(self.method_name, temperature=temperature)
        check_non_negative(self.method_name, cl_weight=cl_weight, eps=eps)
        super().__init__(encoder, reg_weight)
        require_lightgcn(encoder, self.method_name)
        if not 1 <= cl_layer <= encoder.layers:
            raise ValueError(f"xsimgcl cl_layer must be a propagated layer, 1 to the encoder's "
                             f"{encoder.layers}; got {cl_layer}")
        self.cl_weight, self.eps, self.cl_layer, self.gather = cl_weight, eps, cl_layer, gather
        self.contrast = NodeContrast(temperature)

    def training_step(self, views, *, labels, ids) -> LossOutput:
        batch = self.batch_of(views)
        encoder = self.encoder
        outputs = encoder.layer_outputs(hook=uniform_noise(self.eps))
        users, items = encoder.split(torch.stack(outputs).mean(dim=0))
        loss, metrics = self.ranking_loss(batch, users, items, encoder.user_embedding.weight,
                                          encoder.item_embedding.weight)
        layer_users, layer_items = encoder.split(outputs[self.cl_layer])
        batch_users, batch_items = batch_nodes(batch, self.gather)
        cl_user = self.contrast(users, layer_users, batch_users)
        cl_item = self.contrast(items, layer_items, batch_items)
        metrics.update(cl_user=cl_user.detach(), cl_item=cl_item.detach())
        return LossOutput(loss + self.cl_weight * (cl_user + cl_item), metrics)
