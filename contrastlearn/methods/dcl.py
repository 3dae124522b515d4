"""Decoupled contrastive learning, DCL and DCLW (Yeh et al. 2021, arXiv 2110.06848)."""

from __future__ import annotations

from torch import Tensor, nn

from contrastlearn.core.registry import METHODS
from contrastlearn.heads import ProjectionMLP
from contrastlearn.methods.base import Method, encode_views
from contrastlearn.objectives import DCL
from contrastlearn.objectives.base import LossOutput


@METHODS.register("dcl")
class DecoupledContrastive(Method):
    """SimCLR's pipeline with the positive removed from the denominator (optionally weighted)."""

    def __init__(
        self, encoder: nn.Module, projection_dim: int = 128, hidden_dim: int = 2048,
        temperature: float = 0.1, weighted: bool = False, sigma: float = 0.5,
        gather: bool = True,
    ) -> None:
        super().__init__(encoder)
        self.projector = ProjectionMLP(encoder.out_dim, hidden_dim, projection_dim)
        self.objective = DCL(temperature, weighted=weighted, sigma=sigma, gather=gather)

    def training_step(self, views: list[Tensor], *, labels, ids) -> LossOutput:
        z = encode_views(lambda x: self.projector(self.encoder(x)), views)
        return self.objective(z, ids=ids).with_embeddings(z)
