"""DCCF (Ren et al. 2023, "Disentangled Contrastive Collaborative Filtering", SIGIR 2023,
arXiv 2305.02759; official code HKUDS/DCCF): BPR on the sum of DCCF's layer outputs, plus a
cross-view InfoNCE that, at every layer, pulls each batch user's (and positive item's)
graph-propagated representation Z towards its intent-aware R, graph-augmented H^beta and
intent-augmented H^gamma representations, plus L2 penalties on the embeddings the batch uses
and on the intent prototypes. The parts are built by the `dccf` encoder
(`contrastlearn.modalities.recsys.dccf_encoder`), which also ranks at evaluation.

Defaults are the official code's (utility/parser.py): temperature 1.0 (`--temp`), cl_weight
0.1 (`--ssl_reg`), emb_reg 2.5e-5 and cen_reg 5e-3; as there, emb_reg multiplies the sum of the
squared layer-0 rows over the batch (not divided by the batch size)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import METHODS
from contrastlearn.modalities.recsys.dccf_encoder import DCCFPropagation
from contrastlearn.modalities.recsys.methods.common import (
    RecMethod,
    bpr_loss,
    embedding_penalty,
)
from contrastlearn.objectives.base import LossOutput


def cross_view_infonce(anchors: Tensor, positives: Tensor, temperature: float) -> Tensor:
    """Mean over rows i of -log softmax_j(cos(anchors_i, positives_j) / temperature) at j = i:
    each anchor must pick its own row of the other view among all of that view's rows (one
    direction, the positive in the denominator, as DCCF's official loss)."""
    logits = F.normalize(anchors, dim=1) @ F.normalize(positives, dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(anchors.shape[0], device=anchors.device))


def intent_contrastive_loss(propagation: DCCFPropagation, users: Tensor, items: Tensor,
                            num_users: int, temperature: float) -> Tensor:
    """DCCF's contrastive term: over layers, the sum of `cross_view_infonce` of the propagated
    rows against the intent-aware, graph-augmented and intent-augmented rows, for the
    (distinct) `users` and for the (distinct) `items` separately."""
    nodes = (users, items + num_users)
    total = propagation.outputs[0].new_zeros(())
    for layer, anchors in enumerate(propagation.propagated):
        for view in (propagation.intents, propagation.graph_augmented,
                     propagation.intent_augmented):
            for rows in nodes:
                total = total + cross_view_infonce(anchors[rows], view[layer][rows], temperature)
    return total


def require_dccf_encoder(encoder: nn.Module, method: str) -> None:
    """A clear error unless `encoder` is DCCF's (it ranks with the intent and augmented parts,
    which a plain lightgcn cannot reproduce)."""
    if not callable(getattr(encoder, "dccf_layers", None)):
        raise TypeError(f"{method} needs the dccf encoder (encoder.name: dccf, a lightgcn with "
                        f"intent prototypes that ranks as DCCF does); got {type(encoder).__name__}")


@METHODS.register("dccf")
class DCCF(RecMethod):
    """views = [batch] -> DCCF propagation -> BPR on (user, positive, uniform negative) +
    `cl_weight` * intent contrastive InfoNCE + `emb_reg` * L2 of the layer-0 rows used +
    `cen_reg` * L2 of the intent prototypes."""

    method_name = "dccf"

    def __init__(self, encoder: nn.Module, temperature: float = 1.0, cl_weight: float = 0.1,
                 emb_reg: float = 2.5e-5, cen_reg: float = 5e-3) -> None:
        for name, value in (("cl_weight", cl_weight), ("emb_reg", emb_reg),
                            ("cen_reg", cen_reg)):
            if value < 0:
                raise ValueError(f"dccf {name} must be >= 0; got {value}")
        if temperature <= 0:
            raise ValueError(f"dccf temperature must be > 0; got {temperature}")
        super().__init__(encoder, reg_weight=emb_reg)
        require_dccf_encoder(encoder, self.method_name)
        self.temperature = temperature
        self.cl_weight = cl_weight
        self.cen_reg = cen_reg

    def training_step(self, views, *, labels, ids) -> LossOutput:
        batch = self.batch_of(views)
        encoder = self.encoder
        propagation = encoder.dccf_layers()
        users, items = encoder.split(propagation.final())
        negatives = self.negatives(batch)
        bpr = bpr_loss(users[batch.users], items[batch.items], items[negatives])
        l2 = embedding_penalty([encoder.user_embedding.weight[batch.users],
                                encoder.item_embedding.weight[batch.items],
                                encoder.item_embedding.weight[negatives]], batch_size=1)
        intent_l2 = encoder.user_intents.pow(2).sum() + encoder.item_intents.pow(2).sum()
        contrastive = intent_contrastive_loss(propagation, batch.users.unique(),
                                              batch.items.unique(), encoder.num_users,
                                              self.temperature)
        loss = (bpr + self.reg_weight * l2 + self.cen_reg * intent_l2
                + self.cl_weight * contrastive)
        metrics = {"bpr": bpr.detach(), "l2": l2.detach(), "intent_l2": intent_l2.detach(),
                   "contrastive": contrastive.detach()}
        return LossOutput(loss, metrics)
