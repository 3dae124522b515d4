"""SigLIP: a binary (sigmoid) decision for every (modality 0, modality 1) pair, no softmax.

Zhai et al., 2023, "Sigmoid Loss for Language Image Pre-Training" (SigLIP), arXiv 2303.15343:

    loss = -(1 / |B|) sum_i sum_j log sigmoid(z_ij (t x_i . y_j + b)),

z_ij = 1 for the paired rows (i = j) and -1 otherwise, t = exp(t') with t' initialised at
log 10 and the bias b at -10 (so the many negatives do not dominate the first steps). As no
pair needs the others' scores, the paper computes the loss chunk by chunk: each device scores
its own rows of modality 0 against one device's block of modality 1, then passes that block to
its neighbour, until every block has visited every device (the ring). Here the same ring runs
across ranks, and inside each block `chunk_size` columns are scored at a time by an autograd
function that recomputes them in the backward: memory O(B * chunk_size), never B x B.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from contrastlearn.core.distributed import gather_no_grad, is_distributed, rank, world_size
from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._modalities import prepare_modalities
from contrastlearn.objectives.base import LossOutput
from contrastlearn.objectives.temperature import TemperatureMixin

__all__ = ["SigLIPLoss", "sigmoid_pair_loss"]


def _work_dtype(tensor: Tensor) -> torch.dtype:
    """Half-precision embeddings are scored in float32."""
    return torch.float32 if tensor.dtype in (torch.float16, torch.bfloat16) else tensor.dtype


def _chunk_pairs(anchors: Tensor, candidates: Tensor, scale: Tensor, bias: Tensor,
                 positive_columns: Tensor, anchor_ids: Tensor | None,
                 candidate_ids: Tensor | None, start: int
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """(cosines, logits, positive mask, excluded mask or None) of one chunk of columns that
    begins at column `start`: excluded pairs are different rows of the same item."""
    similarity = anchors @ candidates.T
    logits = similarity * scale + bias
    columns = torch.arange(start, start + candidates.shape[0], device=anchors.device)
    positive = columns[None, :] == positive_columns[:, None]
    excluded = None
    if anchor_ids is not None and candidate_ids is not None:
        excluded = (anchor_ids[:, None] == candidate_ids[None, :]) & ~positive
    return similarity, logits, positive, excluded


class _SigmoidPairLoss(torch.autograd.Function):
    """sum over pairs of -log sigmoid(z (scale * a . c + bias)), `chunk_size` columns at a time.

    Forward returns (loss sum, each row's best negative logit (A,), each column's best negative
    logit (C,), sum of negative cosines, number of negatives); only the first is
    differentiable. The backward recomputes each chunk's logits and uses
    d/dl [-log sigmoid(z l)] = -z sigmoid(-z l)."""

    @staticmethod
    def forward(ctx: Any, anchors: Tensor, candidates: Tensor, scale: Tensor, bias: Tensor,
                positive_columns: Tensor, anchor_ids: Tensor | None,
                candidate_ids: Tensor | None, chunk_size: int) -> tuple[Tensor, ...]:
        work = _work_dtype(anchors)
        anchors_w, candidates_w = anchors.to(work), candidates.to(work)
        scale_w, bias_w = scale.to(work), bias.to(work)
        loss = anchors_w.new_zeros(())
        negative_sum, negative_count = anchors_w.new_zeros(()), anchors_w.new_zeros(())
        row_best = anchors_w.new_full((anchors.shape[0],), float("-inf"))
        column_best = anchors_w.new_empty(candidates.shape[0])
        for start in range(0, candidates.shape[0], chunk_size):
            chunk = slice(start, min(start + chunk_size, candidates.shape[0]))
            chunk_ids = None if candidate_ids is None else candidate_ids[chunk]
            similarity, logits, positive, excluded = _chunk_pairs(
                anchors_w, candidates_w[chunk], scale_w, bias_w, positive_columns, anchor_ids,
                chunk_ids, start)
            per_pair = F.softplus(torch.where(positive, -logits, logits))  # -log sigmoid(z l)
            negative = ~positive if excluded is None else ~(positive | excluded)
            if excluded is not None:
                per_pair = per_pair.masked_fill(excluded, 0.0)
            loss += per_pair.sum()
            negative_logits = logits.masked_fill(~negative, float("-inf"))
            row_best = torch.maximum(row_best, negative_logits.amax(dim=1))
            column_best[chunk] = negative_logits.amax(dim=0)
            negative_sum += torch.where(negative, similarity, 0.0).sum()
            negative_count += negative.sum()
            del similarity, logits, per_pair, negative_logits  # one chunk alive at a time
        ctx.save_for_backward(anchors, candidates, scale, bias, positive_columns, anchor_ids,
                              candidate_ids)
        ctx.chunk_size = chunk_size
        ctx.mark_non_differentiable(row_best, column_best, negative_sum, negative_count)
        return loss, row_best, column_best, negative_sum, negative_count

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_loss: Tensor, *_unused: Tensor) -> tuple[Tensor | None, ...]:
        anchors, candidates, scale, bias, positive_columns, anchor_ids, candidate_ids = (
            ctx.saved_tensors)
        work = _work_dtype(anchors)
        anchors_w, candidates_w = anchors.to(work), candidates.to(work)
        scale_w, bias_w = scale.to(work), bias.to(work)
        grad_loss = grad_loss.to(work)
        grad_anchors = torch.zeros_like(anchors_w)
        grad_candidates = torch.empty_like(candidates_w)
        grad_scale, grad_bias = anchors_w.new_zeros(()), anchors_w.new_zeros(())
        for start in range(0, candidates.shape[0], ctx.chunk_size):
            chunk = slice(start, min(start + ctx.chunk_size, candidates.shape[0]))
            chunk_ids = None if candidate_ids is None else candidate_ids[chunk]
            similarity, logits, positive, excluded = _chunk_pairs(
                anchors_w, candidates_w[chunk], scale_w, bias_w, positive_columns, anchor_ids,
                chunk_ids, start)
            # -z sigmoid(-z l): sigmoid(l) - 1 for positives, sigmoid(l) for negatives
            grad_logits = torch.sigmoid(logits) - positive.to(work)
            if excluded is not None:
                grad_logits = grad_logits.masked_fill(excluded, 0.0)
            grad_logits *= grad_loss
            grad_bias += grad_logits.sum()
            grad_scale += (grad_logits * similarity).sum()
            grad_similarity = grad_logits.mul_(scale_w)
            grad_anchors.addmm_(grad_similarity, candidates_w[chunk])
            grad_candidates[chunk] = grad_similarity.T @ anchors_w
            del similarity, logits, grad_logits
        needs = ctx.needs_input_grad
        return (grad_anchors.to(anchors.dtype) if needs[0] else None,
                grad_candidates.to(candidates.dtype) if needs[1] else None,
                grad_scale.to(scale.dtype) if needs[2] else None,
                grad_bias.to(bias.dtype) if needs[3] else None,
                None, None, None, None)


def sigmoid_pair_loss(
    anchors: Tensor, candidates: Tensor, scale: Tensor, bias: Tensor, positive_columns: Tensor,
    anchor_ids: Tensor | None = None, candidate_ids: Tensor | None = None,
    chunk_size: int | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """SigLIP's pair losses of normalised `anchors` (A, D) against `candidates` (C, D):
    (sum over pairs of -log sigmoid(z_ac (scale * a . c + bias)), each row's best negative
    logit, each column's best negative logit, sum and count of the negative cosines). Row a's
    positive is column `positive_columns[a]` (-1: none in these candidates); pairs of
    different rows with equal ids (when both id tensors are given) count as nothing; the rest
    are negatives. `chunk_size` columns are scored at a time (None: all at once)."""
    chunk = candidates.shape[0] if chunk_size is None else chunk_size
    return _SigmoidPairLoss.apply(anchors, candidates, scale, bias, positive_columns,
                                  anchor_ids, candidate_ids, max(int(chunk), 1))


def _exchange(tensor: Tensor, send_to: int, receive_from: int) -> Tensor:
    """Send `tensor` to rank `send_to` while receiving one of its shape from `receive_from`."""
    received = torch.empty_like(tensor)
    requests = dist.batch_isend_irecv([dist.P2POp(dist.isend, tensor.contiguous(), send_to),
                                       dist.P2POp(dist.irecv, received, receive_from)])
    for request in requests:
        request.wait()
    return received


class _RingShift(torch.autograd.Function):
    """Pass a block to the next rank, receive the previous rank's; the backward passes the
    gradient back the other way, to the rank the block came from."""

    @staticmethod
    def forward(ctx: Any, block: Tensor) -> Tensor:
        size = world_size()
        return _exchange(block, (rank() + 1) % size, (rank() - 1) % size)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gradient: Tensor) -> Tensor:
        size = world_size()
        return _exchange(gradient, (rank() - 1) % size, (rank() + 1) % size)


def ring_shift(block: Tensor) -> Tensor:
    """This rank receives the previous rank's `block` (the gradient flows back with autograd)."""
    return _RingShift.apply(block)


@OBJECTIVES.register("siglip")
class SigLIPLoss(TemperatureMixin, nn.Module):
    """SigLIP's pairwise sigmoid loss between modality 0 and modality 1 (Zhai et al., 2023,
    arXiv 2303.15343): sum over all pairs of -log sigmoid(z_ij (t x_i . y_j + b)) / B.

    t = 1 / `temperature` is learnt as its log (init log 10; `clamp_temperature_` keeps
    t <= 100 as open_clip does for every model), b is learnt from `bias` (init -10); either can
    be fixed (`learnable_temperature`, `learnable_bias`). `chunk_size` columns are scored at a
    time (memory O(B * chunk_size); None: the whole block). With `gather=True` on several
    processes, the blocks of modality 1 travel rank to rank (the paper's ring, no all-gather):
    each rank's loss is its own rows against every rank's block, / its B, so the mean over
    ranks is the one-process loss of the global batch. Rows with equal `ids` are the same item:
    their pairs (other than i = i) are left out, neither positive nor negative."""

    def __init__(
        self,
        temperature: float = 0.1,
        learnable_temperature: bool = True,
        bias: float = -10.0,
        learnable_bias: bool = True,
        chunk_size: int | None = 1024,
        gather: bool = False,
    ) -> None:
        super().__init__()
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1 or None; got {chunk_size}")
        self.init_temperature(temperature, learnable_temperature)
        if learnable_bias:
            self.bias = nn.Parameter(torch.tensor(float(bias)))
        else:
            self.register_buffer("bias", torch.tensor(float(bias)))
        self.chunk_size = chunk_size
        self.gather = gather

    def forward(
        self, z_views: Sequence[Tensor], *, labels: Tensor | None = None,
        ids: Tensor | None = None,
    ) -> LossOutput:
        """z_views: [modality 0, modality 1], each (B, D); ids: (B,) item ids."""
        batch = prepare_modalities(z_views, ids, gather=False, objective="SigLIPLoss",
                                   min_modalities=2, max_modalities=2)
        anchors, block = batch.local[0], batch.local[1]
        size = world_size() if self.gather and is_distributed() else 1
        local, device = batch.local_batch, anchors.device
        all_ids = gather_no_grad(batch.local_ids) if size > 1 else batch.local_ids
        scale = self.inverse_temperature()
        scale = scale if isinstance(scale, Tensor) else torch.tensor(scale, device=device)
        anchor_ids = batch.local_ids if batch.ids_given else None
        total, negative_sum, negative_count = 0.0, 0.0, 0.0
        row_best = column_best = None
        for step in range(size):
            source = (rank() - step) % size
            block_ids = all_ids[source * local:(source + 1) * local] if batch.ids_given else None
            positive_columns = (torch.arange(local, device=device) if step == 0
                                else torch.full((local,), -1, device=device))
            pair_sum, block_row_best, block_column_best, block_negative_sum, block_count = (
                sigmoid_pair_loss(anchors, block, scale, self.bias, positive_columns,
                                  anchor_ids, block_ids, self.chunk_size))
            total = total + pair_sum
            negative_sum, negative_count = (negative_sum + block_negative_sum,
                                            negative_count + block_count)
            row_best = (block_row_best if row_best is None
                        else torch.maximum(row_best, block_row_best))
            column_best = (block_column_best if column_best is None
                           else torch.maximum(column_best, block_column_best))
            if step < size - 1:  # the block and its columns' best travel on together
                block, column_best = ring_shift(block), _exchange_next(column_best)
        if size > 1:  # each block's best negatives, back home to the rank of its rows
            column_best = _exchange_next(column_best)
        loss = total / local
        metrics = self._metrics(batch.local, scale, row_best, column_best,
                                negative_sum / negative_count.clamp_min(1))
        metrics["loss"] = loss.detach()
        return LossOutput(loss, metrics)

    @torch.no_grad()
    def _metrics(self, local: Tensor, scale: Tensor, row_best: Tensor, column_best: Tensor,
                 negative_similarity: Tensor) -> dict[str, Tensor | float]:
        """Top-1 accuracy of both directions (the pair's logit above every negative's), mean
        positive and negative cosines, the temperature and the bias."""
        positive = (local[0] * local[1]).sum(dim=1)
        positive = positive.float() if positive.dtype in (torch.float16, torch.bfloat16) \
            else positive
        positive_logit = positive * scale.detach() + self.bias.detach()
        accuracy = ((positive_logit >= row_best).float().mean()
                    + (positive_logit >= column_best).float().mean()) / 2
        return {"contrastive_accuracy": accuracy, "positive_similarity": positive.mean(),
                "negative_similarity": negative_similarity,
                "temperature": self.current_temperature(), "bias": self.bias.detach()}


def _exchange_next(tensor: Tensor) -> Tensor:
    """Pass a tensor (no gradient) to the next rank, receive the previous rank's."""
    size = world_size()
    return _exchange(tensor, (rank() + 1) % size, (rank() - 1) % size)
