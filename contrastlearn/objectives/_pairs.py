"""Shared plumbing of the pairwise contrastive objectives (InfoNCE, DCL, SupCon).

All views are L2-normalised and laid out view-major: row `v * B + i` is item `i` of view `v`.
The local rows are the *anchors*; with `gather=True` the candidates are the rows of every rank
(`v * N + rank * B + i`, N = global batch), otherwise the local rows again. Masks are built from
item ids, so duplicates of an item are positives and never negatives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlearn.core.distributed import gather_no_grad, gather_with_grad, is_distributed, rank
from contrastlearn.objectives.base import default_ids, stack_views


def gather_views_with_grad(stacked: Tensor) -> Tensor:
    """(V, B, D) local views -> (V, N, D) views of every rank (rank order), with gradients."""
    num_views, batch_size, dim = stacked.shape
    per_item = stacked.transpose(0, 1).reshape(batch_size, num_views * dim)
    gathered = gather_with_grad(per_item)
    return gathered.reshape(-1, num_views, dim).transpose(0, 1)


@dataclass
class ViewPairs:
    """Normalised local anchors against the (possibly global) candidate rows."""

    anchors: Tensor  # (V*B, D)
    candidates: Tensor  # (V*N, D)
    anchor_ids: Tensor  # (V*B,)
    candidate_ids: Tensor  # (V*N,)
    anchor_columns: Tensor  # (V*B,) column of each anchor among the candidates
    anchor_views: Tensor  # (V*B,)
    candidate_views: Tensor  # (V*N,)
    num_views: int
    local_batch: int
    global_batch: int
    ids_are_default: bool

    def self_mask(self) -> Tensor:
        """(V*B, V*N) bool, True where a candidate is the anchor itself."""
        mask = torch.zeros(
            self.anchors.shape[0], self.candidates.shape[0], dtype=torch.bool,
            device=self.anchors.device,
        )
        rows = torch.arange(self.anchors.shape[0], device=self.anchors.device)
        mask[rows, self.anchor_columns] = True
        return mask

    def same_id_mask(self) -> Tensor:
        """(V*B, V*N) bool, True where anchor and candidate are views of the same item."""
        return self.anchor_ids[:, None] == self.candidate_ids[None, :]

    def other_view_mask(self) -> Tensor:
        """(V*B, V*N) bool, True where the candidate comes from another view than the anchor."""
        return self.anchor_views[:, None] != self.candidate_views[None, :]


def check_ids(
    ids: Tensor | None, batch_size: int, device: torch.device, name: str = "ids"
) -> Tensor:
    """Return `ids` as a (B,) tensor on `device`, or the default unique ids when None."""
    if ids is None:
        return default_ids(batch_size, device)
    if ids.dim() != 1 or ids.shape[0] != batch_size:
        raise ValueError(
            f"{name} must have shape ({batch_size},) to match the views; got {tuple(ids.shape)}"
        )
    return ids.to(device)


def build_view_pairs(
    z_views: Sequence[Tensor],
    ids: Tensor | None,
    *,
    gather: bool,
    min_views: int = 2,
    objective: str = "objective",
) -> ViewPairs:
    """Normalise and lay out the views; gather them across ranks when `gather` is True."""
    if len(z_views) < min_views:
        raise ValueError(f"{objective} needs at least {min_views} views; got {len(z_views)}")
    stacked = F.normalize(stack_views(z_views), dim=-1)  # (V, B, D)
    num_views, batch_size, dim = stacked.shape
    device = stacked.device
    ids_are_default = ids is None
    ids = check_ids(ids, batch_size, device)
    if gather and is_distributed():
        global_views = gather_views_with_grad(stacked)
        global_batch = global_views.shape[1]
        global_ids = gather_no_grad(ids)
        offset = rank() * batch_size
    else:
        global_views, global_ids, global_batch, offset = stacked, ids, batch_size, 0
    view_index = torch.arange(num_views, device=device)
    anchor_columns = (
        view_index[:, None] * global_batch + offset + torch.arange(batch_size, device=device)
    ).reshape(-1)
    return ViewPairs(
        anchors=stacked.reshape(num_views * batch_size, dim),
        candidates=global_views.reshape(num_views * global_batch, dim),
        anchor_ids=ids.repeat(num_views),
        candidate_ids=global_ids.repeat(num_views),
        anchor_columns=anchor_columns,
        anchor_views=view_index.repeat_interleave(batch_size),
        candidate_views=view_index.repeat_interleave(global_batch),
        num_views=num_views,
        local_batch=batch_size,
        global_batch=global_batch,
        ids_are_default=ids_are_default,
    )


def ids_unique(pairs: ViewPairs) -> bool:
    """Whether every item of the (global) batch appears once: then each anchor's positives are
    known without id masks (the objectives' fast paths). Given ids cost one host sync."""
    if pairs.ids_are_default:
        return True
    item_ids = pairs.candidate_ids[: pairs.global_batch]
    return int(torch.unique(item_ids).numel()) == pairs.global_batch


def cosine_matrix(anchors: Tensor, candidates: Tensor) -> Tensor:
    """Cosine similarities (rows are normalised), promoted to float32 under half precision."""
    similarity = anchors @ candidates.T
    if similarity.dtype in (torch.float16, torch.bfloat16):
        similarity = similarity.float()
    return similarity


def cosine_sum(anchors: Tensor, candidates: Tensor) -> Tensor:
    """The sum of every entry of `cosine_matrix(anchors, candidates)` without a pass over the
    matrix: (sum_i a_i) . (sum_j c_j), in float32 under half precision (for metrics)."""
    total = anchors.detach().sum(dim=0).dot(candidates.detach().sum(dim=0))
    return total.float() if total.dtype in (torch.float16, torch.bfloat16) else total


def masked_logsumexp(values: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """log-sum-exp over the entries where `mask` is True. A row with none gives a very large
    negative number (not -inf) so that its gradient stays finite and zero."""
    lowest = torch.finfo(values.dtype).min
    return values.masked_fill(~mask, lowest).logsumexp(dim)


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of `values` over `mask` (0 when the mask is empty), without a host sync."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1)


@torch.no_grad()
def pair_metrics(
    similarity: Tensor,
    positive_mask: Tensor,
    negative_mask: Tensor,
    extra_similarity: Tensor | None = None,
    extra_negative_mask: Tensor | None = None,
) -> dict[str, Tensor]:
    """contrastive_accuracy (the best-scoring candidate is a positive), positive_similarity and
    negative_similarity (mean cosines). `extra_*` are negatives outside the batch (a queue)."""
    similarity = similarity.detach()
    lowest = torch.finfo(similarity.dtype).min
    candidate_mask = positive_mask | negative_mask
    scores = similarity.masked_fill(~candidate_mask, lowest)
    best_column = scores.argmax(dim=1, keepdim=True)
    best_in_batch = scores.gather(1, best_column).squeeze(1)
    best_is_positive = positive_mask.gather(1, best_column).squeeze(1)
    negative_sum = (similarity * negative_mask).sum()
    negative_count = negative_mask.sum()
    if extra_similarity is not None and extra_negative_mask is not None:
        extra_similarity = extra_similarity.detach()
        best_extra = extra_similarity.masked_fill(~extra_negative_mask, lowest).amax(dim=1)
        best_is_positive = best_is_positive & (best_in_batch >= best_extra)
        negative_sum = negative_sum + (extra_similarity * extra_negative_mask).sum()
        negative_count = negative_count + extra_negative_mask.sum()
    has_positive = positive_mask.any(dim=1)
    return {
        "contrastive_accuracy": masked_mean(best_is_positive.to(similarity.dtype), has_positive),
        "positive_similarity": masked_mean(similarity, positive_mask),
        "negative_similarity": negative_sum / negative_count.clamp_min(1),
    }
