"""Barlow Twins (Zbontar et al. 2021, arXiv 2103.03230)."""

from __future__ import annotations

from torch import Tensor, nn

from contrastlearn.core.registry import METHODS
from contrastlearn.heads import ProjectionMLP
from contrastlearn.methods.base import Method, encode_views
from contrastlearn.objectives import BarlowTwins as BarlowTwinsLoss
from contrastlearn.objectives.base import LossOutput


@METHODS.register("barlow_twins")
class BarlowTwins(Method):
    """Make the cross-correlation of two views' embeddings close to the identity."""

    def __init__(
        self, encoder: nn.Module, projection_dim: int = 2048, hidden_dim: int = 2048,
        lambda_offdiag: float = 5e-3, gather: bool = True,
    ) -> None:
        super().__init__(encoder)
        self.projector = ProjectionMLP(encoder.out_dim, hidden_dim, projection_dim, num_layers=3)
        self.objective = BarlowTwinsLoss(lambda_offdiag, gather=gather)

    def training_step(self, views: list[Tensor], *, labels, ids) -> LossOutput:
        z = encode_views(lambda x: self.projector(self.encoder(x)), views)
        return self.objective(z, ids=ids).with_embeddings(z)
