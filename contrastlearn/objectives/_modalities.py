"""Shared plumbing of the multimodal objectives (CLIP, SigLIP, Symile, pairwise contrast).

A multimodal objective receives one (B, D) tensor per modality, in a fixed order, where row i
of every modality belongs to item i. The rows are L2-normalised here; with `gather=True` and
several processes, every rank's rows are gathered with gradients (rank order), so each local
row can be compared with the rows of the whole global batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlearn.core.distributed import gather_no_grad, is_distributed, rank
from contrastlearn.objectives._pairs import check_ids, gather_views_with_grad


@dataclass
class ModalityBatch:
    """Normalised rows of every modality, local and gathered."""

    local: Tensor  # (M, B, D): this rank's rows
    gathered: Tensor  # (M, N, D): every rank's rows; `local` itself when nothing is gathered
    local_ids: Tensor  # (B,)
    gathered_ids: Tensor  # (N,)
    offset: int  # index of this rank's first row among the gathered rows
    ids_given: bool  # False: every row is its own item, no id mask is needed

    @property
    def num_modalities(self) -> int:
        return self.local.shape[0]

    @property
    def local_batch(self) -> int:
        return self.local.shape[1]

    @property
    def global_batch(self) -> int:
        return self.gathered.shape[1]

    @property
    def is_gathered(self) -> bool:
        return self.gathered is not self.local

    def local_columns(self) -> Tensor:
        """(B,) column of each local row among the gathered rows (its positive)."""
        return self.offset + torch.arange(self.local_batch, device=self.local.device)

    def same_item(self, row_ids: Tensor) -> Tensor | None:
        """(R, N) bool, True where row r and gathered row n are the same item; None when no
        ids were given (every row is then its own item, so no mask is needed)."""
        if not self.ids_given:
            return None
        return row_ids[:, None] == self.gathered_ids[None, :]


def check_modalities(
    z_views: Sequence[Tensor], objective: str, min_modalities: int = 2,
    max_modalities: int | None = None,
) -> None:
    """Raise a one-line ValueError unless `z_views` holds an allowed number of (B, D) tensors
    of one batch size and one dim."""
    count = len(z_views)
    if max_modalities is not None and min_modalities == max_modalities != count:
        raise ValueError(f"{objective} compares exactly {min_modalities} modalities (one (batch, "
                         f"dim) tensor each); got {count}: use 'pairwise_contrast' or 'symile' "
                         f"for more")
    if count < min_modalities:
        raise ValueError(f"{objective} needs at least {min_modalities} modalities (one (batch, "
                         f"dim) tensor each, in a fixed order); got {count}")
    shapes = [tuple(view.shape) for view in z_views]
    for index, shape in enumerate(shapes):
        if len(shape) != 2:
            raise ValueError(f"{objective}: modality {index} has shape {shape}; each modality "
                             f"must be one (batch, dim) tensor of embeddings")
        if shape != shapes[0]:
            raise ValueError(f"{objective}: modality {index} has shape {shape}, modality 0 has "
                             f"{shapes[0]}; every modality needs the same batch (row i of each "
                             f"is item i) and the same dim (project them to one embedding size)")


def prepare_modalities(
    z_views: Sequence[Tensor], ids: Tensor | None, *, gather: bool, objective: str,
    min_modalities: int = 2, max_modalities: int | None = None,
) -> ModalityBatch:
    """Check, normalise and (with `gather` on several processes) gather the modalities."""
    check_modalities(z_views, objective, min_modalities, max_modalities)
    local = F.normalize(torch.stack(list(z_views)), dim=-1)
    batch = local.shape[1]
    ids_given = ids is not None
    local_ids = check_ids(ids, batch, local.device)
    if gather and is_distributed():
        gathered = gather_views_with_grad(local)
        return ModalityBatch(local, gathered, local_ids, gather_no_grad(local_ids),
                             rank() * batch, ids_given)
    return ModalityBatch(local, local, local_ids, local_ids, 0, ids_given)
