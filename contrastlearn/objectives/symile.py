"""Symile: contrast whole tuples of M modalities with the multilinear inner product.

Saporta, Puli, Goldstein & Ranganath, 2024, "Contrasting with Symile: Simple Model-Agnostic
Representation Learning for Unlimited Modalities", arXiv 2411.01053. The score of a tuple is
the multilinear inner product MIP(a, b, c, ...) = sum_d a_d b_d c_d ... times a learnt logit
scale; Symile's loss is a lower bound on the total correlation of the modalities. Following the
official code (github.com/rajesh-lab/symile, `symile/losses.py`: SymileLoss), each modality in
turn is the anchor: row i of the anchor modality must pick out its own tuple of the other
modalities' rows (i, i, ...) among tuples drawn from their product of marginals, by
cross-entropy; the loss is the mean over anchors. Negatives ("negative_sampling"):

* "n_squared": every combination of the non-anchor modalities' rows, N^(M-1) candidates per
  anchor row (the paper's O(N^2) for three modalities);
* "n": N candidates: column j holds row j of the first non-anchor modality and rows
  perm_k(j) of the others, each perm_k a fresh `torch.randperm(N)` (drawn in order: anchor
  0's, then anchor 1's...); the anchor row's own column is replaced by its positive tuple.
  The official code shuffles every non-anchor modality, so a negative can repeat the positive
  tuple (its "small chance of a false negative"); keeping the first in place gives every
  negative another item's row of that modality, so none is the positive, and with two
  modalities it is exactly CLIP. The other modalities stay shuffled: draws from the product
  of the marginals, as the total-correlation bound asks.

With two modalities both forms are CLIP's symmetric InfoNCE with the same logit scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._modalities import ModalityBatch, prepare_modalities
from contrastlearn.objectives.base import LossOutput
from contrastlearn.objectives.temperature import TemperatureMixin

__all__ = ["NEGATIVE_SAMPLING", "SymileLoss", "multilinear_inner_product"]

NEGATIVE_SAMPLING = ("n", "n_squared")


def multilinear_inner_product(first: Tensor, *others: Tensor) -> Tensor:
    """MIP of row-aligned (..., D) tensors: sum_d first_d * other1_d * other2_d * ... (...)."""
    product = first
    for other in others:
        product = product * other
    return product.sum(dim=-1)


def _work(tensor: Tensor) -> Tensor:
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def _all_combinations(batch: ModalityBatch, others: list[int]
                      ) -> tuple[Tensor, Tensor, Tensor | None]:
    """"n_squared": the element-wise products of every combination of the non-anchor rows
    (N^k, D), column index sum_p j_p N^(k-1-p); each local row's positive column; and, when ids
    were given, (B, N^k) True where the whole tuple is the anchor row's own item."""
    global_batch = batch.global_batch
    same = batch.same_item(batch.local_ids)
    products, same_tuple = batch.gathered[others[0]], same
    positive_columns = batch.local_columns()
    for modality in others[1:]:
        rows = batch.gathered[modality]
        products = (products[:, None, :] * rows[None, :, :]).reshape(-1, rows.shape[-1])
        positive_columns = positive_columns * global_batch + batch.local_columns()
        if same_tuple is not None:
            same_tuple = (same_tuple[:, :, None] & same[:, None, :]).reshape(len(same), -1)
    return products, positive_columns, same_tuple


def _shuffled_tuples(batch: ModalityBatch, others: list[int]
                     ) -> tuple[Tensor, Tensor, Tensor | None]:
    """"n": N tuples, column j = (row j of the first non-anchor modality, row perm_k(j) of
    each further one); each local row's column (to be replaced by its positive); the
    same-item mask as in `_all_combinations`."""
    same = batch.same_item(batch.local_ids)
    products, same_tuple = batch.gathered[others[0]], same
    for modality in others[1:]:
        order = torch.randperm(batch.global_batch, device=batch.local.device)
        products = products * batch.gathered[modality][order]
        if same_tuple is not None:
            same_tuple = same_tuple & same[:, order]
    return products, batch.local_columns(), same_tuple


