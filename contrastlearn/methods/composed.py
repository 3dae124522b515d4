"""A method assembled by name: any registered head on the encoder and any registered view
objective on its outputs. SimCLR (Chen et al. 2020, arXiv 2002.05709) is this pipeline with a
projection MLP and InfoNCE, DCL (Yeh et al. 2021, arXiv 2110.06848) with the DCL loss; a recipe
can pair the same pipeline with any other objective, e.g. `objective: supcon`."""

from __future__ import annotations

import inspect
from typing import Any

from torch import Tensor, nn

from contrastlearn.core.registry import HEADS, METHODS, OBJECTIVES
from contrastlearn.methods.base import Method, encode_views
from contrastlearn.objectives.base import LossOutput


@METHODS.register("composed")
class Composed(Method):
    """Views -> encoder -> `HEADS[head]` -> `OBJECTIVES[objective](z_views, labels=, ids=)`.

    `head_kwargs` go to the head (its `in_dim` is the encoder's `out_dim`), `objective_kwargs`
    to the objective, which must compare a list of view embeddings (infonce, dcl, dclw, supcon,
    barlow_twins, vicreg, alignment_uniformity). Labels reach the objective only when it
    `needs_labels` (supcon), which makes the method supervised; otherwise the method stays
    self-supervised on labelled data too. Feature-space views (`add_option`) act on the
    embeddings inside `loss`, so they work with gradient caching too."""

    accepts_feature_views = True

    def __init__(
        self, encoder: nn.Module, head: str = "projection_mlp",
        head_kwargs: dict[str, Any] | None = None, objective: str = "infonce",
        objective_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(encoder)
        self.projector = HEADS.build(head, in_dim=encoder.out_dim, **(head_kwargs or {}))
        self.objective = OBJECTIVES.build(objective, **(objective_kwargs or {}))
        parameters = inspect.signature(self.objective.forward).parameters
        if not {"labels", "ids"} <= set(parameters):
            raise ValueError(f"objective {objective!r} does not compare view embeddings "
                             "(its forward takes no labels=/ids=); choose one of infonce, dcl, "
                             "dclw, supcon, barlow_twins, vicreg, alignment_uniformity")
        self.needs_labels = bool(getattr(self.objective, "needs_labels", False))

    def embed(self, x: Tensor) -> Tensor:
        return self.projector(self.encoder(x))

    def loss(self, z: list[Tensor], labels: Tensor | None, ids: Tensor | None) -> LossOutput:
        z = self.apply_feature_views(z)
        return self.objective(z, labels=labels if self.needs_labels else None, ids=ids)

    def training_step(self, views: list[Tensor], *, labels, ids) -> LossOutput:
        z = encode_views(self.embed, views)
        return self.loss(z, labels, ids).with_embeddings(z)

    def gradient_cache_parts(self):
        return self.embed, self.loss
