"""Sequential recommenders trained on next-item prediction, and CL4SRec's contrastive term.

- `sasrec_ce`: the next item of every training history scored against all items with the
  cross-entropy loss (RecBole's SASRec with `loss_type: CE`; Kang & McAuley 2018, arXiv
  1808.09781): softmax over the dot products of the history's encoding with every item
  embedding.
- `cl4srec` (Xie et al. 2022, "Contrastive Learning for Sequential Recommendation", arXiv
  2010.14395): the same loss + `cl_weight` (lambda, 0.1) times NT-Xent between two augmented
  views of each history (`cl4srec_views`), the other 2B - 2 views of the batch the negatives.

The sequence contrast of CL4SRec, ICSRec and MCLRec compares raw dot products with temperature
1 (the papers' `sim = dot`, `tau = 1`), where the shared `InfoNCE` compares cosines, so
`pair_nt_xent` here is that form; like the shared objectives, it gathers the negatives of
every process (`gather=True`) and never uses two rows with the same id as a negative pair.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.distributed import gather_no_grad, gather_with_grad, is_distributed, rank
from contrastlearn.core.registry import METHODS
from contrastlearn.data.arrays import DataError
from contrastlearn.modalities.recsys.batch import RecBatch, check_rec_batch
from contrastlearn.modalities.recsys.methods.common import RecMethod
from contrastlearn.modalities.recsys.sequence_encoder import require_sequences
from contrastlearn.modalities.recsys.sequence_views import SEQUENCE_FIX
from contrastlearn.objectives.base import LossOutput


def require_sequence_encoder(encoder: nn.Module, method: str) -> None:
    """A clear error unless `encoder` encodes item histories (sasrec)."""
    if not callable(getattr(encoder, "encode_sequences", None)):
        raise TypeError(f"{method} needs a sequence encoder with encode_sequences() "
                        f"(encoder.name: sasrec); got {type(encoder).__name__}")


def next_item_loss(representations: Tensor, items: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of the (B,) `targets` among all (I, D) `items`, scored by the dot
    product with the (B, D) history `representations`."""
    return F.cross_entropy(representations @ items.T, targets)


def pair_logits(first: Tensor, second: Tensor, temperature: float = 1.0,
                ids: Tensor | None = None, gather: bool = True
                ) -> tuple[Tensor, Tensor, Tensor]:
    """The NT-Xent layout of two (B, D) views whose rows i are a positive pair: anchors are the
    2B local rows [first; second], candidates the 2N rows of every process (N = global batch,
    `gather`), logits = anchor . candidate / temperature. Returns (positive (2B,) logit of each
    anchor's partner, logits (2B, 2N), negative (2B, 2N) bool: the candidates that are the
    anchor's negatives: every row but itself and its partner, and, with `ids` (B,), no row
    with the anchor's id (ICSRec's false-negative mask))."""
    if first.shape != second.shape or first.dim() != 2:
        raise ValueError(f"pair contrast needs two (B, D) views of one shape; got "
                         f"{tuple(first.shape)} and {tuple(second.shape)}")
    batch = first.shape[0]
    if ids is not None and ids.shape != (batch,):
        raise ValueError(f"ids must be ({batch},), one per pair; got {tuple(ids.shape)}")
    gathered = gather and is_distributed()
    first_all = gather_with_grad(first) if gathered else first
    second_all = gather_with_grad(second) if gathered else second
    offset, total = (rank() * batch if gathered else 0), first_all.shape[0]
    anchors, candidates = torch.cat([first, second]), torch.cat([first_all, second_all])
    logits = (anchors @ candidates.T).float() / temperature
    local = torch.arange(batch, device=first.device) + offset
    partner = torch.cat([local + total, local])
    positive = logits[torch.arange(2 * batch, device=first.device), partner]
    if ids is None:
        anchor_ids, candidate_ids = local, torch.arange(total, device=first.device)
    else:
        anchor_ids = ids.to(first.device)
        candidate_ids = gather_no_grad(anchor_ids) if gathered else anchor_ids
    negative = anchor_ids.repeat(2)[:, None] != candidate_ids.repeat(2)[None, :]
    return positive, logits, negative


