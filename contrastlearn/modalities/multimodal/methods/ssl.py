"""CLIP with self-supervised terms on views of one modality (Fini et al. 2023, "Improved
baselines for vision-language pre-training", arXiv 2305.08675): a SimCLR, Barlow Twins or
VICReg loss between two views of each image (or text), on a projection head of that room's
encoder, added to the CLIP loss of the records."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from contrastlearn.core.registry import METHODS, OBJECTIVES
from contrastlearn.heads import ProjectionMLP
from contrastlearn.modalities.multimodal.batch import MultiBatch
from contrastlearn.modalities.multimodal.methods.contrast import CLIP, mean_outputs
from contrastlearn.objectives.base import LossOutput


@METHODS.register("clip_ssl")
class CLIPWithSSL(CLIP):
    """Loss = CLIP (averaged over the views) + `ssl_weight` * the `ssl_objective` (infonce,
    barlow_twins or vicreg, with `ssl_kwargs`) between views 1 and 2 of each modality in
    `ssl_modalities`, projected by a `ProjectionMLP(hidden_dim, projection_dim)` of its own.
    Needs two views of the records (views: paired_views with count: 2)."""

    def __init__(self, encoder: nn.Module, modalities: list[str] | None = None,
                 ssl_objective: str = "infonce", ssl_modalities: list[str] | None = None,
                 ssl_weight: float = 1.0, ssl_kwargs: dict[str, Any] | None = None,
                 projection_dim: int = 128, hidden_dim: int = 512,
                 **clip_kwargs: Any) -> None:
        super().__init__(encoder, modalities, **clip_kwargs)
        self.ssl_modalities = list(ssl_modalities or ["image"])
        unknown = [name for name in self.ssl_modalities if name not in self.modalities]
        if unknown:
            raise ValueError(f"clip_ssl ssl_modalities {unknown} are not among the compared "
                             f"modalities {self.modalities}")
        if ssl_weight < 0:
            raise ValueError(f"clip_ssl ssl_weight must be >= 0; got {ssl_weight}")
        self.ssl_weight = float(ssl_weight)
        self.ssl_heads = nn.ModuleDict({
            name: ProjectionMLP(int(encoder.encoders[name].out_dim), hidden_dim, projection_dim)
            for name in self.ssl_modalities})
        self.ssl = OBJECTIVES.build(ssl_objective, **(ssl_kwargs or {}))

    def training_step(self, views: list[MultiBatch], *, labels, ids) -> LossOutput:
        if len(views) < 2:
            raise ValueError(f"clip_ssl compares two views of each record and got {len(views)}: "
                             "use views {name: paired_views, kwargs: {count: 2, views: ...}}")
        representations = [self.representations(records) for records in views]
        clip_outputs, first = [], None
        for reps in representations:
            output, z = self.contrast(reps, ids)
            clip_outputs.append(output)
            first = first or z
        clip = mean_outputs(clip_outputs)
        ssl_terms = {}
        for name in self.ssl_modalities:
            z_views = [self.ssl_heads[name](reps[name]) for reps in representations[:2]]
            ssl_terms[name] = self.ssl(z_views, ids=ids).loss
        ssl = torch.stack(list(ssl_terms.values())).mean()
        metrics = {**clip.metrics, "clip": clip.loss.detach(), "ssl": ssl.detach()}
        return LossOutput(clip.loss + self.ssl_weight * ssl, metrics).with_embeddings(first)
