"""NT-Xent in row blocks: GRACE's loss on graphs with more nodes than an N x N matrix allows.

Zhu et al., 2020, "Deep Graph Contrastive Representation Learning" (GRACE), arXiv 2006.04131:
two views of N nodes; every one of the 2N rows is an anchor whose positive is the same node in
the other view and whose negatives are the other 2N - 2 rows of both views. This is `infonce`
with two views and unique ids (Chen et al., 2020, SimCLR's NT-Xent, arXiv 2002.05709), but
computed `block_size` anchor rows at a time: the forward keeps only each row's loss, the
backward recomputes each block's similarities, so memory is O(N * D + block_size * N) instead
of the (2N)^2 logits a dense loss holds for its backward.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._pairs import build_view_pairs, cosine_sum, ids_unique
from contrastlearn.objectives.base import LossOutput

__all__ = ["BlockedInfoNCE", "blocked_nt_xent_rows"]


def _work_dtype(tensor: Tensor) -> torch.dtype:
    """Half-precision embeddings are compared in float32, as `cosine_matrix` does."""
    return torch.float32 if tensor.dtype in (torch.float16, torch.bfloat16) else tensor.dtype


def _block_logits(anchors: Tensor, candidates: Tensor, self_columns: Tensor,
                  scale: float) -> Tensor:
    """scale * anchors @ candidates.T with each anchor's own column at -inf (one block)."""
    logits = anchors @ candidates.T
    logits.mul_(scale)
    rows = torch.arange(len(anchors), device=anchors.device)
    logits[rows, self_columns] = float("-inf")
    return logits


class _BlockedRowLoss(torch.autograd.Function):
    """Per-anchor NT-Xent: loss_a = log sum_{c != self(a)} exp(l_ac) - l_a,pos(a) with
    l_ac = scale * anchors_a . candidates_c, `block_size` anchors at a time.

    Forward returns (loss (A,), positive logit (A,), best negative logit (A,)); only the
    first is differentiable. The backward recomputes each block's logits and uses
    d loss_a / d l_ac = softmax_c(l_a)_c - [c = pos(a)] with the saved log-sum-exp."""

    @staticmethod
    def forward(ctx: Any, anchors: Tensor, candidates: Tensor, self_columns: Tensor,
                positive_columns: Tensor, scale: float, block_size: int
                ) -> tuple[Tensor, Tensor, Tensor]:
        work = _work_dtype(anchors)
        anchors_w, candidates_w = anchors.to(work), candidates.to(work)
        count = anchors.shape[0]
        log_sum_exp = torch.empty(count, dtype=work, device=anchors.device)
        positive = torch.empty_like(log_sum_exp)
        best_negative = torch.empty_like(log_sum_exp)
        for start in range(0, count, block_size):
            block = slice(start, min(start + block_size, count))
            logits = _block_logits(anchors_w[block], candidates_w, self_columns[block], scale)
            rows = torch.arange(logits.shape[0], device=logits.device)
            block_positive = logits[rows, positive_columns[block]].clone()
            logits[rows, positive_columns[block]] = float("-inf")
            block_best = logits.amax(dim=1)  # -inf when a row has no negative (N = 1)
            shift = torch.maximum(block_best, block_positive)
            total = logits.sub_(shift[:, None]).exp_().sum(dim=1)
            total += (block_positive - shift).exp()
            log_sum_exp[block] = shift + total.log()
            positive[block] = block_positive
            best_negative[block] = block_best
            del logits  # before the next block's are made: one block alive at a time
        ctx.save_for_backward(anchors, candidates, self_columns, positive_columns, log_sum_exp)
        ctx.scale, ctx.block_size = scale, block_size
        ctx.mark_non_differentiable(positive, best_negative)
        return log_sum_exp - positive, positive, best_negative

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_loss: Tensor, _grad_positive: Tensor, _grad_best: Tensor
                 ) -> tuple[Tensor | None, ...]:
        anchors, candidates, self_columns, positive_columns, log_sum_exp = ctx.saved_tensors
        work = log_sum_exp.dtype
        anchors_w, candidates_w = anchors.to(work), candidates.to(work)
        grad_loss = grad_loss.to(work) * ctx.scale
        grad_anchors = torch.empty_like(anchors_w)
        grad_candidates = torch.zeros_like(candidates_w)
        for start in range(0, anchors.shape[0], ctx.block_size):
            block = slice(start, min(start + ctx.block_size, anchors.shape[0]))
            weights = _block_logits(anchors_w[block], candidates_w, self_columns[block],
                                    ctx.scale)
            weights.sub_(log_sum_exp[block, None]).exp_()  # softmax over c != self
            rows = torch.arange(weights.shape[0], device=weights.device)
            weights[rows, positive_columns[block]] -= 1.0
            weights.mul_(grad_loss[block, None])
            grad_anchors[block] = weights @ candidates_w
            grad_candidates.addmm_(weights.T, anchors_w[block])
            del weights
        return (grad_anchors.to(anchors.dtype), grad_candidates.to(candidates.dtype),
                None, None, None, None)


