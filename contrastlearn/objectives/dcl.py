"""Decoupled contrastive loss (DCL) and its weighted form (DCLW).

Yeh et al., 2021, "Decoupled Contrastive Learning", arXiv 2110.06848.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.nn.functional import all_reduce as differentiable_all_reduce

from contrastlearn.core.distributed import is_distributed
from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._pairs import (
    ViewPairs,
    build_view_pairs,
    cosine_matrix,
    cosine_sum,
    ids_unique,
    masked_logsumexp,
    pair_metrics,
)
from contrastlearn.objectives.base import LossOutput
from contrastlearn.objectives.pair_options import (
    PairOptionsMixin,
    loss_with_pair_options,
    table_from_pairs,
)
from contrastlearn.objectives.temperature import TemperatureMixin


@OBJECTIVES.register("dcl")
class DCL(PairOptionsMixin, TemperatureMixin, nn.Module):
    """InfoNCE with the positive removed from the denominator (Yeh et al., 2021, 2110.06848).

    Anchors, positives P(i) (same id) and negatives N(i) (other ids) as in `InfoNCE`; with
    s = cosine / temperature,

        loss_i = mean_{p in P(i)} ( -w_ip * s_ip ) + log sum_{n in N(i)} exp(s_in)

    averaged over all V*B anchors (both directions of the paper's one-way loss). Unweighted,
    w = 1. Weighted (DCLW), w_ip = 2 - exp(c_ip / sigma) / mean_{(a,q)} exp(c_aq / sigma), with
    c = cosine and the mean over every positive pair (a, q) of the loss (of every rank when
    gathering): the negative von Mises-Fisher weighting of the paper and its official code
    (weights average to 1 over the batch; not detached, as in the authors' code).
    `learnable_temperature=True` learns the temperature as CLIP does (`TemperatureMixin`).
    Pair options (`add_pair_option`) are supported by the unweighted loss.
    """

    pair_form = "decoupled"

    def __init__(
        self,
        temperature: float = 0.1,
        weighted: bool = False,
        sigma: float = 0.5,
        gather: bool = False,
        learnable_temperature: bool = False,
    ) -> None:
        super().__init__()
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0; got {sigma}")
        self.init_temperature(temperature, learnable_temperature)
        self.init_pair_options()
        self.weighted = weighted
        self.sigma = sigma
        self.gather = gather

    def forward(
        self,
        z_views: Sequence[Tensor],
        *,
        labels: Tensor | None = None,
        ids: Tensor | None = None,
    ) -> LossOutput:
        """z_views: V >= 2 tensors (B, D); ids: (B,) item ids; `labels` is unused."""
        pairs = build_view_pairs(z_views, ids, gather=self.gather, objective="DCL")
        if pairs.global_batch < 2:
            raise ValueError("DCL needs at least 2 items in a batch: other items are negatives")
        if len(self.pair_options):
            same_id = pairs.same_id_mask()
            table = table_from_pairs(pairs, self.inverse_temperature(),
                                     same_id & ~pairs.self_mask(), ~same_id)
            loss, metrics = loss_with_pair_options(self, table)
        elif pairs.num_views == 2 and ids_unique(pairs):
            loss, metrics = self._two_unique_views(pairs)
        else:
            loss, metrics = self._general(pairs)
        metrics["temperature"] = self.current_temperature()
        return LossOutput(loss, metrics)

    def add_pair_option(self, option: nn.Module) -> None:
        if self.weighted:
            raise ValueError(f"{type(option).__name__} cannot combine with DCLW's positive "
                             "weighting: use the unweighted dcl loss")
        super().add_pair_option(option)

    def _two_unique_views(self, pairs: ViewPairs) -> tuple[Tensor, dict]:
        """Fast path (two views, every item once): each anchor's one positive is known, so the
        negatives are every candidate but the anchor and its positive; no id masks are built,
        and the loss costs what InfoNCE's fast path costs."""
        batch, global_batch = pairs.local_batch, pairs.global_batch
        rows = torch.arange(2 * batch, device=pairs.anchors.device)
        local_columns = pairs.anchor_columns[:batch]
        targets = torch.cat([local_columns + global_batch, local_columns])
        similarity = cosine_matrix(pairs.anchors, pairs.candidates)
        logits = similarity * self.inverse_temperature()
        excluded = torch.tensor(float("-inf"), dtype=logits.dtype, device=logits.device)
        negatives_only = logits.index_put(  # one copy: the anchor itself and its positive out
            (rows.repeat(2), torch.cat([pairs.anchor_columns, targets])), excluded)
        positive_logits = logits[rows, targets]
        if self.weighted:
            positive_scores = similarity[rows, targets] / self.sigma
            every_row = torch.ones_like(positive_scores, dtype=torch.bool)[:, None]
            log_mean = self._log_mean_over_positive_pairs(positive_scores[:, None], every_row)
            positive_logits = (2.0 - torch.exp(positive_scores - log_mean)) * positive_logits
        loss = (negatives_only.logsumexp(dim=1) - positive_logits).mean()
        with torch.no_grad():
            similarity = similarity.detach()
            positive = similarity[rows, targets]
            total = cosine_sum(pairs.anchors, pairs.candidates)
            negative_sum = total - similarity[rows, pairs.anchor_columns].sum() - positive.sum()
            best_negative = negatives_only.detach().amax(dim=1)
            metrics = {
                "contrastive_accuracy": (logits.detach()[rows, targets]
                                         >= best_negative).float().mean(),
                "positive_similarity": positive.mean(),
                "negative_similarity": negative_sum / max(similarity.numel() - 4 * batch, 1),
            }
        return loss, metrics

    def _general(self, pairs: ViewPairs) -> tuple[Tensor, dict]:
        """Any number of views and duplicate ids: positives and negatives from id masks."""
        similarity = cosine_matrix(pairs.anchors, pairs.candidates)
        logits = similarity * self.inverse_temperature()
        same_id = pairs.same_id_mask()
        not_self = ~pairs.self_mask()
        positive_mask = same_id & not_self
        negative_mask = ~same_id
        if self.weighted:
            positive_scores = similarity / self.sigma
            log_mean = self._log_mean_over_positive_pairs(positive_scores, positive_mask)
            # masked before exp so that non-positive entries cannot overflow
            exponent = (positive_scores - log_mean).masked_fill(~positive_mask, 0.0)
            weighted_logits = (2.0 - torch.exp(exponent)) * logits
        else:
            weighted_logits = logits
        positive_count = positive_mask.sum(dim=1)
        positive_term = -weighted_logits.masked_fill(~positive_mask, 0.0).sum(dim=1)
        positive_term = positive_term / positive_count.clamp_min(1)
        negative_term = masked_logsumexp(logits, negative_mask)
        has_positive = positive_count > 0
        per_anchor = (positive_term + negative_term).masked_fill(~has_positive, 0.0)
        loss = per_anchor.sum() / has_positive.sum().clamp_min(1)
        return loss, pair_metrics(similarity, positive_mask, negative_mask)

    def _log_mean_over_positive_pairs(self, scores: Tensor, positive_mask: Tensor) -> Tensor:
        """log mean_{(a, q) positive} exp(scores_aq), over every rank's anchors when gathering
        (the sum travels through an autograd all_reduce, so gradients stay exact)."""
        distributed = self.gather and is_distributed()
        shift = scores.detach().masked_fill(~positive_mask, torch.finfo(scores.dtype).min).max()
        count = positive_mask.sum().to(scores.dtype)
        if distributed:
            dist.all_reduce(shift, op=dist.ReduceOp.MAX)
            dist.all_reduce(count)
        # masked before exp: a non-positive entry above the shift must not overflow
        total = torch.exp((scores - shift).masked_fill(~positive_mask, float("-inf"))).sum()
        if distributed:
            total = differentiable_all_reduce(total)
        return total.log() + shift - count.clamp_min(1).log()


@OBJECTIVES.register("dclw")
class DCLW(DCL):
    """DCL with the negative von Mises-Fisher positive weighting (Yeh et al., 2021, 2110.06848)."""

    def __init__(self, temperature: float = 0.1, sigma: float = 0.5, gather: bool = False,
                 learnable_temperature: bool = False) -> None:
        super().__init__(temperature=temperature, weighted=True, sigma=sigma, gather=gather,
                         learnable_temperature=learnable_temperature)

