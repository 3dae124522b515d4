"""Cheap health checks of the embeddings a method compares, logged while training.

They answer "is it learning, or collapsing?" without a probe: how similar positive and negative
pairs are (and their histograms, the pos/neg score view of Zhu et al., ICCV 2021), Wang &
Isola's (2020) alignment and uniformity, the effective rank of the centred batch (Roy &
Vetterli 2007, as in RankMe, Garrido et al. 2023; centred so that a shared offset, which
max-pooled or ReLU features often have, does not read as collapse), the per-dimension standard
deviation of the L2-normalised embeddings (about 1/sqrt(D) when healthy, 0 when collapsed;
Chen & He 2021) and the contrastive accuracy (is an anchor's positive its best match among the
other view).

All statistics use the first two views of a batch, L2-normalised, in float32, without grad.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlearn.objectives.alignment_uniformity import alignment, uniformity

PREFIX = "diag_"
HISTOGRAM_BINS = 40
HISTOGRAM_RANGE = (-1.0, 1.0)

COLLAPSE_STD_RATIO = 0.05
"""Collapse when the mean per-dimension std times sqrt(D) falls below this (1 is healthy)."""
COLLAPSE_EFFECTIVE_RANK = 2.0
"""Collapse when the effective rank of the batch falls below this (tested only when the batch
could reach twice that rank)."""


def _pair(views: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    if len(views) < 2:
        raise ValueError(f"diagnostics need at least 2 views, got {len(views)}")
    first, second = views[0], views[1]
    if first.dim() != 2 or first.shape != second.shape:
        raise ValueError(
            f"diagnostics need two (batch, dim) views of one shape; got {tuple(first.shape)} "
            f"and {tuple(second.shape)}"
        )
    return (F.normalize(first.detach().float(), dim=1),
            F.normalize(second.detach().float(), dim=1))


def _positive_mask(batch: int, ids: Tensor | None, device: torch.device) -> Tensor:
    if ids is None:
        return torch.eye(batch, dtype=torch.bool, device=device)
    ids = ids.to(device)
    return ids[:, None] == ids[None, :]


def effective_rank(embeddings: Tensor) -> float:
    """exp(entropy) of the normalised singular values of a (B, D) matrix: between 1 (all rows
    on one direction) and min(B, D) (all directions used equally)."""
    singular = torch.linalg.svdvals(embeddings.float())
    total = singular.sum()
    if float(total) <= 0:
        return 0.0
    p = singular / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


@torch.no_grad()
def embedding_diagnostics(views: Sequence[Tensor], ids: Tensor | None = None) -> dict[str, float]:
    """Statistics of one batch of view embeddings (see the module docstring), keyed with the
    prefix ``diag_`` so they never clash with the metrics an objective logs itself.

    `ids` marks items that occur more than once: samples with equal ids are positives, never
    negatives. Returns diag_pos_similarity, diag_neg_similarity, diag_contrastive_accuracy,
    diag_alignment, diag_uniformity, diag_effective_rank, diag_dim_std_mean, diag_dim_std_min
    and diag_std_ratio (dim_std_mean * sqrt(D))."""
    first, second = _pair(views)
    batch, dim = first.shape
    similarity = first @ second.T
    positive = _positive_mask(batch, ids, first.device)
    negatives = ~positive
    best = similarity.argmax(dim=1)
    std = first.std(dim=0) if batch > 1 else torch.zeros(dim, device=first.device)
    stats = {
        "pos_similarity": float(similarity[positive].mean()),
        "neg_similarity": (float(similarity[negatives].mean()) if bool(negatives.any())
                           else math.nan),
        "contrastive_accuracy": float(positive[torch.arange(batch), best].float().mean()),
        "alignment": float(alignment(first, second, alpha=2)),
        "uniformity": float(uniformity(first, t=2)) if batch > 1 else math.nan,
        "effective_rank": effective_rank(first - first.mean(dim=0)),
        "dim_std_mean": float(std.mean()),
        "dim_std_min": float(std.min()),
        "std_ratio": float(std.mean()) * math.sqrt(dim),
    }
    return {f"{PREFIX}{key}": value for key, value in stats.items()}


@torch.no_grad()
def similarity_histogram(
    views: Sequence[Tensor], ids: Tensor | None = None, *, bins: int = HISTOGRAM_BINS,
) -> dict:
    """Counts of positive-pair and negative-pair cosine similarities in `bins` equal bins over
    [-1, 1] (JSON-ready)."""
    first, second = _pair(views)
    similarity = (first @ second.T).clamp(*HISTOGRAM_RANGE)
    positive = _positive_mask(first.shape[0], ids, first.device)

    def counts(values: Tensor) -> list[int]:
        return torch.histc(values, bins=bins, min=HISTOGRAM_RANGE[0],
                           max=HISTOGRAM_RANGE[1]).long().tolist()

    return {"bins": bins, "range": list(HISTOGRAM_RANGE),
            "positive": counts(similarity[positive]), "negative": counts(similarity[~positive])}


def collapse_warning(stats: dict[str, float], rank_limit: float = math.inf) -> str | None:
    """A sentence saying why the embeddings look collapsed, or None when they look healthy.
    `rank_limit` is min(batch, dim), the highest effective rank the batch could show."""
    reasons = []
    std_ratio = stats.get(f"{PREFIX}std_ratio", math.inf)
    if std_ratio < COLLAPSE_STD_RATIO:
        reasons.append(f"per-dimension std x sqrt(D) is {std_ratio:.3g} "
                       f"(< {COLLAPSE_STD_RATIO}; about 1 when healthy)")
    rank = stats.get(f"{PREFIX}effective_rank", math.inf)
    # a batch of rank <= 2 * threshold could not show more, so the rank test only applies above
    if rank_limit >= 2 * COLLAPSE_EFFECTIVE_RANK and rank < COLLAPSE_EFFECTIVE_RANK:
        reasons.append(f"effective rank is {rank:.3g} (< {COLLAPSE_EFFECTIVE_RANK})")
    if not reasons:
        return None
    return ("embeddings look collapsed: " + "; ".join(reasons)
            + ". Try stronger augmentations, a lower learning rate, or a method with negatives "
              "or variance terms.")


def histogram_steps(last_step: int, count: int) -> set[int]:
    """`count` evenly spaced steps in 1..last_step (always the first and the last)."""
    if count <= 0 or last_step <= 0:
        return set()
    if count == 1:
        return {last_step}
    return {1 + round(i * (last_step - 1) / (count - 1)) for i in range(count)}
