"""SimCLR (Chen et al. 2020, arXiv 2002.05709)."""

from __future__ import annotations

from torch import Tensor, nn

from contrastlearn.core.registry import METHODS
from contrastlearn.heads import ProjectionMLP
from contrastlearn.methods.base import Method, encode_views
from contrastlearn.objectives import InfoNCE
from contrastlearn.objectives.base import LossOutput


@METHODS.register("simclr")
class SimCLR(Method):
    """Two augmented views -> encoder -> projector -> NT-Xent with in-batch negatives."""

    def __init__(
        self, encoder: nn.Module, projection_dim: int = 128, hidden_dim: int = 2048,
        temperature: float = 0.5, learnable_temperature: bool = False, gather: bool = True,
    ) -> None:
        super().__init__(encoder)
        self.projector = ProjectionMLP(encoder.out_dim, hidden_dim, projection_dim)
        self.objective = InfoNCE(temperature, learnable_temperature, gather=gather)

    def embed(self, x: Tensor) -> Tensor:
        return self.projector(self.encoder(x))

    def training_step(self, views: list[Tensor], *, labels, ids) -> LossOutput:
        z = encode_views(self.embed, views)
        return self.objective(z, ids=ids).with_embeddings(z)

    def gradient_cache_parts(self):
        return self.embed, lambda z, labels, ids: self.objective(z, ids=ids)
