"""AMCL: adaptive multi-head contrastive learning. Several projection heads each compare the
pairs in their own feature space, and every pair of every head gets its own temperature.

Wang, Koniusz, Gedeon and Zheng, 2024, "Adaptive Multi-head Contrastive Learning", ECCV,
arXiv 2310.05615. Views of one image are not always alike and views of two images sometimes
are, so a single similarity with one temperature cannot always rank positives first; AMCL
gives each of H heads its own similarity and re-weights each pair by an adaptive temperature,
from a maximum-likelihood objective over the head-wise posteriors of the positive, with a
regulariser against ill solutions (temperatures running to 0 or infinity).

Our formulation (the abstract fixes the ingredients, not these exact forms). The embedding
(B, H * d), e.g. from the `multi_projection` head, is split into H heads of d dimensions,
each L2-normalised, with cosines s^h_ik. Pair (i, k) under head h has the inverse temperature

    kappa^h_ik = exp(log(1 / t) + b_h + sum_g W_hg sg(s^g_ik))

(t the base temperature, W (H, H) and b (H,) learned and zero at the start, sg = no
gradient: a pair's temperature follows how alike the heads find it, and the encoder cannot
lower the loss by moving temperatures instead of pairs). The head-wise posterior of a
positive p of anchor i is the InfoNCE softmax with these logits, each positive scored
against the negatives only (as this library's InfoNCE), and the loss is the mean negative
log-likelihood over heads plus a Gaussian prior on the log temperatures around the base:

    loss = mean_h mean_i mean_p -log(e^{kappa s_ip} / (e^{kappa s_ip} + sum_n e^{kappa s_in}))
           + regularization * mean_h mean_{(i,k) pairs} (log kappa^h_ik - log(1 / t))^2

kappa is clamped at <= 100 (temperature >= 0.01) in the logits, not in the prior, which keeps
pulling it back. With `adaptive=False`, or W = b = 0 (as at the start), each head's term is
InfoNCE at temperature t, and with one head the loss is InfoNCE. Defaults (ours): 3 heads,
t = 0.1, regularization 0.1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._pairs import build_view_pairs, masked_mean, pair_metrics
from contrastlearn.objectives.base import LossOutput, stack_views
from contrastlearn.objectives.temperature import MIN_LEARNABLE_TEMPERATURE

__all__ = ["AMCL"]


@OBJECTIVES.register("amcl")
class AMCL(nn.Module):
    """Adaptive multi-head contrastive learning (Wang et al. 2024, arXiv 2310.05615): one
    InfoNCE per head of the embedding, each pair with a learned adaptive temperature under a
    prior that keeps it near the base temperature."""

    def __init__(self, num_heads: int = 3, temperature: float = 0.1, adaptive: bool = True,
                 regularization: float = 0.1, head_dim: int | None = None,
                 gather: bool = False) -> None:
        super().__init__()
        if int(num_heads) < 1:
            raise ValueError(f"amcl num_heads must be >= 1; got {num_heads}")
        if temperature <= 0 or regularization < 0:
            raise ValueError(f"amcl needs temperature > 0 and regularization >= 0; got "
                             f"{temperature} and {regularization}")
        self.num_heads = int(num_heads)
        self.head_dim = None if head_dim is None else int(head_dim)
        self.temperature = float(temperature)
        self.regularization = float(regularization)
        self.adaptive = adaptive
        self.gather = gather
        if adaptive:
            self.temperature_weight = nn.Parameter(torch.zeros(self.num_heads, self.num_heads))
            self.temperature_bias = nn.Parameter(torch.zeros(self.num_heads))

    def forward(self, z_views: Sequence[Tensor], *, labels: Tensor | None = None,
                ids: Tensor | None = None) -> LossOutput:
        """z_views: V >= 2 tensors (B, num_heads * d); ids: (B,) item ids. `labels` is
        accepted for a uniform interface and unused."""
        heads = self._split_heads(z_views)  # (V, B, H, d), each head unit-norm
        # concatenated heads scaled to unit norm, so the pairs' own normalisation keeps them
        flat = heads.flatten(2) / math.sqrt(self.num_heads)
        pairs = build_view_pairs(list(flat), ids, gather=self.gather, objective="AMCL")
        per_head = math.sqrt(self.num_heads)
        anchors = (pairs.anchors * per_head).unflatten(1, (self.num_heads, -1)).transpose(0, 1)
        candidates = (pairs.candidates * per_head).unflatten(1, (self.num_heads, -1))
        similarity = anchors @ candidates.permute(1, 2, 0)  # (H, A, C)
        if similarity.dtype in (torch.float16, torch.bfloat16):
            similarity = similarity.float()
        same_id = pairs.same_id_mask()
        positive_mask = same_id & ~pairs.self_mask()
        negative_mask = ~same_id

        base = math.log(1.0 / self.temperature)
        log_scale = self._log_scales(similarity.detach(), base)
        logits = similarity * log_scale.clamp_max(math.log(1 / MIN_LEARNABLE_TEMPERATURE)).exp()
        lowest = torch.finfo(logits.dtype).min
        negative_lse = logits.masked_fill(~negative_mask, lowest).logsumexp(dim=2, keepdim=True)
        per_pair = F.softplus(negative_lse - logits).masked_fill(~positive_mask, 0.0)
        positive_count = positive_mask.sum(dim=1)
        per_anchor = per_pair.sum(dim=2) / positive_count.clamp_min(1)  # (H, A)
        has_positive = (positive_count > 0).to(per_anchor.dtype)
        likelihood = (per_anchor * has_positive).sum(dim=1) / has_positive.sum().clamp_min(1)
        loss = likelihood.mean()

        metrics = pair_metrics(similarity.mean(dim=0), positive_mask, negative_mask)
        metrics["contrastive"] = loss.detach()
        if self.adaptive:
            pair_mask = (positive_mask | negative_mask).expand_as(log_scale)
            prior = masked_mean((log_scale - base) ** 2, pair_mask)
            loss = loss + self.regularization * prior
            temperatures = torch.exp(-log_scale.detach())
            metrics.update(
                temperature_prior=prior.detach(),
                temperature=masked_mean(temperatures, pair_mask),
                temperature_min=temperatures.masked_fill(~pair_mask, float("inf")).amin(),
                temperature_max=temperatures.masked_fill(~pair_mask, 0.0).amax())
        else:
            metrics["temperature"] = self.temperature
        return LossOutput(loss, metrics)

    def _log_scales(self, similarity: Tensor, base: float) -> Tensor:
        """log kappa^h_ik of every head and pair, (H, A, C); the base alone when not adaptive."""
        if not self.adaptive:
            return torch.full_like(similarity, base)
        mixed = torch.einsum("hg,gac->hac", self.temperature_weight.to(similarity.dtype),
                             similarity)
        return base + self.temperature_bias.to(similarity.dtype)[:, None, None] + mixed

    def _split_heads(self, z_views: Sequence[Tensor]) -> Tensor:
        stacked = stack_views(list(z_views))
        size = stacked.shape[-1]
        expected = None if self.head_dim is None else self.num_heads * self.head_dim
        if size % self.num_heads or (expected is not None and size != expected):
            wanted = (f"{self.num_heads} x {self.head_dim} = {expected}" if expected is not None
                      else f"a multiple of num_heads={self.num_heads}")
            raise ValueError(f"amcl splits the embedding into {self.num_heads} heads and needs "
                             f"a size of {wanted}; got {size}: give the multi_projection head "
                             "the same num_heads as the objective")
        heads = stacked.unflatten(2, (self.num_heads, size // self.num_heads))
        return F.normalize(heads, dim=-1)
