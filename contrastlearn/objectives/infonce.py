"""InfoNCE / NT-Xent: each view of an item must pick out the item's other views among negatives.

van den Oord et al., 2018, "Representation Learning with Contrastive Predictive Coding",
arXiv 1807.03748; Chen et al., 2020, "A Simple Framework for Contrastive Learning of Visual
Representations" (SimCLR, NT-Xent), arXiv 2002.05709; He et al., 2020, MoCo, arXiv 1911.05722;
learnable temperature as in Radford et al., 2021, CLIP, arXiv 2103.00020.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._pairs import (
    ViewPairs,
    build_view_pairs,
    check_ids,
    cosine_matrix,
    cosine_sum,
    ids_unique,
)
from contrastlearn.objectives.base import LossOutput
from contrastlearn.objectives.pair_options import (
    PairOptionsMixin,
    loss_with_pair_options,
    table_from_pairs,
)
from contrastlearn.objectives.temperature import MIN_LEARNABLE_TEMPERATURE, TemperatureMixin

__all__ = ["MIN_LEARNABLE_TEMPERATURE", "InfoNCE"]

@OBJECTIVES.register("nt_xent")
@OBJECTIVES.register("infonce")
class InfoNCE(PairOptionsMixin, TemperatureMixin, nn.Module):
    """InfoNCE over any number of views, with id masks and optional queue negatives.

    Every one of the V*B local rows is an anchor. Positives P(i): the other rows with the same
    id; negatives N(i): rows with a different id, plus bank rows (`negatives`) whose
    `negative_ids` differ from the anchor's. With s = cosine / temperature,

        loss_i = mean_{p in P(i)} -log( exp(s_ip) / (exp(s_ip) + sum_{n in N(i)} exp(s_in)) )

    i.e. each positive is scored against the negatives only, never against the other positives
    (the SimCLR multi-positive form; with two views and unique ids it is exactly NT-Xent). The
    loss is the mean of loss_i over anchors. `cross_view_only=True` compares an anchor only with
    rows of other views (MoCo: queries against keys, never query against query).
    `anchor_views=n` makes only the rows of the first n views anchors; the other views are
    candidates only (MoCo: queries are anchors, keys are not), and only the anchors are scored
    against the bank: its logits are (n * B, K), as MoCo's l_neg = q . queue.

    `learnable_temperature=True` learns log(1 / temperature) as CLIP does (Radford et al.,
    2021, arXiv 2103.00020): the forward uses the parameter as it is, and `clamp_temperature_`,
    called after every optimizer step (the trainer calls it through
    `Method.constrain_parameters`), keeps the temperature >= 0.01. A clamp inside the forward
    would have a zero gradient at the bound and leave the parameter stuck there.

    Two views with unique ids take a fast path (one cross_entropy, no masks); given `ids` are
    checked for uniqueness with `torch.unique` (one host sync) to choose it. With pair options
    attached (`add_pair_option`: hard-negative mixing, false-negative cancellation...) the
    loss is computed from the options' weighted pair table (`pair_options`).
    """

    pair_form = "infonce"

    def __init__(
        self,
        temperature: float = 0.1,
        learnable_temperature: bool = False,
        cross_view_only: bool = False,
        gather: bool = False,
        anchor_views: int | None = None,
    ) -> None:
        super().__init__()
        if anchor_views is not None and anchor_views < 1:
            raise ValueError(f"anchor_views must be >= 1 or None; got {anchor_views}")
        self.anchor_views = anchor_views
        self.init_temperature(temperature, learnable_temperature)
        self.init_pair_options()
        self.cross_view_only = cross_view_only
        self.gather = gather

    def forward(
        self,
        z_views: Sequence[Tensor],
        *,
        labels: Tensor | None = None,
        ids: Tensor | None = None,
        negatives: Tensor | None = None,
        negative_ids: Tensor | None = None,
    ) -> LossOutput:
        """z_views: V >= 2 tensors (B, D); ids: (B,) item ids; negatives: (K, D) bank rows with
        optional negative_ids (K,). `labels` is accepted for a uniform interface and unused."""
        pairs = build_view_pairs(z_views, ids, gather=self.gather, objective="InfoNCE")
        if self.anchor_views is not None:
            pairs = _keep_anchor_rows(pairs, self.anchor_views)
        scale = self.inverse_temperature()
        bank = None
        if negatives is not None and negatives.shape[0] > 0 and not len(self.pair_options):
            bank = _BankNegatives.build(pairs, scale, negatives, negative_ids)
        if len(self.pair_options):
            loss, metrics = self._with_pair_options(pairs, scale, negatives, negative_ids)
        elif pairs.num_views == 2 and self.anchor_views is None and ids_unique(pairs):
            loss, metrics = self._two_unique_views(pairs, scale, bank)
        elif (pairs.num_views == 2 and self.anchor_views == 1 and self.cross_view_only
              and bank is None and ids_unique(pairs)):
            loss, metrics = self._first_view_anchors(pairs, scale)
        else:
            loss, metrics = self._general(pairs, scale, bank)
        temperature = 1.0 / scale
        if isinstance(temperature, Tensor):
            temperature = temperature.detach()
        metrics["temperature"] = temperature
        return LossOutput(loss, metrics)

    def _two_unique_views(
        self, pairs: ViewPairs, scale: Tensor | float, bank: _BankNegatives | None
    ) -> tuple[Tensor, dict]:
        """Fast path (two views, every item once): the positive of each anchor is known, so no
        id masks are built; without a bank this is one cross_entropy, as textbook NT-Xent."""
        batch, global_batch = pairs.local_batch, pairs.global_batch
        device = pairs.anchors.device
        rows = torch.arange(2 * batch, device=device)
        local_columns = pairs.anchor_columns[:batch]  # columns of view 0 items among candidates
        if self.cross_view_only:
            anchors = pairs.anchors.reshape(2, batch, -1)
            keys = pairs.candidates.reshape(2, global_batch, -1).flip(0)
            similarity = torch.bmm(anchors, keys.transpose(1, 2)).reshape(2 * batch, global_batch)
            if similarity.dtype in (torch.float16, torch.bfloat16):
                similarity = similarity.float()
            targets = local_columns.repeat(2)
            logits = similarity * scale
        else:
            similarity = cosine_matrix(pairs.anchors, pairs.candidates)
            targets = torch.cat([local_columns + global_batch, local_columns])
            logits = similarity * scale
            self_logit = torch.tensor(float("-inf"), dtype=logits.dtype, device=device)
            logits = logits.index_put_((rows, pairs.anchor_columns), self_logit)  # no self-match
        if bank is None:
            loss = F.cross_entropy(logits, targets)
        else:
            log_denominator = torch.logaddexp(logits.logsumexp(dim=1), bank.log_sum_exp())
            loss = (log_denominator - logits[rows, targets]).mean()
        with torch.no_grad():
            similarity = similarity.detach()
            positive = similarity[rows, targets]
            if self.cross_view_only:  # each view's anchors against the other view's keys
                total = cosine_sum(anchors[0], keys[0]) + cosine_sum(anchors[1], keys[1])
            else:
                total = cosine_sum(pairs.anchors, pairs.candidates)
            count = similarity.numel() - 2 * batch
            if not self.cross_view_only:
                total = total - similarity[rows, pairs.anchor_columns].sum()
                count -= 2 * batch
            negative_sum = total - positive.sum()
            best = logits.detach().amax(dim=1)
            if bank is not None:
                bank_sum, bank_count = bank.similarity_sum_and_count()
                negative_sum, count = negative_sum + bank_sum, count + bank_count
                best = torch.maximum(best, bank.best_logit())
            metrics = {
                "contrastive_accuracy": (logits.detach()[rows, targets] >= best).float().mean(),
                "positive_similarity": positive.mean(),
                "negative_similarity": negative_sum / max(count, 1),
            }
        return loss, metrics

    def _first_view_anchors(self, pairs: ViewPairs, scale: Tensor | float
                            ) -> tuple[Tensor, dict]:
        """Fast path (two views, every item once, only view 0's rows anchors, cross-view
        only): each anchor against the rows of view 1, its own row the target; one
        cross_entropy (the one-directional InfoNCE of SGL and SimGCL, arXiv 2010.10783)."""
        keys = pairs.candidates[pairs.global_batch:]
        similarity = pairs.anchors @ keys.T
        if similarity.dtype in (torch.float16, torch.bfloat16):
            similarity = similarity.float()
        targets = pairs.anchor_columns
        logits = similarity * scale
        loss = F.cross_entropy(logits, targets)
        with torch.no_grad():
            rows = torch.arange(len(targets), device=targets.device)
            positive = similarity.detach()[rows, targets]
            count = max(similarity.numel() - len(targets), 1)
            metrics = {
                "contrastive_accuracy": (logits.detach()[rows, targets]
                                         >= logits.detach().amax(dim=1)).float().mean(),
                "positive_similarity": positive.mean(),
                "negative_similarity": (similarity.detach().sum() - positive.sum()) / count,
            }
        return loss, metrics

    def _with_pair_options(
        self, pairs: ViewPairs, scale: Tensor | float, negatives: Tensor | None,
        negative_ids: Tensor | None,
    ) -> tuple[Tensor, dict]:
        """The loss from the pair table the options edit (queue rows are candidates too)."""
        same_id = pairs.same_id_mask()
        if self.cross_view_only:
            other_view = pairs.other_view_mask()
            positive_mask, negative_mask = same_id & other_view, ~same_id & other_view
        else:
            positive_mask, negative_mask = same_id & ~pairs.self_mask(), ~same_id
        table = table_from_pairs(pairs, scale, positive_mask, negative_mask, negatives,
                                 negative_ids)
        return loss_with_pair_options(self, table)

    def _general(
        self, pairs: ViewPairs, scale: Tensor | float, bank: _BankNegatives | None
    ) -> tuple[Tensor, dict]:
        """Any number of views, duplicate ids, bank negatives. Positives are few (about V - 1
        per anchor), so they are handled as an index list rather than a dense matrix."""
        similarity = cosine_matrix(pairs.anchors, pairs.candidates)  # (A, C)
        logits = similarity * scale
        same_id = pairs.same_id_mask()
        if self.cross_view_only:
            other_view = pairs.other_view_mask()
            not_negative = same_id | ~other_view
            positive_mask = same_id & other_view
        else:
            not_negative = same_id  # the anchor itself has its own id
            positive_mask = same_id.clone()
            rows = torch.arange(pairs.anchors.shape[0], device=logits.device)
            positive_mask[rows, pairs.anchor_columns] = False
        lowest = torch.finfo(logits.dtype).min
        negative_logits = logits.masked_fill(not_negative, lowest)
        # a row without any negative gets lse ~ lowest: its terms are 0 with a zero gradient
        negative_lse = negative_logits.logsumexp(dim=1)  # (A,)
        if bank is not None:
            negative_lse = torch.logaddexp(negative_lse, bank.log_sum_exp())

        anchor_index, candidate_index = positive_mask.nonzero(as_tuple=True)
        positive_logits = logits[anchor_index, candidate_index]
        # -log(e^s / (e^s + e^lse)) = softplus(lse - s), for every (anchor, positive) pair
        per_pair = F.softplus(negative_lse[anchor_index] - positive_logits)
        positive_count = torch.bincount(anchor_index, minlength=logits.shape[0])
        pair_weight = 1.0 / positive_count[anchor_index].to(per_pair.dtype)
        anchors_with_positive = (positive_count > 0).sum().clamp_min(1)
        loss = (per_pair * pair_weight).sum() / anchors_with_positive

        with torch.no_grad():
            negative_mask = ~not_negative
            negative_sum = torch.where(negative_mask, similarity, 0.0).sum()
            negative_count = negative_mask.sum()
            best_negative = negative_logits.detach().amax(dim=1)
            if bank is not None:
                bank_sum, bank_count = bank.similarity_sum_and_count()
                negative_sum, negative_count = negative_sum + bank_sum, negative_count + bank_count
                best_negative = torch.maximum(best_negative, bank.best_logit())
            best_positive = torch.full_like(best_negative, lowest).scatter_reduce(
                0, anchor_index, positive_logits.detach(), reduce="amax"
            )
            correct = (best_positive >= best_negative) & (positive_count > 0)
            metrics = {
                "contrastive_accuracy": correct.sum() / anchors_with_positive,
                "positive_similarity": similarity[anchor_index, candidate_index].detach().mean(),
                "negative_similarity": negative_sum / negative_count.clamp_min(1),
            }
        return loss, metrics


def _keep_anchor_rows(pairs: ViewPairs, anchor_views: int) -> ViewPairs:
    """The pairs with only the rows of the first `anchor_views` views as anchors (all views
    stay candidates), so that nothing, the bank logits included, is computed for the rest."""
    rows = min(anchor_views, pairs.num_views) * pairs.local_batch
    return replace(
        pairs,
        anchors=pairs.anchors[:rows],
        anchor_ids=pairs.anchor_ids[:rows],
        anchor_columns=pairs.anchor_columns[:rows],
        anchor_views=pairs.anchor_views[:rows],
    )


@dataclass
class _BankNegatives:
    """Negatives from outside the batch (a queue): their logits against the anchors, with the
    rows of an anchor's own item (equal `negative_ids`) left out."""

    anchors: Tensor  # (A, D) normalised
    rows: Tensor  # (K, D) normalised bank rows
    similarity: Tensor  # (A, K) cosines
    logits: Tensor  # (A, K), left-out entries at the lowest float
    excluded: Tensor | None  # (A, K) bool, True where a bank row is the anchor's own item

    @classmethod
    def build(
        cls,
        pairs: ViewPairs,
        scale: Tensor | float,
        negatives: Tensor,
        negative_ids: Tensor | None,
    ) -> _BankNegatives:
        dim = pairs.anchors.shape[1]
        if negatives.dim() != 2 or negatives.shape[1] != dim:
            raise ValueError(f"negatives must be (K, {dim}); got {tuple(negatives.shape)}")
        rows = F.normalize(negatives.to(pairs.anchors.dtype), dim=-1)
        similarity = cosine_matrix(pairs.anchors, rows)
        logits = similarity * scale
        excluded = None
        if negative_ids is not None:
            negative_ids = check_ids(
                negative_ids, negatives.shape[0], pairs.anchors.device, name="negative_ids"
            )
            excluded = pairs.anchor_ids[:, None] == negative_ids[None, :]
            logits = logits.masked_fill(excluded, torch.finfo(logits.dtype).min)
        return cls(pairs.anchors, rows, similarity, logits, excluded)

    def log_sum_exp(self) -> Tensor:
        return self.logits.logsumexp(dim=1)

    def best_logit(self) -> Tensor:
        return self.logits.detach().amax(dim=1)

    def similarity_sum_and_count(self) -> tuple[Tensor, Tensor | int]:
        if self.excluded is None:
            return cosine_sum(self.anchors, self.rows), self.similarity.numel()
        kept = ~self.excluded
        return torch.where(kept, self.similarity.detach(), 0.0).sum(), kept.sum()
