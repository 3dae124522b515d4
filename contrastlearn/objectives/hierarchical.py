"""TS2Vec's hierarchical contrastive loss (Yue et al. 2022, arXiv 2106.10466).

Two views' per-timestamp representations of the same time span, (B, T, D) each, are
contrasted at every scale of a max-pooling pyramid (pool by 2 along time until one step is
left):
- instance-wise: at each timestamp, a series' other view is the positive among all 2B
  representations of that timestamp (the rest of the batch are negatives);
- temporal: within each series, the same timestamp of the other view is the positive among
  all 2T timestamps of both views.
Scores are plain dot products (no normalisation, no temperature), as in the paper. The loss
is alpha * instance + (1 - alpha) * temporal, averaged over scales; the temporal term starts
at scale `temporal_unit`, and the final one-step scale has only the instance term.

SoftCLT (Lee et al., ICLR 2024, arXiv 2312.16424) replaces the one-hot targets by soft
assignments: every other item j of a row is also a target, with weight w(i, j) (the
counterpart keeps weight 1), and the row's loss is -sum_j w(i, j) log p(i -> j). Instance
weights come from distances between the raw series (`soft_instance_weights` here scales each
row; the SoftCLT method's default scales columns as the paper's code does); temporal
weights decay with the time lag, 2 sigmoid(-tau |t - t'|), with tau doubled at every scale
because one pooled step spans twice as many timestamps.

Universum negatives (TimesURL, Liu & Chen, AAAI 2024, arXiv 2312.15709) make both terms
harder: each view's items are mixed with another item of the same view and group,
u_i = lam z_i + (1 - lam) z_pi(i) (another series for the instance term, another timestamp
of the series for the temporal term), and these 2N mixtures join every row's candidates as
negatives only. A small lam makes u_i close to another item but still partly the anchor, so
it can only be told apart by what is the anchor's own. pi is a cyclic shift by a random
offset in [1, N - 1], so no mixture is a copy of its own item.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.distributed import gather_with_grad, is_distributed
from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives.base import LossOutput


def _pairwise_cross_entropy(first: Tensor, second: Tensor,
                            negatives: Tensor | None = None) -> Tensor:
    """Groups (G, N, D) of N items per view: for each of the 2N items of a group, cross-entropy
    of finding its counterpart in the other view among the other 2N - 1 items and the
    group's extra `negatives` (G, M, D), if given."""
    items = first.shape[1]
    both = torch.cat([first, second], dim=1)  # (G, 2N, D)
    candidates = both if negatives is None else torch.cat([both, negatives], dim=1)
    scores = both @ candidates.transpose(1, 2)  # (G, 2N, 2N + M)
    eye = torch.eye(2 * items, scores.shape[-1], dtype=torch.bool, device=both.device)
    scores = scores.masked_fill(eye, float("-inf"))
    rows = torch.arange(2 * items, device=both.device)
    targets = torch.where(rows < items, rows + items, rows - items)
    return F.cross_entropy(scores.reshape(-1, scores.shape[-1]), targets.repeat(both.shape[0]))


def universum(first: Tensor, second: Tensor, mix: float, generator: torch.Generator) -> Tensor:
    """TimesURL's universum for groups (G, N, D) of N items per view: each view's items mixed
    with the items a random cyclic shift away, mix * z_i + (1 - mix) * z_(i + k mod N), one
    shift k in [1, N - 1] per view; (G, 2N, D). Needs N >= 2."""
    items = first.shape[1]
    mixtures = []
    for view in (first, second):
        shift = int(torch.randint(1, items, (1,), generator=generator))
        mixtures.append(mix * view + (1 - mix) * view.roll(-shift, dims=1))
    return torch.cat(mixtures, dim=1)


