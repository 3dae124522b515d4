"""VICReg (Bardes et al. 2022, arXiv 2105.04906)."""

from __future__ import annotations

from torch import Tensor, nn

from contrastlearn.core.registry import METHODS
from contrastlearn.heads import ProjectionMLP
from contrastlearn.methods.base import Method, encode_views
from contrastlearn.objectives import VICReg as VICRegLoss
from contrastlearn.objectives.base import LossOutput


@METHODS.register("vicreg")
class VICReg(Method):
    """Invariance between views, variance kept above 1 per dimension, covariance decorrelated."""

    def __init__(
        self, encoder: nn.Module, projection_dim: int = 2048, hidden_dim: int = 2048,
        invariance_weight: float = 25.0, variance_weight: float = 25.0,
        covariance_weight: float = 1.0, gather: bool = True,
    ) -> None:
        super().__init__(encoder)
        self.projector = ProjectionMLP(encoder.out_dim, hidden_dim, projection_dim, num_layers=3)
        self.objective = VICRegLoss(
            invariance_weight, variance_weight, covariance_weight, gather=gather
        )

    def training_step(self, views: list[Tensor], *, labels, ids) -> LossOutput:
        z = encode_views(lambda x: self.projector(self.encoder(x)), views)
        return self.objective(z, ids=ids).with_embeddings(z)
