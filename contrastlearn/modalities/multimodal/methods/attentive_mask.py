"""Attentive Mask CLIP (Yang et al. 2023, arXiv 2212.08653): CLIP that removes most image
tokens (cheaper steps) but keeps the ones an EMA copy of the image encoder finds most relevant,
so the kept tokens still show what the caption says. Random removal (FLIP, Li et al. 2022,
arXiv 2212.00794) is the `selection: random` baseline."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from contrastlearn.augment.token_keep import attentive_keep, random_keep, text_relevance
from contrastlearn.core.ema import make_momentum_copy, update_momentum
from contrastlearn.core.registry import METHODS
from contrastlearn.modalities.multimodal.batch import MultiBatch
from contrastlearn.modalities.multimodal.methods.contrast import CLIP

SELECTIONS = ("attentive", "random")
SCORES = ("cls_attention", "text")


@METHODS.register("attentive_mask_clip")
class AttentiveMaskCLIP(CLIP):
    """CLIP on records whose `image_modality` encoder (a patch encoder such as `vit_tiny`,
    whose `forward(x, keep=...)` reads only the kept patches) sees `keep_ratio` of its patches.
    `selection: attentive` keeps the highest-scoring patches of an EMA copy (momentum
    `momentum`) of that encoder: `score: cls_attention` (the paper's: the [CLS] token's attention
    on each patch, the token aligned with the text) or `score: text` (cosine of each projected
    patch with the paired text's embedding); `selection: random` keeps a uniform subset.
    Evaluation and export use every patch."""

    def __init__(self, encoder: nn.Module, modalities: list[str] | None = None,
                 image_modality: str = "image", keep_ratio: float = 0.5,
                 selection: str = "attentive", score: str = "cls_attention",
                 momentum: float = 0.996, **clip_kwargs: Any) -> None:
        super().__init__(encoder, modalities, **clip_kwargs)
        if image_modality not in self.modalities:
            raise ValueError(f"attentive_mask_clip image_modality {image_modality!r} is not "
                             f"among the compared modalities {self.modalities}")
        if selection not in SELECTIONS or score not in SCORES:
            raise ValueError(f"attentive_mask_clip selection must be one of {SELECTIONS} and "
                             f"score one of {SCORES}; got {selection!r}, {score!r}")
        if not 0.0 <= momentum < 1.0 or not 0.0 < keep_ratio <= 1.0:
            raise ValueError(f"attentive_mask_clip needs 0 <= momentum < 1 and 0 < keep_ratio "
                             f"<= 1; got {momentum}, {keep_ratio}")
        image_encoder = encoder.encoders[image_modality]
        needed = ("num_patches", "patch_tokens", "cls_attention")
        if any(not hasattr(image_encoder, part) for part in needed):
            raise TypeError(f"attentive_mask_clip needs a patch encoder for {image_modality!r} "
                            f"(with {', '.join(needed)} and forward(x, keep=...)), e.g. vit_tiny; "
                            f"got {type(image_encoder).__name__}")
        self.image_modality = image_modality
        self.keep_ratio, self.selection, self.score = float(keep_ratio), selection, score
        self.momentum = float(momentum)
        self.momentum_image = make_momentum_copy(image_encoder)
        self.momentum_projection = make_momentum_copy(encoder.projections[image_modality])

    @torch.no_grad()
    def kept_patches(self, images: Tensor, text_embeddings: Tensor | None) -> Tensor:
        """(B, K) indices of the patches each image keeps."""
        count = self.momentum_image.num_patches
        if self.selection == "random":
            return random_keep(len(images), count, self.keep_ratio, device=images.device)
        if self.score == "text" and text_embeddings is not None:
            scores = text_relevance(self.momentum_image.patch_tokens(images), text_embeddings,
                                    projection=self.momentum_projection)
        else:
            scores = self.momentum_image.cls_attention(images)
        return attentive_keep(scores, self.keep_ratio)

    def representations(self, records: MultiBatch) -> dict[str, Tensor]:
        others = {name: self.encoder.encoders[name](records.parts[name])
                  for name in self.modalities if name != self.image_modality}
        text_name = next(iter(others))
        text = self.encoder.projections[text_name](others[text_name]).detach()
        images = records.parts[self.image_modality]
        keep = self.kept_patches(images, text)
        return {**others, self.image_modality: self.encoder.encoders[self.image_modality](
            images, keep=keep)}

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        update_momentum(self.encoder.encoders[self.image_modality], self.momentum_image,
                        self.momentum)
        update_momentum(self.encoder.projections[self.image_modality],
                        self.momentum_projection, self.momentum)
