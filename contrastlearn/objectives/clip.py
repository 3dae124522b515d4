"""CLIP: each item's row in one modality must pick out the same item's row in the other.

Radford et al., 2021, "Learning Transferable Visual Models From Natural Language Supervision"
(CLIP), arXiv 2103.00020: the mean of the two cross-entropies of the scaled cosine matrix, rows
(modality 0 -> 1) and columns (1 -> 0), with a learnable logit scale (stored as its log,
initialised at 1/0.07 and clamped at 100). The distributed forms follow open_clip's ClipLoss
(Ilharco et al., 2021): every rank compares with the gathered rows of all ranks, either as the
full global matrix on every rank or, with `local_loss`, only its own rows against all columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._modalities import ModalityBatch, prepare_modalities
from contrastlearn.objectives._pairs import cosine_matrix
from contrastlearn.objectives.base import LossOutput
from contrastlearn.objectives.temperature import TemperatureMixin

__all__ = ["CLIPLoss", "symmetric_infonce"]


def symmetric_infonce(
    batch: ModalityBatch, first: int, second: int, scale: Tensor | float, *, local_loss: bool,
) -> tuple[Tensor, dict[str, Tensor]]:
    """CLIP's loss between modalities `first` and `second` of `batch`, and its metrics.

    Rows are this rank's items (`local_loss`, or nothing gathered) or every rank's (the global
    matrix); columns are every rank's items. Row r's positive is its own item's column; columns
    of the same item (equal ids) are left out of its negatives. On one process both forms are
    the same B x B matrix. Either way the mean over ranks of each rank's loss is the
    one-process loss of the global batch, as DDP's gradient averaging needs."""
    rows_from = batch.local if local_loss or not batch.is_gathered else batch.gathered
    row_ids = batch.local_ids if rows_from is batch.local else batch.gathered_ids
    targets = (batch.local_columns() if rows_from is batch.local
               else torch.arange(batch.global_batch, device=batch.local.device))
    similarity = cosine_matrix(rows_from[first], batch.gathered[second])  # first -> second
    if rows_from is batch.gathered:
        reverse_similarity = similarity.T  # second -> first: the same matrix, transposed
    else:
        reverse_similarity = cosine_matrix(rows_from[second], batch.gathered[first])
    excluded = batch.same_item(row_ids)
    if excluded is not None:
        excluded[torch.arange(len(targets), device=targets.device), targets] = False
    logits = [_masked(similarity * scale, excluded), _masked(reverse_similarity * scale, excluded)]
    loss = (F.cross_entropy(logits[0], targets) + F.cross_entropy(logits[1], targets)) / 2
    return loss, _metrics(similarity, logits, targets, excluded)


def _masked(logits: Tensor, excluded: Tensor | None) -> Tensor:
    return logits if excluded is None else logits.masked_fill(excluded, float("-inf"))


@torch.no_grad()
def _metrics(similarity: Tensor, logits: list[Tensor], targets: Tensor,
             excluded: Tensor | None) -> dict[str, Tensor]:
    """Top-1 accuracy of both directions and the mean positive and negative cosines."""
    similarity = similarity.detach()
    rows = torch.arange(len(targets), device=targets.device)
    correct = [(direction[rows, targets] >= direction.amax(dim=1)).float().mean()
               for direction in (logits[0].detach(), logits[1].detach())]
    positive = similarity[rows, targets]
    negative = torch.ones_like(similarity, dtype=torch.bool)
    negative[rows, targets] = False
    if excluded is not None:
        negative &= ~excluded
    return {
        "contrastive_accuracy": (correct[0] + correct[1]) / 2,
        "positive_similarity": positive.mean(),
        "negative_similarity": torch.where(negative, similarity, 0.0).sum()
        / negative.sum().clamp_min(1),
    }


@OBJECTIVES.register("clip")
class CLIPLoss(TemperatureMixin, nn.Module):
    """CLIP's symmetric InfoNCE between modality 0 and modality 1 (Radford et al., 2021,
    arXiv 2103.00020): (CE(rows) + CE(columns)) / 2 of the cosine matrix times the logit scale.

    The logit scale 1 / `temperature` is learnt as its log (`learnable_temperature`, as CLIP)
    and clamped at 100 by `clamp_temperature_`, which `Method.constrain_parameters` calls
    after every optimizer step; `learnable_temperature=False` keeps `temperature` fixed.
    `gather=True` compares with every rank's rows (gathered with gradients); `local_loss`
    (open_clip's) then scores only this rank's rows against all columns instead of the full
    global matrix: less compute, same value on one process. Rows with equal `ids` are the same
    item and never each other's negatives. `labels` is accepted for a uniform interface."""

    def __init__(
        self,
        temperature: float = 0.07,
        learnable_temperature: bool = True,
        gather: bool = False,
        local_loss: bool = False,
    ) -> None:
        super().__init__()
        self.init_temperature(temperature, learnable_temperature)
        self.gather = gather
        self.local_loss = local_loss

    def forward(
        self, z_views: Sequence[Tensor], *, labels: Tensor | None = None,
        ids: Tensor | None = None,
    ) -> LossOutput:
        """z_views: [modality 0, modality 1], each (B, D); ids: (B,) item ids."""
        batch = prepare_modalities(z_views, ids, gather=self.gather, objective="CLIPLoss",
                                   min_modalities=2, max_modalities=2)
        loss, metrics = symmetric_infonce(batch, 0, 1, self.inverse_temperature(),
                                          local_loss=self.local_loss)
        metrics["loss"] = loss.detach()
        metrics["temperature"] = self.current_temperature()
        return LossOutput(loss, metrics)