def _soft_pairwise_cross_entropy(first: Tensor, second: Tensor, weights: Tensor) -> Tensor:
    """Like `_pairwise_cross_entropy`, with soft targets: `weights` (G or 1, N, N) is the
    assignment between items i and j of a group, applied to both views of j (w(i, i) is the
    counterpart's weight)."""
    items = first.shape[1]
    both = torch.cat([first, second], dim=1)
    eye = torch.eye(2 * items, dtype=torch.bool, device=both.device)
    scores = (both @ both.transpose(1, 2)).masked_fill(eye, float("-inf"))
    log_probs = F.log_softmax(scores, dim=-1).masked_fill(eye, 0.0)
    targets = weights.to(log_probs.dtype).repeat(1, 2, 2).masked_fill(eye, 0.0)
    return -(targets * log_probs).sum(dim=-1).mean()


def soft_instance_weights(distances: Tensor, tau: float, alpha: float = 0.5) -> Tensor:
    """SoftCLT-style instance assignments, the "row" variant, from an (N, N) distance matrix
    (the paper's code scales columns instead: see the SoftCLT method): each row's distances to
    the other items are min-max scaled to [0, 1] and mapped to 2 alpha sigmoid(-tau d), so the
    nearest other item gets alpha and far ones approach 0; the diagonal (the item itself,
    i.e. its other view) gets 1."""
    if distances.dim() != 2 or distances.shape[0] != distances.shape[1]:
        raise ValueError(f"distances must be a square matrix; got {tuple(distances.shape)}")
    if tau <= 0 or not 0 <= alpha <= 1:
        raise ValueError(f"need tau > 0 and alpha in [0, 1]; got tau={tau}, alpha={alpha}")
    eye = torch.eye(len(distances), dtype=torch.bool, device=distances.device)
    low = distances.masked_fill(eye, float("inf")).amin(dim=1, keepdim=True)
    high = distances.masked_fill(eye, float("-inf")).amax(dim=1, keepdim=True)
    span = (high - low).clamp_min(torch.finfo(distances.dtype).tiny)
    scaled = ((distances - low) / span).clamp(0, 1)
    weights = 2 * alpha * torch.sigmoid(-tau * scaled)
    return weights.masked_fill(eye, 1.0)


def timelag_weights(length: int, tau: float, device: torch.device | None = None) -> Tensor:
    """(length, length) temporal assignments 2 sigmoid(-tau |t - t'|): 1 on the diagonal."""
    steps = torch.arange(length, device=device, dtype=torch.float32)
    return 2 * torch.sigmoid(-tau * (steps[:, None] - steps[None, :]).abs())


def _with_universum(first: Tensor, second: Tensor, mix: float | None,
                    generator: torch.Generator | None) -> Tensor:
    if mix is None:
        return _pairwise_cross_entropy(first, second)
    if generator is None:
        raise ValueError("universum negatives need a generator")
    return _pairwise_cross_entropy(first, second, universum(first, second, mix, generator))


def instance_contrastive(first: Tensor, second: Tensor, universum_mix: float | None = None,
                         generator: torch.Generator | None = None) -> Tensor:
    """Per timestamp, contrast the B series of two views (B, T, D); 0 for B == 1. With
    `universum_mix`, mixtures of series (drawn with `generator`) are extra negatives."""
    if first.shape[0] == 1:
        return first.new_zeros(())
    return _with_universum(first.transpose(0, 1), second.transpose(0, 1), universum_mix,
                           generator)


def temporal_contrastive(first: Tensor, second: Tensor, universum_mix: float | None = None,
                         generator: torch.Generator | None = None) -> Tensor:
    """Per series, contrast the T timestamps of two views (B, T, D); 0 for T == 1. With
    `universum_mix`, mixtures of timestamps (drawn with `generator`) are extra negatives."""
    if first.shape[1] == 1:
        return first.new_zeros(())
    return _with_universum(first, second, universum_mix, generator)


