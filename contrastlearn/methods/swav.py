"""SwAV (Caron et al. 2020, arXiv 2006.09882)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastlearn.core.registry import METHODS
from contrastlearn.heads import ProjectionMLP, SwAVPrototypes
from contrastlearn.methods.base import Method, encode_views
from contrastlearn.objectives import SwAV as SwAVLoss
from contrastlearn.objectives.base import LossOutput


@METHODS.register("swav")
class SwAV(Method):
    """Assign the global views to prototypes by Sinkhorn-Knopp, then predict each view's codes
    from every other view (swapped prediction); supports multi-crop views."""

    default_views = "swav_views"

    def __init__(
        self, encoder: nn.Module, projection_dim: int = 128, hidden_dim: int = 2048,
        num_prototypes: int = 300, temperature: float = 0.1, sinkhorn_epsilon: float = 0.05,
        sinkhorn_iterations: int = 3, num_global_views: int = 2,
        freeze_prototypes_steps: int = 0, gather: bool = True,
    ) -> None:
        super().__init__(encoder)
        self.projector = ProjectionMLP(encoder.out_dim, hidden_dim, projection_dim)
        self.prototypes = SwAVPrototypes(projection_dim, num_prototypes)
        self.objective = SwAVLoss(
            temperature, sinkhorn_epsilon, sinkhorn_iterations, num_global_views, gather=gather
        )
        self.freeze_prototypes_steps = freeze_prototypes_steps
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    def training_step(self, views: list[Tensor], *, labels, ids) -> LossOutput:
        z = encode_views(lambda x: self.projector(self.encoder(x)), views)
        scores = [self.prototypes(view) for view in z]
        return self.objective(scores, ids=ids).with_embeddings(z)

    def before_optimizer_step(self) -> None:
        """While frozen, the prototypes' gradients are dropped after the backward (as the
        paper's code does), not switched off before it: every parameter takes part in each
        backward, which DDP requires."""
        if int(self.steps_done) < self.freeze_prototypes_steps:
            for parameter in self.prototypes.parameters():
                parameter.grad = None

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        self.steps_done.fill_(step + 1)
        self.prototypes.normalize_()
