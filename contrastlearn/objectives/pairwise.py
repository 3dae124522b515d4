"""Modality-pairwise contrast: CLIP's symmetric InfoNCE between every pair of modalities.

Franceschini et al., 2022, "Multimodal Emotion Recognition with Modality-Pairwise Unsupervised
Contrastive Loss", arXiv 2207.11482 (ICPR 2022): text, audio and vision embeddings of one
utterance are pulled together pair by pair (text-audio, text-vision, audio-vision), the loss
being the sum of the pairs' contrastive losses. Each pair's term is `symmetric_infonce`, the
same mathematics as `CLIPLoss`, with one shared logit scale.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._modalities import prepare_modalities
from contrastlearn.objectives.base import LossOutput
from contrastlearn.objectives.clip import CLIPLoss, symmetric_infonce

__all__ = ["PairwiseContrast"]

REDUCTIONS = ("sum", "mean")


@OBJECTIVES.register("pairwise_contrast")
class PairwiseContrast(nn.Module):
    """The sum (paper) or mean (`reduction="mean"`) over every pair of the M >= 2 modalities of
    CLIP's symmetric InfoNCE (Franceschini et al., 2022, arXiv 2207.11482). `temperature`,
    `learnable_temperature`, `gather` and `local_loss` are `CLIPLoss`'s (its defaults are
    ours; the paper's temperature is not restated here); one logit scale serves all pairs.
    Metrics per pair are logged as "pair_{a}_{b}/loss", "pair_{a}_{b}/contrastive_accuracy"..."""

    def __init__(
        self,
        temperature: float = 0.07,
        learnable_temperature: bool = True,
        reduction: str = "sum",
        gather: bool = False,
        local_loss: bool = False,
    ) -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}; got {reduction!r}")
        self.reduction = reduction
        self.clip = CLIPLoss(temperature, learnable_temperature, gather, local_loss)

    def forward(
        self, z_views: Sequence[Tensor], *, labels: Tensor | None = None,
        ids: Tensor | None = None,
    ) -> LossOutput:
        """z_views: M >= 2 tensors (B, D), one per modality; ids: (B,) item ids."""
        batch = prepare_modalities(z_views, ids, gather=self.clip.gather,
                                   objective="PairwiseContrast")
        scale = self.clip.inverse_temperature()
        losses, metrics = [], {}
        for first, second in itertools.combinations(range(batch.num_modalities), 2):
            loss, pair_metrics = symmetric_infonce(batch, first, second, scale,
                                                   local_loss=self.clip.local_loss)
            losses.append(loss)
            pair_metrics["loss"] = loss.detach()
            metrics.update({f"pair_{first}_{second}/{name}": value
                            for name, value in pair_metrics.items()})
        stacked = torch.stack(losses)
        total = stacked.sum() if self.reduction == "sum" else stacked.mean()
        metrics["loss"] = total.detach()
        metrics["temperature"] = self.clip.current_temperature()
        return LossOutput(total, metrics)