@OBJECTIVES.register("symile")
class SymileLoss(TemperatureMixin, nn.Module):
    """Symile's loss over M >= 2 modalities (Saporta et al., 2024, arXiv 2411.01053): for each
    modality as anchor, the cross-entropy of each anchor row's own tuple of the other
    modalities against negative tuples, scored by logit scale x multilinear inner product;
    the mean over anchors. `negative_sampling`: "n" (N - 1 shuffled tuples per row, O(N)
    memory per row) or "n_squared" (all N^(M-1) - 1 other combinations; memory grows as
    B * N^(M-1)). See the module docstring for the exact construction.

    The logit scale is CLIP's (`temperature` 0.07, learnt as its log, clamped at 100 by
    `clamp_temperature_`; these defaults are ours). A negative tuple whose rows are all of the
    anchor row's own item (equal `ids`) is left out; tuples that share only some rows with it
    stay negatives, as in the official code (draws from the product of the marginals).
    `gather=True` draws the negatives from every rank's rows (gathered with gradients)."""

    def __init__(
        self,
        temperature: float = 0.07,
        learnable_temperature: bool = True,
        negative_sampling: str = "n",
        gather: bool = False,
    ) -> None:
        super().__init__()
        if negative_sampling not in NEGATIVE_SAMPLING:
            raise ValueError(f"negative_sampling must be one of {NEGATIVE_SAMPLING}; "
                             f"got {negative_sampling!r}")
        self.init_temperature(temperature, learnable_temperature)
        self.negative_sampling = negative_sampling
        self.gather = gather

    def forward(
        self, z_views: Sequence[Tensor], *, labels: Tensor | None = None,
        ids: Tensor | None = None,
    ) -> LossOutput:
        """z_views: M >= 2 tensors (B, D), one per modality; ids: (B,) item ids."""
        batch = prepare_modalities(z_views, ids, gather=self.gather, objective="SymileLoss")
        scale = self.inverse_temperature()
        modalities = range(batch.num_modalities)
        positive_mip = _work(multilinear_inner_product(*batch.local))  # (B,)
        rows = torch.arange(batch.local_batch, device=batch.local.device)
        losses, correct, negative_sum, negative_count = [], [], 0.0, 0
        for anchor in modalities:
            others = [modality for modality in modalities if modality != anchor]
            tuples = (_all_combinations if self.negative_sampling == "n_squared"
                      else _shuffled_tuples)(batch, others)
            products, positive_columns, same_tuple = tuples
            mip = _work(batch.local[anchor] @ products.T)  # (B, candidates)
            mip = mip.index_put((rows, positive_columns), positive_mip)
            logits = mip * scale
            negative = torch.ones_like(logits, dtype=torch.bool)
            negative[rows, positive_columns] = False
            if same_tuple is not None:  # copies of the positive tuple: neither side
                same_tuple[rows, positive_columns] = False
                negative &= ~same_tuple
                logits = logits.masked_fill(same_tuple, float("-inf"))
            losses.append(F.cross_entropy(logits, positive_columns))
            with torch.no_grad():
                best_negative = logits.detach().masked_fill(~negative, float("-inf")).amax(1)
                correct.append((logits.detach()[rows, positive_columns] >= best_negative)
                               .float().mean())
                negative_sum = negative_sum + torch.where(negative, mip.detach(), 0.0).sum()
                negative_count = negative_count + negative.sum()
        loss = torch.stack(losses).mean()
        metrics = {
            "loss": loss.detach(),
            "temperature": self.current_temperature(),
            "contrastive_accuracy": torch.stack(correct).mean(),
            "positive_similarity": positive_mip.detach().mean(),
            "negative_similarity": negative_sum / negative_count.clamp_min(1),
        }
        return LossOutput(loss, metrics)
