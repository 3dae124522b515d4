"""SwAV: swapped prediction of Sinkhorn-Knopp cluster assignments between views.

Caron et al., 2020, "Unsupervised Learning of Visual Features by Contrasting Cluster
Assignments", arXiv 2006.09882.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.distributed import is_distributed, world_size
from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives.base import LossOutput, stack_views


def _logsumexp(log_values: Tensor, dim: int | tuple[int, ...], across_ranks: bool) -> Tensor:
    """log-sum-exp over `dim` (keepdim); with across_ranks, also over every rank's values."""
    shift = log_values.amax(dim=dim, keepdim=True)
    if across_ranks:
        dist.all_reduce(shift, op=dist.ReduceOp.MAX)
    total = torch.exp(log_values - shift).sum(dim=dim, keepdim=True)
    if across_ranks:
        dist.all_reduce(total)
    return total.log() + shift


@torch.no_grad()
def sinkhorn_knopp(
    scores: Tensor,
    epsilon: float = 0.05,
    iterations: int = 3,
    *,
    gather: bool = False,
) -> Tensor:
    """Soft assignments (B, K) of B samples to K prototypes from (B, K) scores.

    Q = exp(scores / epsilon) / sum(Q), then `iterations` alternations of "each prototype gets
    1/K of the mass" and "each sample gets 1/B of the mass"; the result is scaled so that every
    row (sample) sums to 1, and prototype columns sum to about B/K (exactly in the limit). Runs
    in the log domain in float64, so a small epsilon cannot overflow or divide by zero. With
    gather=True and a process group, the sums over samples run over every rank (as SwAV's
    distributed_sinkhorn). No gradient flows through the codes.
    """
    if scores.dim() != 2:
        raise ValueError(f"scores must be (batch, prototypes); got {tuple(scores.shape)}")
    across_ranks = gather and is_distributed()
    log_assignment = scores.detach().double().T / epsilon  # (K, B)
    num_prototypes = log_assignment.shape[0]
    total_samples = log_assignment.shape[1] * (world_size() if across_ranks else 1)
    log_assignment = log_assignment - _logsumexp(log_assignment, (0, 1), across_ranks)
    for _ in range(iterations):
        prototype_mass = _logsumexp(log_assignment, 1, across_ranks)
        log_assignment = log_assignment - prototype_mass - math.log(num_prototypes)
        sample_mass = _logsumexp(log_assignment, 0, False)
        log_assignment = log_assignment - sample_mass - math.log(total_samples)
    return torch.exp(log_assignment + math.log(total_samples)).T


@OBJECTIVES.register("swav")
class SwAV(nn.Module):
    """Swapped prediction (Caron et al., 2020, arXiv 2006.09882).

    For each of the first `num_assignment_views` views a, codes q_a = sinkhorn_knopp(scores_a);
    every other view v predicts them with softmax(scores_v / temperature):

        loss = mean_a mean_{v != a} mean_i -sum_k q_a[i, k] log softmax(scores_v[i] / temperature)_k

    Scores are the cosines between normalised embeddings and normalised prototypes; global crops
    come first, local crops after.
    """

    def __init__(
        self,
        temperature: float = 0.1,
        sinkhorn_epsilon: float = 0.05,
        sinkhorn_iterations: int = 3,
        num_assignment_views: int = 2,
        gather: bool = False,
    ) -> None:
        super().__init__()
        if temperature <= 0 or sinkhorn_epsilon <= 0:
            raise ValueError("temperature and sinkhorn_epsilon must be > 0")
        if num_assignment_views < 1:
            raise ValueError(f"num_assignment_views must be >= 1; got {num_assignment_views}")
        self.temperature = temperature
        self.sinkhorn_epsilon = sinkhorn_epsilon
        self.sinkhorn_iterations = sinkhorn_iterations
        self.num_assignment_views = num_assignment_views
        self.gather = gather

    def forward(
        self,
        scores_views: Sequence[Tensor],
        *,
        labels: Tensor | None = None,
        ids: Tensor | None = None,
        queue_scores: Sequence[Tensor] | None = None,
    ) -> LossOutput:
        """scores_views: V >= 2 tensors (B, K); queue_scores: optional (Q, K) scores of queued
        embeddings per assignment view, prepended before Sinkhorn (SwAV's queue)."""
        stacked = stack_views(scores_views)  # (V, B, K)
        num_views, batch_size, _ = stacked.shape
        if num_views < 2 or num_views < self.num_assignment_views:
            raise ValueError(
                f"SwAV needs >= 2 views and >= num_assignment_views={self.num_assignment_views}; "
                f"got {num_views}"
            )
        if queue_scores is not None and len(queue_scores) != self.num_assignment_views:
            raise ValueError(
                f"queue_scores must hold one tensor per assignment view "
                f"({self.num_assignment_views}); got {len(queue_scores)}"
            )
        if stacked.dtype in (torch.float16, torch.bfloat16):
            stacked = stacked.float()
        log_predictions = F.log_softmax(stacked / self.temperature, dim=-1)
        loss = stacked.new_zeros((), dtype=log_predictions.dtype)
        entropies, used = [], []
        for view in range(self.num_assignment_views):
            scores = stacked[view]
            if queue_scores is not None:
                scores = torch.cat([queue_scores[view].detach().to(scores), scores], dim=0)
            codes = sinkhorn_knopp(
                scores, self.sinkhorn_epsilon, self.sinkhorn_iterations, gather=self.gather
            )[-batch_size:].to(log_predictions.dtype)
            other_views = [v for v in range(num_views) if v != view]
            cross_entropy = -(codes[None] * log_predictions[other_views]).sum(dim=-1)  # (V-1, B)
            loss = loss + cross_entropy.mean()
            entropies.append(-(codes * codes.clamp_min(1e-12).log()).sum(dim=-1).mean())
            used.append(codes.argmax(dim=-1))
        loss = loss / self.num_assignment_views
        num_prototypes = stacked.shape[-1]
        metrics = {
            "code_entropy": torch.stack(entropies).mean().detach(),
            "prototype_usage": torch.unique(torch.cat(used)).numel() / num_prototypes,
        }
        return LossOutput(loss, metrics)
