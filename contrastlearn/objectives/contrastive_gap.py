"""CLIP plus alignment and uniformity terms, to close the "contrastive gap" between modalities.

Fahim, Murphy & Fyshe, 2024, "It's Not a Modality Gap: Characterizing and Addressing the
Contrastive Gap", arXiv 2405.18570: the two-encoder contrastive loss leaves the modalities in
separate, low-uniformity regions of the sphere; adding Wang & Isola's (2020, arXiv 2005.10242)
alignment and uniformity terms to the CLIP loss spreads the embeddings and closes the gap. The
paper's L_CUA is CLIP + uniformity + alignment (an unweighted sum); its L_CUAXU adds a
cross-modal uniformity term (here `cross_uniformity_weight=1`).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from contrastlearn.core.distributed import gather_no_grad, gather_with_grad
from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._modalities import ModalityBatch, prepare_modalities
from contrastlearn.objectives._pairs import cosine_matrix, masked_logsumexp
from contrastlearn.objectives.alignment_uniformity import AlignmentUniformity
from contrastlearn.objectives.base import LossOutput
from contrastlearn.objectives.clip import CLIPLoss, symmetric_infonce

__all__ = ["ContrastiveGapLoss", "cross_modal_uniformity"]


def cross_modal_uniformity(batch: ModalityBatch, t: float = 2.0) -> Tensor:
    """log mean over pairs of different items (x of modality 0, y of modality 1) of
    exp(-t ||x - y||^2): low when the two modalities spread over the sphere together. With
    gathered rows, the log of the mean over the global batch (the same value on every rank)."""
    exponent = -t * (2.0 - 2.0 * cosine_matrix(batch.local[0], batch.gathered[1])).clamp_min(0.0)
    different = batch.local_ids[:, None] != batch.gathered_ids[None, :]
    log_sum = masked_logsumexp(exponent.reshape(-1), different.reshape(-1))
    count = different.sum()
    if batch.is_gathered:  # combine the ranks' sums before the log
        log_sum = gather_with_grad(log_sum[None]).logsumexp(dim=0)
        count = gather_no_grad(count[None]).sum()
    return log_sum - count.clamp_min(1).to(exponent.dtype).log()


@OBJECTIVES.register("contrastive_gap")
class ContrastiveGapLoss(nn.Module):
    """CLIP loss + `alignment_weight` * alignment + `uniformity_weight` * uniformity
    (+ `cross_uniformity_weight` * cross-modal uniformity), for two modalities (Fahim et al.,
    2024, arXiv 2405.18570).

    alignment: mean ||x_i - y_i||^2 of the paired normalised embeddings (Wang & Isola's align,
    alpha = 2); uniformity: the mean over the two modalities of log mean_{i != j}
    exp(-t ||x_i - x_j||^2) within each modality (in-modal; pairs of one item left out); both
    are `AlignmentUniformity`'s. Weights 1 follow the paper's unweighted sum; t = 2 is Wang &
    Isola's. `temperature`, `learnable_temperature`, `gather` and `local_loss` are `CLIPLoss`'s
    (the authors' code trains with a fixed temperature: `learnable_temperature=False`)."""

    def __init__(
        self,
        temperature: float = 0.07,
        learnable_temperature: bool = True,
        alignment_weight: float = 1.0,
        uniformity_weight: float = 1.0,
        cross_uniformity_weight: float = 0.0,
        t: float = 2.0,
        gather: bool = False,
        local_loss: bool = False,
    ) -> None:
        super().__init__()
        self.clip = CLIPLoss(temperature, learnable_temperature, gather, local_loss)
        self.alignment_uniformity = AlignmentUniformity(
            alignment_weight, uniformity_weight, alpha=2, t=t, gather=gather)
        self.cross_uniformity_weight = cross_uniformity_weight
        self.t = t

    def forward(
        self, z_views: Sequence[Tensor], *, labels: Tensor | None = None,
        ids: Tensor | None = None,
    ) -> LossOutput:
        """z_views: [modality 0, modality 1], each (B, D); ids: (B,) item ids."""
        batch = prepare_modalities(z_views, ids, gather=self.clip.gather,
                                   objective="ContrastiveGapLoss", min_modalities=2,
                                   max_modalities=2)
        clip_loss, metrics = symmetric_infonce(batch, 0, 1, self.clip.inverse_temperature(),
                                               local_loss=self.clip.local_loss)
        geometry = self.alignment_uniformity(z_views, ids=ids)
        loss = clip_loss + geometry.loss
        metrics.update(geometry.metrics)
        if self.cross_uniformity_weight:
            cross = cross_modal_uniformity(batch, self.t)
            loss = loss + self.cross_uniformity_weight * cross
            metrics["cross_uniformity"] = cross.detach()
        metrics.update(clip_loss=clip_loss.detach(), loss=loss.detach(),
                       temperature=self.clip.current_temperature())
        return LossOutput(loss, metrics)