def pair_nt_xent(first: Tensor, second: Tensor, temperature: float = 1.0,
                 ids: Tensor | None = None, gather: bool = True) -> Tensor:
    """NT-Xent on dot products (SimCLR's form, Chen et al. 2020, arXiv 2002.05709): mean over
    the 2B anchors of -log(e^pos / (e^pos + sum over the anchor's negatives of e^logit)),
    with the layout and negatives of `pair_logits`."""
    positive, logits, negative = pair_logits(first, second, temperature, ids, gather)
    negatives = logits.masked_fill(~negative, torch.finfo(logits.dtype).min)
    everything = torch.cat([positive[:, None], negatives], dim=1)
    return (torch.logsumexp(everything, dim=1) - positive).mean()


@METHODS.register("sasrec_ce")
class SequentialMethod(RecMethod):
    """views = [batch] -> the history encodings -> cross-entropy of each next item over all
    items. Base of the sequential methods: `encode`, `next_item_loss_of`."""

    default_views = "rec_identity_views"
    method_name = "sasrec_ce"
    per_sample_loss = True

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__(encoder, reg_weight=0.0)
        require_sequence_encoder(encoder, self.method_name)

    def prepare(self, data: Any, device: torch.device) -> None:
        super().prepare(data, device)
        if getattr(data, "max_length", 0) is None:
            raise DataError(f"{self.method_name} trains on item histories and the training data "
                            f"has none: {SEQUENCE_FIX}")

    def sequence_views(self, views: list, count: int) -> list[RecBatch]:
        """The first `count` views, checked to be RecBatches with histories."""
        if len(views) < count:
            raise ValueError(f"{self.method_name} needs {count} views; got {len(views)} (use "
                             f"its default view policy, {self.default_views})")
        batches = [check_rec_batch(view, self.method_name) for view in views[:count]]
        for batch in batches:
            require_sequences(batch.sequences, self.method_name)
        return batches

    def encode(self, *batches: RecBatch) -> list[Tensor]:
        """(B, D) history encodings of each batch, in one encoder call."""
        sequences = [batch.sequences for batch in batches]
        if len({tuple(s.shape[1:]) for s in sequences}) > 1:
            return [self.encoder.encode_sequences(s) for s in sequences]
        return list(self.encoder.encode_sequences(torch.cat(sequences)).split(
            [len(s) for s in sequences]))

    def next_item_loss_of(self, batch: RecBatch, representations: Tensor) -> Tensor:
        return next_item_loss(representations, self.encoder.item_representations(), batch.items)

    def training_step(self, views, *, labels, ids) -> LossOutput:
        (batch,) = self.sequence_views(views, 1)
        (representations,) = self.encode(batch)
        loss = self.next_item_loss_of(batch, representations)
        return LossOutput(loss, {"ce": loss.detach()})


@METHODS.register("cl4srec")
class CL4SRec(SequentialMethod):
    """views = [batch, view 1, view 2] (`cl4srec_views`) -> cross-entropy of the next item on
    the batch + `cl_weight` * NT-Xent between the two views' encodings (dot products over
    `temperature`; CL4SRec's lambda = 0.1 and temperature 1, as its reference
    implementation)."""

    default_views = "cl4srec_views"
    method_name = "cl4srec"
    per_sample_loss = False

    def __init__(self, encoder: nn.Module, cl_weight: float = 0.1,
                 temperature: float = 1.0) -> None:
        super().__init__(encoder)
        if cl_weight < 0 or temperature <= 0:
            raise ValueError(f"cl4srec needs cl_weight >= 0 and temperature > 0; got "
                             f"{cl_weight}, {temperature}")
        self.cl_weight, self.temperature = cl_weight, temperature

    def training_step(self, views, *, labels, ids) -> LossOutput:
        batch, first, second = self.sequence_views(views, 3)
        representations, first_z, second_z = self.encode(batch, first, second)
        ce = self.next_item_loss_of(batch, representations)
        contrast = pair_nt_xent(first_z, second_z, self.temperature)
        loss = ce + self.cl_weight * contrast
        output = LossOutput(loss, {"ce": ce.detach(), "cl": contrast.detach()})
        return output.with_embeddings([first_z, second_z])