def blocked_nt_xent_rows(anchors: Tensor, candidates: Tensor, self_columns: Tensor,
                         positive_columns: Tensor, scale: float, block_size: int
                         ) -> tuple[Tensor, Tensor, Tensor]:
    """(per-anchor loss, positive logit, best negative logit) of NT-Xent between normalised
    `anchors` (A, D) and `candidates` (C, D): anchor a's positive is column
    `positive_columns[a]`, its own row is column `self_columns[a]` (left out), every other
    column is a negative; computed `block_size` anchors at a time."""
    return _BlockedRowLoss.apply(anchors, candidates, self_columns, positive_columns,
                                 float(scale), int(block_size))


@OBJECTIVES.register("blocked_infonce")
class BlockedInfoNCE(nn.Module):
    """NT-Xent for two views with unique ids, in blocks of `block_size` anchor rows (GRACE's
    loss; Zhu et al., 2020, arXiv 2006.04131). Equal to `infonce` with two views and unique
    ids, at O(N * D + block_size * N) memory.

    With s = cosine / temperature, for each of the 2N rows a (N per view), positive p(a) the
    same item in the other view and negatives every other row of both views,

        loss = mean_a [ log sum_{c != a} exp(s_ac) - s_a,p(a) ].

    `gather=True` makes the rows of every process candidates (`contrastlearn.core.
    distributed`, gradients flowing back to their process), as `infonce` does; on one process
    it changes nothing. `ids` are only checked: duplicate ids (an item twice in the batch)
    would need id masks, which `infonce` builds and this loss does not."""

    def __init__(self, temperature: float = 0.5, block_size: int = 4096,
                 gather: bool = False) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"blocked_infonce temperature must be > 0; got {temperature}")
        if int(block_size) != block_size or int(block_size) < 1:
            raise ValueError(f"blocked_infonce block_size must be an integer >= 1 (anchor rows "
                             f"per block); got {block_size}")
        self.temperature = float(temperature)
        self.block_size = int(block_size)
        self.gather = gather

    def forward(self, z_views: Sequence[Tensor], *, labels: Tensor | None = None,
                ids: Tensor | None = None) -> LossOutput:
        """z_views: two (B, D) tensors; ids: (B,) unique item ids or None. `labels` is
        accepted for a uniform interface and unused."""
        if len(z_views) != 2:
            raise ValueError(f"blocked_infonce compares exactly 2 views; got {len(z_views)} "
                             "(use infonce for more views)")
        pairs = build_view_pairs(z_views, ids, gather=self.gather, objective="blocked_infonce")
        if not ids_unique(pairs):
            raise ValueError("blocked_infonce needs unique ids (each item once per view); the "
                             "batch has duplicate ids: use the `infonce` objective, whose id "
                             "masks treat duplicates as positives")
        batch, global_batch = pairs.local_batch, pairs.global_batch
        own = pairs.anchor_columns
        positive_columns = torch.cat([own[:batch] + global_batch, own[batch:] - global_batch])
        scale = 1.0 / self.temperature
        rows, positive, best_negative = blocked_nt_xent_rows(
            pairs.anchors, pairs.candidates, own, positive_columns, scale, self.block_size)
        with torch.no_grad():
            anchors = pairs.anchors.detach().to(positive.dtype)
            positive_cosine = positive / scale
            self_cosine = (anchors * anchors).sum()
            negative_count = anchors.shape[0] * (pairs.candidates.shape[0] - 2)
            negative_sum = (cosine_sum(pairs.anchors, pairs.candidates) - self_cosine
                            - positive_cosine.sum())
            metrics = {
                "contrastive_accuracy": (positive >= best_negative).float().mean(),
                "positive_similarity": positive_cosine.mean(),
                "negative_similarity": negative_sum / max(negative_count, 1),
                "temperature": self.temperature,
            }
        return LossOutput(rows.mean(), metrics)