@OBJECTIVES.register("hierarchical_contrastive")
class HierarchicalContrastive(nn.Module):
    """TS2Vec's loss over a max-pooling pyramid of two (B, T, D) views (see module docstring)."""

    def __init__(self, alpha: float = 0.5, temporal_unit: int = 0,
                 temporal_tau: float = 0.0, gather: bool = False,
                 universum_mix: float | None = None) -> None:
        super().__init__()
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if temporal_unit < 0:
            raise ValueError(f"temporal_unit must be >= 0, got {temporal_unit}")
        if temporal_tau < 0:
            raise ValueError(f"temporal_tau must be >= 0 (0: hard temporal targets), got "
                             f"{temporal_tau}")
        if universum_mix is not None and not 0 <= universum_mix < 1:
            raise ValueError(f"universum_mix must be in [0, 1) (None: no universum), got "
                             f"{universum_mix}")
        if universum_mix is not None and temporal_tau > 0:
            raise ValueError("universum negatives are defined for hard targets; set "
                             "temporal_tau to 0 or universum_mix to None")
        self.alpha, self.temporal_unit = float(alpha), int(temporal_unit)
        self.temporal_tau = float(temporal_tau)
        self.gather = gather
        self.universum_mix = None if universum_mix is None else float(universum_mix)

    def _instance(self, first: Tensor, second: Tensor, weights: Tensor | None,
                  generator: torch.Generator | None) -> Tensor:
        if weights is None or first.shape[0] == 1:
            return instance_contrastive(first, second, self.universum_mix, generator)
        return _soft_pairwise_cross_entropy(first.transpose(0, 1), second.transpose(0, 1),
                                            weights[None])

    def _temporal(self, first: Tensor, second: Tensor, scale: int,
                  generator: torch.Generator | None) -> Tensor:
        if self.temporal_tau == 0 or first.shape[1] == 1:
            return temporal_contrastive(first, second, self.universum_mix, generator)
        weights = timelag_weights(first.shape[1], self.temporal_tau * 2 ** scale, first.device)
        return _soft_pairwise_cross_entropy(first, second, weights[None])

    def forward(self, first: Tensor, second: Tensor, instance_weights: Tensor | None = None,
                generator: torch.Generator | None = None) -> LossOutput:
        """`instance_weights` (B, B): SoftCLT's soft instance assignments between the batch's
        series (None: one-hot targets, as in TS2Vec). `generator` draws the universum's shifts
        (needed with `universum_mix`; the same on every rank). With `gather` under several
        processes, B is the global batch: the instance term contrasts every process's series
        (gathered with autograd, the same value on every rank) and the temporal term, which
        never looks beyond one series, stays local."""
        if first.dim() != 3 or first.shape != second.shape:
            raise ValueError(f"views must be (B, T, D) of one shape; got {tuple(first.shape)} "
                             f"and {tuple(second.shape)}")
        if self.gather and is_distributed():
            every_first, every_second = gather_with_grad(first), gather_with_grad(second)
        else:
            every_first, every_second = first, second
        batch = every_first.shape[0]
        if instance_weights is not None and self.universum_mix is not None:
            raise ValueError("universum negatives are defined for hard targets; got "
                             "instance_weights")
        if instance_weights is not None and instance_weights.shape != (batch, batch):
            raise ValueError(f"instance_weights must be ({batch}, {batch}) for a batch of "
                             f"{batch}; got {tuple(instance_weights.shape)}")
        total, scales = first.new_zeros(()), 0
        instance_terms, temporal_terms = [], []
        while first.shape[1] > 1:
            if self.alpha > 0:
                term = self._instance(every_first, every_second, instance_weights, generator)
                instance_terms.append(term.detach())
                total = total + self.alpha * term
            if scales >= self.temporal_unit and self.alpha < 1:
                term = self._temporal(first, second, scales, generator)
                temporal_terms.append(term.detach())
                total = total + (1 - self.alpha) * term
            scales += 1
            first, second, every_first, every_second = (
                F.max_pool1d(view.transpose(1, 2), 2).transpose(1, 2)
                for view in (first, second, every_first, every_second))
        if self.alpha > 0:
            term = self._instance(every_first, every_second, instance_weights, generator)
            instance_terms.append(term.detach())
            total = total + self.alpha * term
        scales += 1
        metrics = {"scales": float(scales)}
        if instance_terms:
            metrics["instance_loss"] = torch.stack(instance_terms).mean()
        if temporal_terms:
            metrics["temporal_loss"] = torch.stack(temporal_terms).mean()
        return LossOutput(total / scales, metrics)
