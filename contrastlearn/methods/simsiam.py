"""SimSiam (Chen & He 2021, arXiv 2011.10566)."""

from __future__ import annotations

from torch import Tensor, nn

from contrastlearn.core.registry import METHODS
from contrastlearn.heads import PredictionMLP, ProjectionMLP
from contrastlearn.methods.base import Method, encode_views
from contrastlearn.objectives import NegativeCosine
from contrastlearn.objectives.base import LossOutput


@METHODS.register("simsiam")
class SimSiam(Method):
    """BYOL without the momentum encoder: the stop-gradient on the target branch is enough."""

    per_sample_loss = True

    def __init__(
        self, encoder: nn.Module, projection_dim: int = 2048, hidden_dim: int = 2048,
        predictor_hidden_dim: int = 512,
    ) -> None:
        super().__init__(encoder)
        self.projector = ProjectionMLP(
            encoder.out_dim, hidden_dim, projection_dim, num_layers=3, last_batch_norm=True
        )
        self.predictor = PredictionMLP(projection_dim, predictor_hidden_dim)
        self.objective = NegativeCosine()

    def training_step(self, views: list[Tensor], *, labels, ids) -> LossOutput:
        projections = encode_views(lambda x: self.projector(self.encoder(x)), views)
        predictions = [self.predictor(z) for z in projections]
        output = self.objective(predictions, targets=[z.detach() for z in projections])
        return output.with_embeddings(projections)
