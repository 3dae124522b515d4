"""LightGCN trained with BPR (He et al. 2020, "LightGCN: Simplifying and Powering Graph
Convolution Network for Recommendation", arXiv 2002.02126): the supervised baseline every
graph contrastive recommender adds a term to."""

from __future__ import annotations

from torch import nn

from contrastlearn.core.registry import METHODS
from contrastlearn.modalities.recsys.methods.common import RecMethod
from contrastlearn.objectives.base import LossOutput


def require_lightgcn(encoder: nn.Module, method: str) -> None:
    """A clear error unless `encoder` propagates over a user-item graph (lightgcn)."""
    if not callable(getattr(encoder, "layer_outputs", None)):
        raise TypeError(f"{method} needs a graph recommender encoder with layer_outputs() "
                        f"(encoder.name: lightgcn); got {type(encoder).__name__}")


@METHODS.register("lightgcn_bpr")
class LightGCNBPR(RecMethod):
    """views = [batch] -> LightGCN over the training graph -> BPR on (user, positive,
    uniform negative) + `reg_weight` * L2 of the layer-0 rows used."""

    method_name = "lightgcn_bpr"

    def __init__(self, encoder: nn.Module, reg_weight: float = 1e-5) -> None:
        super().__init__(encoder, reg_weight)
        require_lightgcn(encoder, self.method_name)

    def training_step(self, views, *, labels, ids) -> LossOutput:
        batch = self.batch_of(views)
        users, items = self.encoder.propagate()
        loss, metrics = self.ranking_loss(batch, users, items,
                                          self.encoder.user_embedding.weight,
                                          self.encoder.item_embedding.weight)
        return LossOutput(loss, metrics)
