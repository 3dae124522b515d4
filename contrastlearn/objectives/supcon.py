"""Supervised contrastive loss (SupCon, the L_out form).

Khosla et al., 2020, "Supervised Contrastive Learning", arXiv 2004.11362.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.distributed import gather_no_grad, is_distributed
from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._pairs import (
    ViewPairs,
    build_view_pairs,
    check_ids,
    cosine_matrix,
    cosine_sum,
    ids_unique,
    masked_logsumexp,
    masked_mean,
    pair_metrics,
)
from contrastlearn.objectives.base import LossOutput
from contrastlearn.objectives.pair_options import (
    PairOptionsMixin,
    loss_with_pair_options,
    table_from_pairs,
)
from contrastlearn.objectives.temperature import TemperatureMixin

MAX_CLASSES_FOR_CLASS_SUMS = 256
"""Up to this many classes in a batch, SupCon sums positives by class (a matmul with the
one-hot classes) instead of building (A, M) masks."""


@OBJECTIVES.register("supcon")
class SupCon(PairOptionsMixin, TemperatureMixin, nn.Module):
    """SupCon L_out (Khosla et al., 2020, arXiv 2004.11362, eq. 2).

    Every local row i of every view is an anchor; A(i) = all other rows; positives P(i) = rows
    with the same label or the same id. With s = cosine / temperature,

        loss_i = -(temperature / base_temperature)
                 * mean_{p in P(i)} [s_ip - log sum_{a in A(i)} exp(s_ia)]

    averaged over the anchors that have at least one positive. One view is allowed (positives
    then come from labels only). `base_temperature` defaults to `temperature` (no rescaling).
    `learnable_temperature=True` learns the temperature as CLIP does (`TemperatureMixin`); the
    loss is then not rescaled, so `base_temperature` must stay unset. Pair options
    (`add_pair_option`) edit the weighted pair table instead (`pair_options`).
    """

    needs_labels = True
    pair_form = "supcon"

    def __init__(
        self,
        temperature: float = 0.1,
        base_temperature: float | None = None,
        gather: bool = False,
        learnable_temperature: bool = False,
    ) -> None:
        super().__init__()
        if learnable_temperature and base_temperature is not None:
            raise ValueError("SupCon with learnable_temperature rescales nothing: leave "
                             "base_temperature unset")
        self.init_temperature(temperature, learnable_temperature)
        self.init_pair_options()
        self.base_temperature = temperature if base_temperature is None else base_temperature
        self.gather = gather

    def forward(
        self,
        z_views: Sequence[Tensor],
        *,
        labels: Tensor | None = None,
        ids: Tensor | None = None,
    ) -> LossOutput:
        """z_views: V >= 1 tensors (B, D); labels: (B,) class labels (required); ids: (B,)."""
        pairs = build_view_pairs(
            z_views, ids, gather=self.gather, min_views=1, objective="SupCon"
        )
        if labels is None:
            raise ValueError("SupCon needs labels: pass labels=<(B,) tensor of class indices>")
        labels = check_ids(labels, pairs.local_batch, pairs.anchors.device, name="labels")
        global_labels = gather_no_grad(labels) if self.gather and is_distributed() else labels
        anchor_labels = labels.repeat(pairs.num_views)
        candidate_labels = global_labels.repeat(pairs.num_views)
        if len(self.pair_options):
            same_class = ((anchor_labels[:, None] == candidate_labels[None, :])
                          | pairs.same_id_mask())
            table = table_from_pairs(pairs, self.inverse_temperature(),
                                     same_class & ~pairs.self_mask(), ~same_class,
                                     labels=anchor_labels)
            loss, metrics = loss_with_pair_options(self, table)
            return LossOutput(self.temperature / self.base_temperature * loss, metrics)
        if ids_unique(pairs):
            classes, candidate_classes = torch.unique(candidate_labels, return_inverse=True)
            if len(classes) <= MAX_CLASSES_FOR_CLASS_SUMS:
                loss, metrics = self._by_class_sums(pairs, candidate_classes, len(classes))
                return LossOutput(loss, metrics)
        similarity = cosine_matrix(pairs.anchors, pairs.candidates)
        logits = similarity * self.inverse_temperature()
        not_self = ~pairs.self_mask()
        same_class = (anchor_labels[:, None] == candidate_labels[None, :]) | pairs.same_id_mask()
        positive_mask = same_class & not_self
        log_denominator = masked_logsumexp(logits, not_self)  # (A,)
        log_probability = logits - log_denominator[:, None]
        positive_count = positive_mask.sum(dim=1)
        mean_log_probability = log_probability.masked_fill(~positive_mask, 0.0).sum(dim=1)
        mean_log_probability = mean_log_probability / positive_count.clamp_min(1)
        has_positive = positive_count > 0
        scale = self.temperature / self.base_temperature
        loss = -scale * mean_log_probability.sum() / has_positive.sum().clamp_min(1)
        metrics = pair_metrics(similarity, positive_mask, ~same_class)
        return LossOutput(loss, metrics)

    def _by_class_sums(self, pairs: ViewPairs, candidate_classes: Tensor, num_classes: int
                       ) -> tuple[Tensor, dict]:
        """Fast path (every item once, few classes): an anchor's positives are the other rows of
        its class, so the sum of its positive logits is one entry of logits @ one_hot(classes)
        minus its own logit; no (A, M) masks are built. Same loss, gradients and metrics."""
        rows = torch.arange(pairs.anchors.shape[0], device=pairs.anchors.device)
        anchor_classes = candidate_classes[pairs.anchor_columns]
        similarity = cosine_matrix(pairs.anchors, pairs.candidates)
        one_hot = F.one_hot(candidate_classes, num_classes).to(similarity.dtype)
        inverse_temperature = self.inverse_temperature()
        logits = similarity * inverse_temperature
        self_logits = logits[rows, pairs.anchor_columns]
        excluded = torch.tensor(float("-inf"), dtype=logits.dtype, device=logits.device)
        others = logits.index_put((rows, pairs.anchor_columns), excluded)
        log_denominator = others.logsumexp(dim=1)
        class_sizes = one_hot.sum(dim=0)
        positive_count = class_sizes[anchor_classes] - 1
        same_class_logit_sum = (logits @ one_hot)[rows, anchor_classes]
        positive_logit_sum = same_class_logit_sum - self_logits
        mean_log_probability = (positive_logit_sum / positive_count.clamp_min(1)
                                - log_denominator)
        has_positive = positive_count > 0
        scale = self.temperature / self.base_temperature
        loss = (-scale * mean_log_probability.masked_fill(~has_positive, 0.0).sum()
                / has_positive.sum().clamp_min(1))
        with torch.no_grad():
            similarity = similarity.detach()
            same_class_sum = same_class_logit_sum.detach() / inverse_temperature  # cosines
            positive_sum = (same_class_sum - similarity[rows, pairs.anchor_columns]).sum()
            total = cosine_sum(pairs.anchors, pairs.candidates)
            negative_count = similarity.numel() - class_sizes[anchor_classes].sum()
            best_is_positive = candidate_classes[others.detach().argmax(dim=1)] == anchor_classes
            metrics = {
                "contrastive_accuracy": masked_mean(best_is_positive.to(similarity.dtype),
                                                    has_positive),
                "positive_similarity": positive_sum / positive_count.sum().clamp_min(1),
                "negative_similarity": (total - same_class_sum.sum())
                / negative_count.clamp_min(1),
            }
        return loss, metrics
