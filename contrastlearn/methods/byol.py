"""BYOL (Grill et al. 2020, arXiv 2006.07733)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastlearn.core.ema import make_momentum_copy, update_momentum
from contrastlearn.core.registry import METHODS
from contrastlearn.core.schedule import cosine_momentum
from contrastlearn.heads import PredictionMLP, ProjectionMLP
from contrastlearn.methods.base import Method, encode_views
from contrastlearn.objectives import NegativeCosine
from contrastlearn.objectives.base import LossOutput


@METHODS.register("byol")
class BYOL(Method):
    """online = predictor(projector(encoder(view))); target = EMA of encoder and projector.
    Each view's prediction regresses the other view's target; no negatives. `batch_norm=False`
    drops the heads' BatchNorm, which makes the loss a mean of per-sample terms (so gradient
    accumulation is exact)."""

    default_views = "byol_views"
    per_sample_loss = True

    def __init__(
        self, encoder: nn.Module, projection_dim: int = 256, hidden_dim: int = 4096,
        predictor_hidden_dim: int = 4096, base_momentum: float = 0.99, batch_norm: bool = True,
    ) -> None:
        super().__init__(encoder)
        self.projector = ProjectionMLP(encoder.out_dim, hidden_dim, projection_dim,
                                       batch_norm=batch_norm)
        self.predictor = PredictionMLP(projection_dim, predictor_hidden_dim,
                                       batch_norm=batch_norm)
        self.target = make_momentum_copy(nn.Sequential(self.encoder, self.projector))
        self.base_momentum = base_momentum
        self.objective = NegativeCosine()

    def training_step(self, views: list[Tensor], *, labels, ids) -> LossOutput:
        projections = encode_views(lambda x: self.projector(self.encoder(x)), views)
        predictions = encode_views(self.predictor, projections)
        with torch.no_grad():
            targets = encode_views(self.target, views)
        return self.objective(predictions, targets=targets).with_embeddings(projections)

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        momentum = cosine_momentum(step, total_steps, self.base_momentum)
        update_momentum(nn.Sequential(self.encoder, self.projector), self.target, momentum)
