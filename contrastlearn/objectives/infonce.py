"""InfoNCE / NT-Xent: each view of an item must pick out the item's other views among negatives.

van den Oord et al., 2018, "Representation Learning with Contrastive Predictive Coding",
arXiv 1807.03748; Chen et al., 2020, "A Simple Framework for Contrastive Learning of Visual
Representations" (SimCLR, NT-Xent), arXiv 2002.05709; He et al., 2020, MoCo, arXiv 1911.05722;
learnable temperature as in Radford et al., 2021, CLIP, arXiv 2103.00020.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.objectives._pairs import (
    ViewPairs,
    build_view_pairs,
    check_ids,
    cosine_matrix,
    masked_logsumexp,
    pair_metrics,
)
from contrastlearn.objectives.base import LossOutput
from contrastlearn.registry import OBJECTIVES

MIN_LEARNABLE_TEMPERATURE = 0.01  # CLIP clamps its logit scale at 100


@OBJECTIVES.register("nt_xent")
@OBJECTIVES.register("infonce")
class InfoNCE(nn.Module):
    """InfoNCE over any number of views, with id masks and optional queue negatives.

    Every one of the V*B local rows is an anchor. Positives P(i): the other rows with the same
    id; negatives N(i): rows with a different id, plus bank rows (`negatives`) whose
    `negative_ids` differ from the anchor's. With s = cosine / temperature,

        loss_i = mean_{p in P(i)} -log( exp(s_ip) / (exp(s_ip) + sum_{n in N(i)} exp(s_in)) )

    i.e. each positive is scored against the negatives only, never against the other positives
    (the SimCLR multi-positive form; with two views and unique ids it is exactly NT-Xent). The
    loss is the mean of loss_i over anchors. `cross_view_only=True` compares an anchor only with
    rows of other views (MoCo: queries against keys, never query against query).
    """

    def __init__(
        self,
        temperature: float = 0.1,
        learnable_temperature: bool = False,
        cross_view_only: bool = False,
        gather: bool = False,
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0; got {temperature}")
        if learnable_temperature and temperature < MIN_LEARNABLE_TEMPERATURE:
            raise ValueError(
                f"a learnable temperature is clamped at >= {MIN_LEARNABLE_TEMPERATURE}; "
                f"got initial temperature {temperature}"
            )
        self.cross_view_only = cross_view_only
        self.gather = gather
        self.learnable_temperature = learnable_temperature
        log_inverse_temperature = torch.tensor(math.log(1.0 / temperature))
        if learnable_temperature:
            self.log_inverse_temperature = nn.Parameter(log_inverse_temperature)
        else:
            self.register_buffer("log_inverse_temperature", log_inverse_temperature)

    def inverse_temperature(self) -> Tensor:
        """1 / temperature, clamped so that the temperature stays >= 0.01."""
        maximum = math.log(1.0 / MIN_LEARNABLE_TEMPERATURE)
        return self.log_inverse_temperature.clamp(max=maximum).exp()

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
        if negatives is not None and negatives.shape[0] == 0:
            negatives = negative_ids = None
        scale = self.inverse_temperature()
        if negatives is None and pairs.num_views == 2 and self._ids_unique(pairs):
            loss, metrics = self._two_unique_views(pairs, scale)
        else:
            loss, metrics = self._general(pairs, scale, negatives, negative_ids)
        metrics["temperature"] = (1.0 / scale).detach()
        return LossOutput(loss, metrics)

    @staticmethod
    def _ids_unique(pairs: ViewPairs) -> bool:
        if pairs.ids_are_default:
            return True
        item_ids = pairs.candidate_ids[: pairs.global_batch]
        return int(torch.unique(item_ids).numel()) == pairs.global_batch

    def _two_unique_views(self, pairs: ViewPairs, scale: Tensor) -> tuple[Tensor, dict]:
        """Fast path (two views, every item once, no bank): one cross_entropy, as in NT-Xent."""
        batch, global_batch = pairs.local_batch, pairs.global_batch
        device = pairs.anchors.device
        local_columns = pairs.anchor_columns[:batch]  # columns of view 0 items among candidates
        if self.cross_view_only:
            anchors = pairs.anchors.reshape(2, batch, -1)
            keys = pairs.candidates.reshape(2, global_batch, -1).flip(0)
            similarity = torch.bmm(anchors, keys.transpose(1, 2)).reshape(2 * batch, global_batch)
            if similarity.dtype in (torch.float16, torch.bfloat16):
                similarity = similarity.float()
            targets = local_columns.repeat(2)
            logits = similarity * scale
            self_mask = None
        else:
            similarity = cosine_matrix(pairs.anchors, pairs.candidates)
            targets = torch.cat([local_columns + global_batch, local_columns])
            self_mask = torch.zeros_like(similarity, dtype=torch.bool)
            self_mask[torch.arange(2 * batch, device=device), pairs.anchor_columns] = True
            logits = (similarity * scale).masked_fill(self_mask, float("-inf"))
        loss = F.cross_entropy(logits, targets)
        with torch.no_grad():
            similarity = similarity.detach()
            rows = torch.arange(2 * batch, device=device)
            positive = similarity[rows, targets]
            total = similarity.sum()
            count = similarity.numel() - 2 * batch
            if self_mask is not None:
                total = total - similarity[rows, pairs.anchor_columns].sum()
                count -= 2 * batch
            metrics = {
                "contrastive_accuracy": (logits.detach().argmax(dim=1) == targets).float().mean(),
                "positive_similarity": positive.mean(),
                "negative_similarity": (total - positive.sum()) / max(count, 1),
            }
        return loss, metrics

    def _general(
        self,
        pairs: ViewPairs,
        scale: Tensor,
        negatives: Tensor | None,
        negative_ids: Tensor | None,
    ) -> tuple[Tensor, dict]:
        similarity = cosine_matrix(pairs.anchors, pairs.candidates)  # (A, C)
        logits = similarity * scale
        same_id = pairs.same_id_mask()
        comparable = ~pairs.self_mask()
        if self.cross_view_only:
            comparable &= pairs.other_view_mask()
        positive_mask = same_id & comparable
        negative_mask = ~same_id & comparable
        negative_logits, negative_logits_mask = logits, negative_mask
        bank_similarity = bank_negative_mask = None
        if negatives is not None:
            if negatives.dim() != 2 or negatives.shape[1] != pairs.anchors.shape[1]:
                raise ValueError(
                    f"negatives must be (K, {pairs.anchors.shape[1]}); got {tuple(negatives.shape)}"
                )
            bank = F.normalize(negatives.to(pairs.anchors.dtype), dim=-1)
            bank_similarity = cosine_matrix(pairs.anchors, bank)  # (A, K)
            if negative_ids is None:
                bank_negative_mask = torch.ones_like(bank_similarity, dtype=torch.bool)
            else:
                negative_ids = check_ids(
                    negative_ids, negatives.shape[0], bank.device, name="negative_ids"
                )
                bank_negative_mask = pairs.anchor_ids[:, None] != negative_ids[None, :]
            negative_logits = torch.cat([logits, bank_similarity * scale], dim=1)
            negative_logits_mask = torch.cat([negative_mask, bank_negative_mask], dim=1)
        negative_lse = masked_logsumexp(negative_logits, negative_logits_mask)  # (A,)
        # -log(e^s / (e^s + e^lse)) = softplus(lse - s), for every (anchor, positive) pair
        per_pair = F.softplus(negative_lse[:, None] - logits).masked_fill(~positive_mask, 0.0)
        positive_count = positive_mask.sum(dim=1)
        per_anchor = per_pair.sum(dim=1) / positive_count.clamp_min(1)
        has_positive = positive_count > 0
        loss = per_anchor.sum() / has_positive.sum().clamp_min(1)
        metrics = pair_metrics(
            similarity, positive_mask, negative_mask, bank_similarity, bank_negative_mask
        )
        return loss, metrics
