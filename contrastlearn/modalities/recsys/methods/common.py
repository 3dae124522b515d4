"""What every recsys method shares: the training graph handed to the encoder, the BPR loss
with uniform negatives, and the L2 penalty on the embeddings a batch uses.

BPR (Rendle et al. 2009, "BPR: Bayesian Personalized Ranking from Implicit Feedback", arXiv
1205.2618): mean of -log sigmoid(s(u, i) - s(u, j)) over (user, positive, negative) triples,
s the dot product. The penalty is LightGCN's (He et al. 2020, arXiv 2002.02126): the squared
L2 norm of the layer-0 embeddings of the batch's users, positives and negatives, over the
batch size, times `reg_weight` (RecBole's `EmbLoss`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.augment.base import Identity
from contrastlearn.augment.views import Views
from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.data.arrays import DataError
from contrastlearn.methods.base import Method
from contrastlearn.modalities.recsys.batch import RecBatch, check_rec_batch
from contrastlearn.modalities.recsys.interactions import Interactions
from contrastlearn.modalities.recsys.sampling import uniform_negatives


@AUGMENTATIONS.register("rec_identity_views")
def rec_identity_views() -> Views:
    """One view: the batch itself (methods that perturb embeddings or make their own graph
    views: LightGCN, SimGCL, XSimGCL, LightGCL, NCL, DCCF)."""
    return Views([Identity()])


def bpr_loss(users: Tensor, positives: Tensor, negatives: Tensor) -> Tensor:
    """Mean BPR loss of (B, D) user rows against (B, D) positive and (B, D) or (B, n, D)
    negative item rows."""
    positive_scores = (users * positives).sum(dim=-1)
    if negatives.dim() == 3:
        negative_scores = torch.einsum("bd,bnd->bn", users, negatives)
        return -F.logsigmoid(positive_scores[:, None] - negative_scores).mean()
    negative_scores = (users * negatives).sum(dim=-1)
    return -F.logsigmoid(positive_scores - negative_scores).mean()


def embedding_penalty(rows: Sequence[Tensor], batch_size: int) -> Tensor:
    """Sum of squared L2 norms of `rows` (layer-0 embeddings), divided by `batch_size`."""
    return sum(row.pow(2).sum() for row in rows) / batch_size


class RecMethod(Method):
    """Base of the recsys methods: `prepare` gives the encoder the training graph and keeps
    it for negative sampling; `ranking_loss` is BPR + `reg_weight` times the embedding
    penalty for given user and item tables."""

    default_views = "rec_identity_views"
    method_name = "recsys method"

    def __init__(self, encoder: nn.Module, reg_weight: float = 1e-5) -> None:
        super().__init__(encoder)
        if reg_weight < 0:
            raise ValueError(f"{self.method_name} reg_weight must be >= 0; got {reg_weight}")
        self.reg_weight = reg_weight
        self.train_graph: Interactions | None = None

    def prepare(self, data: Any, device: torch.device) -> None:
        graph = getattr(data, "graph", None)
        if not isinstance(graph, Interactions):
            raise DataError(f"{self.method_name} trains on interaction data (data.modality: "
                            f"recsys); got {type(data).__name__}")
        self.train_graph = graph
        if callable(getattr(self.encoder, "set_graph", None)):
            self.encoder.set_graph(graph)

    def batch_of(self, views: list) -> RecBatch:
        """The first view, checked to be a RecBatch."""
        if not views:
            raise ValueError(f"{self.method_name} needs at least one view")
        return check_rec_batch(views[0], self.method_name)

    def negatives(self, batch: RecBatch) -> Tensor:
        """(B,) one uniform negative item per sample (none a training item of its user)."""
        graph = self.train_graph if self.train_graph is not None else batch.graph
        if graph is None:
            raise ValueError(f"{self.method_name} needs the training graph: call prepare(data) "
                             "or give batches their graph")
        return uniform_negatives(batch.users, graph)[:, 0]

    def ranking_loss(self, batch: RecBatch, users: Tensor, items: Tensor,
                     ego_users: Tensor, ego_items: Tensor) -> tuple[Tensor, dict[str, float]]:
        """BPR on the batch's (user, positive, drawn negative) triples scored with the (U, D)
        `users` and (I, D) `items` tables, plus the penalty on the `ego_*` (layer-0) rows."""
        negatives = self.negatives(batch)
        bpr = bpr_loss(users[batch.users], items[batch.items], items[negatives])
        penalty = embedding_penalty(
            [ego_users[batch.users], ego_items[batch.items], ego_items[negatives]], len(batch))
        metrics = {"bpr": bpr.detach(), "l2": penalty.detach()}
        return bpr + self.reg_weight * penalty, metrics
