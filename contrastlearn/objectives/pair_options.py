"""Pair options: the papers' tricks that change which pairs an InfoNCE-family loss compares and
how much each counts (hard-negative mixing, false-negative cancellation, soft positives,
cluster-restricted negatives...), as small modules that plug into InfoNCE, DCL and SupCon of
any method instead of forks of those losses.

An objective that accepts options (`PairOptionsMixin`) builds a `PairTable` of every anchor
against every candidate (and its queue, if any), hands it to each option in turn, and computes
its loss from the result with `weighted_pair_loss`. Without options the objectives keep their
own fast paths; the table is built only when an option is attached.

With s = cosine / temperature, positive weights w_ip >= 0, negative log-weights u_in (-inf
drops a negative) and per-anchor synthetic negatives x_ik (logits), the loss of anchor i is

    d_i     = log( sum_n exp(s_in + u_in) + sum_k exp(x_ik) [+ sum_p exp(s_ip), SupCon] )
    loss_i  = sum_p w_ip * f(d_i, s_ip) / sum_p w_ip,

f = softplus(d - s) for InfoNCE (each positive scored against the negatives only), d - s for
DCL and SupCon; the loss is the mean over anchors with some positive weight. With w = 1 on the
positives, u = 0 on the negatives and no synthetic negatives it equals the plain loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.objectives._pairs import ViewPairs, check_ids, pair_metrics

Form = Literal["infonce", "decoupled", "supcon"]


@dataclass
class PairTable:
    """Anchors against candidates, as the options see and change them.

    Rows are anchors (local rows, L2-normalised, with gradients); columns are candidates (the
    rows of every view, gathered across processes when the loss gathers, then the queue rows
    if any). `positive_weight` and `negative_log_weight` start as the plain loss's masks
    (1 / 0 on positives, 0 / -inf on negatives); options edit them and may append synthetic
    negatives (`extra_negatives`, (A, K, D), normalised, one set per anchor)."""

    anchors: Tensor  # (A, D)
    candidates: Tensor  # (C, D)
    similarity: Tensor  # (A, C) cosines, with gradients
    scale: Tensor | float  # 1 / temperature
    anchor_ids: Tensor  # (A,)
    candidate_ids: Tensor  # (C,); queue rows carry their own ids (or -1 - row when unknown)
    positive_mask: Tensor  # (A, C) bool, the plain loss's positives (never edited)
    negative_mask: Tensor  # (A, C) bool, the plain loss's negatives (never edited)
    positive_weight: Tensor  # (A, C) float
    negative_log_weight: Tensor  # (A, C) float
    extra_negatives: list[Tensor] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    """What the objective knows besides the pairs: `labels` (SupCon), `num_views`,
    `local_batch`, `batch_candidates` (how many leading columns are batch rows, not queue)."""

    @property
    def logits(self) -> Tensor:
        return self.similarity * self.scale

    def negative_logits(self) -> Tensor:
        """The logits of the current negatives (others at the lowest float), detached: what an
        option ranks to find hard negatives."""
        lowest = torch.finfo(self.similarity.dtype).min
        return (self.logits.detach() + self.negative_log_weight).nan_to_num(neginf=lowest)


class PairOption(nn.Module):
    """Base of every pair option: `forward(table) -> table` edits the weights or appends
    synthetic negatives; it must not edit `positive_mask` / `negative_mask`.

    `needs_negatives`: the option acts on negatives, so a loss without any (BYOL's) refuses
    it. `forms`: the loss forms it is defined for."""

    needs_negatives: bool = True
    forms: tuple[Form, ...] = ("infonce", "decoupled", "supcon")

    def forward(self, table: PairTable) -> PairTable:
        raise NotImplementedError


class PairOptionsMixin:
    """For an `nn.Module` loss: `self.pair_options` (an `nn.ModuleList`, saved with the
    model) and `add_pair_option`. `pair_form` says how the loss scores a positive."""

    pair_form: Form = "infonce"
    pair_options: nn.ModuleList

    def init_pair_options(self) -> None:
        assert isinstance(self, nn.Module)
        self.pair_options = nn.ModuleList()

    def add_pair_option(self, option: PairOption) -> None:
        if self.pair_form not in option.forms:
            raise ValueError(f"{type(option).__name__} is defined for {', '.join(option.forms)} "
                             f"losses, not for {type(self).__name__} ({self.pair_form})")
        self.pair_options.append(option)

    def apply_pair_options(self, table: PairTable) -> PairTable:
        for option in self.pair_options:
            table = option(table)
        return table


def start_table(
    anchors: Tensor, candidates: Tensor, scale: Tensor | float, anchor_ids: Tensor,
    candidate_ids: Tensor, positive_mask: Tensor, negative_mask: Tensor,
    **context: Any,
) -> PairTable:
    """The table of the plain loss: weight 1 on positives, log-weight 0 on negatives."""
    similarity = anchors @ candidates.T
    if similarity.dtype in (torch.float16, torch.bfloat16):
        similarity = similarity.float()
    positive_weight = positive_mask.to(similarity.dtype)
    negative_log_weight = torch.zeros_like(similarity).masked_fill(~negative_mask, float("-inf"))
    return PairTable(anchors, candidates, similarity, scale, anchor_ids, candidate_ids,
                     positive_mask, negative_mask, positive_weight, negative_log_weight,
                     context=context)


def table_from_pairs(
    pairs: ViewPairs, scale: Tensor | float, positive_mask: Tensor, negative_mask: Tensor,
    negatives: Tensor | None = None, negative_ids: Tensor | None = None, **context: Any,
) -> PairTable:
    """The plain table of an objective's view pairs, with queue rows (`negatives`, (K, D))
    appended as candidates that are negatives of every anchor but their own item's."""
    candidates, candidate_ids = pairs.candidates, pairs.candidate_ids
    context.update(num_views=pairs.num_views, local_batch=pairs.local_batch,
                   batch_candidates=candidates.shape[0])
    if negatives is not None and negatives.shape[0] > 0:
        dim = candidates.shape[1]
        if negatives.dim() != 2 or negatives.shape[1] != dim:
            raise ValueError(f"negatives must be (K, {dim}); got {tuple(negatives.shape)}")
        count = negatives.shape[0]
        bank_ids = (-1 - torch.arange(count, device=candidates.device) if negative_ids is None
                    else check_ids(negative_ids, count, candidates.device, name="negative_ids"))
        candidates = torch.cat([candidates, F.normalize(negatives.to(candidates.dtype), dim=-1)])
        candidate_ids = torch.cat([candidate_ids, bank_ids])
        positive_mask = torch.cat([positive_mask, positive_mask.new_zeros(len(positive_mask),
                                                                           count)], dim=1)
        negative_mask = torch.cat(
            [negative_mask, pairs.anchor_ids[:, None] != bank_ids[None, :]], dim=1)
    return start_table(pairs.anchors, candidates, scale, pairs.anchor_ids, candidate_ids,
                       positive_mask, negative_mask, **context)


def loss_with_pair_options(
    loss: PairOptionsMixin, table: PairTable
) -> tuple[Tensor, dict[str, Tensor]]:
    """Apply `loss`'s options to the plain table; the loss and the plain pairs' metrics."""
    metrics = pair_metrics(table.similarity, table.positive_mask, table.negative_mask)
    edited = loss.apply_pair_options(table)
    return weighted_pair_loss(edited, loss.pair_form), metrics


def weighted_pair_loss(table: PairTable, form: Form) -> Tensor:
    """The loss of the module docstring from a (possibly edited) table."""
    logits = table.logits
    negative_terms = [logits + table.negative_log_weight]
    if form == "supcon":  # SupCon's denominator holds every other row, positives included
        positive_logits = logits.masked_fill(table.positive_weight <= 0, float("-inf"))
        negative_terms.append(positive_logits)
    for extra in table.extra_negatives:
        negative_terms.append(torch.einsum("ad,akd->ak", table.anchors, extra) * table.scale)
    lowest = torch.finfo(logits.dtype).min
    log_denominator = torch.cat(negative_terms, dim=1).nan_to_num(neginf=lowest).logsumexp(dim=1)
    margin = log_denominator[:, None] - logits
    per_pair = F.softplus(margin) if form == "infonce" else margin
    weight = table.positive_weight
    total_weight = weight.sum(dim=1)
    has_positive = total_weight > 0
    per_anchor = (weight * per_pair.masked_fill(weight <= 0, 0.0)).sum(dim=1)
    per_anchor = per_anchor / total_weight.clamp_min(torch.finfo(weight.dtype).tiny)
    return per_anchor.masked_fill(~has_positive, 0.0).sum() / has_positive.sum().clamp_min(1)
