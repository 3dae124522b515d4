"""Supervised contrastive loss (SupCon, the L_out form).

Khosla et al., 2020, "Supervised Contrastive Learning", arXiv 2004.11362.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from contrastlearn.core.distributed import gather_no_grad, is_distributed
from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._pairs import (
    build_view_pairs,
    check_ids,
    cosine_matrix,
    masked_logsumexp,
    pair_metrics,
)
from contrastlearn.objectives.base import LossOutput


@OBJECTIVES.register("supcon")
class SupCon(nn.Module):
    """SupCon L_out (Khosla et al., 2020, arXiv 2004.11362, eq. 2).

    Every local row i of every view is an anchor; A(i) = all other rows; positives P(i) = rows
    with the same label or the same id. With s = cosine / temperature,

        loss_i = -(temperature / base_temperature)
                 * mean_{p in P(i)} [s_ip - log sum_{a in A(i)} exp(s_ia)]

    averaged over the anchors that have at least one positive. One view is allowed (positives
    then come from labels only). `base_temperature` defaults to `temperature` (no rescaling).
    """

    needs_labels = True

    def __init__(
        self,
        temperature: float = 0.1,
        base_temperature: float | None = None,
        gather: bool = False,
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0; got {temperature}")
        self.temperature = temperature
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

        similarity = cosine_matrix(pairs.anchors, pairs.candidates)
        logits = similarity / self.temperature
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
