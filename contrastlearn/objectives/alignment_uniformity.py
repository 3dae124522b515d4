"""Alignment and uniformity of embeddings on the hypersphere, as metrics and as a loss.

Wang & Isola, 2020, "Understanding Contrastive Representation Learning through Alignment and
Uniformity on the Hypersphere", arXiv 2005.10242.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.distributed import gather_no_grad, gather_with_grad
from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._pairs import build_view_pairs, masked_logsumexp
from contrastlearn.objectives.base import LossOutput


def alignment(x: Tensor, y: Tensor, alpha: float = 2) -> Tensor:
    """mean_i ||x_i - y_i||^alpha for L2-normalised rows of x, y (B, D); lower is better."""
    if x.shape != y.shape or x.dim() != 2:
        raise ValueError(
            f"x and y must be (B, D) of one shape; got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    x, y = F.normalize(_at_least_float32(x), dim=-1), F.normalize(_at_least_float32(y), dim=-1)
    return (x - y).norm(dim=1).pow(alpha).mean()


def _at_least_float32(x: Tensor) -> Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _squared_distances(anchors: Tensor, candidates: Tensor) -> Tensor:
    """||a - c||^2 = 2 - 2 a.c for unit rows (no sqrt, so the gradient is finite at 0)."""
    return (2.0 - 2.0 * anchors @ candidates.T).clamp_min(0.0)


def uniformity(x: Tensor, t: float = 2) -> Tensor:
    """log mean_{i != j} exp(-t ||x_i - x_j||^2) for L2-normalised rows of x (B, D), B >= 2;
    lower is more uniform."""
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"x must be (B, D) with B >= 2; got {tuple(x.shape)}")
    x = F.normalize(_at_least_float32(x), dim=-1)
    batch = x.shape[0]
    not_self = ~torch.eye(batch, dtype=torch.bool, device=x.device)
    exponent = -t * _squared_distances(x, x)
    log_sum = masked_logsumexp(exponent.reshape(-1), not_self.reshape(-1))
    return log_sum - math.log(batch * (batch - 1))


@OBJECTIVES.register("alignment_uniformity")
class AlignmentUniformity(nn.Module):
    """alignment_weight * mean over view pairs of alignment + uniformity_weight * mean over
    views of uniformity (Wang & Isola, 2020, arXiv 2005.10242). Pairs of rows with the same id
    are left out of uniformity; with gather=True, local rows are compared with the global batch
    and the uniformity is the global batch's (the same value on every rank).
    """

    def __init__(
        self,
        alignment_weight: float = 1.0,
        uniformity_weight: float = 1.0,
        alpha: float = 2,
        t: float = 2,
        gather: bool = False,
    ) -> None:
        super().__init__()
        self.alignment_weight = alignment_weight
        self.uniformity_weight = uniformity_weight
        self.alpha = alpha
        self.t = t
        self.gather = gather

    def forward(
        self,
        z_views: Sequence[Tensor],
        *,
        labels: Tensor | None = None,
        ids: Tensor | None = None,
    ) -> LossOutput:
        """z_views: V >= 2 tensors (B, D); ids: (B,) item ids; `labels` is unused."""
        pairs = build_view_pairs(z_views, ids, gather=self.gather, objective="AlignmentUniformity")
        num_views, batch, global_batch = pairs.num_views, pairs.local_batch, pairs.global_batch
        views = _at_least_float32(pairs.anchors).reshape(num_views, batch, -1)
        alignment_value = torch.stack(
            [
                alignment(views[a], views[b], self.alpha)
                for a, b in itertools.combinations(range(num_views), 2)
            ]
        ).mean()
        # uniformity within each view: local rows against the view's global rows
        candidates = _at_least_float32(pairs.candidates).reshape(num_views, global_batch, -1)
        exponent = -self.t * (2.0 - 2.0 * views @ candidates.transpose(1, 2)).clamp_min(0.0)
        local_ids = pairs.anchor_ids[:batch]
        global_ids = pairs.candidate_ids[:global_batch]
        different = (local_ids[:, None] != global_ids[None, :]).expand(num_views, -1, -1)
        flat = exponent.reshape(num_views, -1)
        flat_mask = different.reshape(num_views, -1)
        # the log of the mean over the *global* batch: per-rank sums are combined before the
        # log, so every rank holds the same value and DDP averages to the one-process loss
        local_log_sum = masked_logsumexp(flat, flat_mask)
        log_sum = torch.logsumexp(gather_with_grad(local_log_sum[None]), dim=0)
        count = gather_no_grad(flat_mask.sum(dim=1)[None]).sum(dim=0).clamp_min(1)
        uniformity_value = (log_sum - count.to(flat.dtype).log()).mean()
        loss = self.alignment_weight * alignment_value + self.uniformity_weight * uniformity_value
        metrics = {"alignment": alignment_value.detach(), "uniformity": uniformity_value.detach()}
        return LossOutput(loss, metrics)
