"""Supervised contrastive learning (Khosla et al. 2020, arXiv 2004.11362)."""

from __future__ import annotations

from torch import Tensor, nn

from contrastlearn.core.registry import METHODS
from contrastlearn.heads import ProjectionMLP
from contrastlearn.methods.base import Method, encode_views
from contrastlearn.objectives import SupCon
from contrastlearn.objectives.base import LossOutput


@METHODS.register("supcon")
class SupervisedContrastive(Method):
    """Views of samples with the same label are positives; uses the data's labels."""

    needs_labels = True

    def __init__(
        self, encoder: nn.Module, projection_dim: int = 128, hidden_dim: int = 2048,
        temperature: float = 0.1, gather: bool = True, learnable_temperature: bool = False,
    ) -> None:
        super().__init__(encoder)
        self.projector = ProjectionMLP(encoder.out_dim, hidden_dim, projection_dim)
        self.objective = SupCon(temperature, gather=gather,
                                learnable_temperature=learnable_temperature)

    def training_step(self, views: list[Tensor], *, labels, ids) -> LossOutput:
        z = encode_views(lambda x: self.projector(self.encoder(x)), views)
        return self.objective(z, labels=labels, ids=ids).with_embeddings(z)
