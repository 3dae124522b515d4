"""Retrieval metrics on frozen embeddings: Recall@K, MRR and mAP by cosine similarity.

Every query ranks the whole gallery by cosine similarity; a gallery item is a *positive* of a
query when their ids are equal (an instance id for image-text or duplicate retrieval, a class
id for metric-learning benchmarks).

- Recall@K: fraction of queries with at least one positive among the top K. This is the
  metric-learning definition (Oh Song et al. 2016, "Deep Metric Learning via Lifted Structured
  Feature Embedding", arXiv 1511.06452) and the one CLIP (Radford et al. 2021, arXiv
  2103.00020) reports for image-text retrieval; it is not the fraction of all positives found.
- MRR: mean over queries of 1 / rank of the first positive.
- mAP: mean over queries of average precision over *all* of that query's positives,
  AP = mean over positives p of (positives ranked at or above p) / rank(p).

Ties are broken against the query: an item's rank is the number of gallery items whose
similarity is >= its own, so a positive tied with a negative ranks below it. A collapsed
encoder (all embeddings equal) therefore scores the worst value, not a perfect one, and AP
equals scikit-learn's ``average_precision_score`` even with ties.

Every metric is computed batched, without a Python loop over queries: queries are processed in
chunks of about 4 M similarities; each chunk's rows are sorted once, and the ranks of all
positives come from one `searchsorted` and one cumulative sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.validation import check_embeddings, resolve_device

# Similarities per chunk (query rows x gallery rows). Sorting needs ~30 bytes per similarity
# (values, order, ranks, cumulative counts), so 2**22 keeps a chunk near 128 MiB.
SIMILARITIES_PER_CHUNK = 2**22


def rank_statistics(similarity: Tensor, positive: Tensor) -> tuple[Tensor, Tensor]:
    """``(first_rank, average_precision)`` per row of a (Q, G) similarity matrix with a (Q, G)
    boolean positive mask; every row needs at least one positive. Ranks start at 1 and count
    ties against the query (see the module docstring)."""
    sorted_similarity, order = similarity.sort(dim=1, descending=True)
    sorted_positive = positive.gather(1, order)
    del order
    # `descending` negated is ascending, so a right-sided searchsorted of each value counts the
    # items with similarity >= it: the rank of the last member of its tie group.
    ascending = sorted_similarity.neg_()
    rank = torch.searchsorted(ascending, ascending, right=True)
    del ascending, sorted_similarity
    positives_so_far = sorted_positive.cumsum(dim=1)
    positives_at_or_above = positives_so_far.gather(1, rank - 1)
    del positives_so_far
    precision = positives_at_or_above.double() / rank.double()
    num_positives = sorted_positive.sum(dim=1)
    average_precision = (precision * sorted_positive).sum(dim=1) / num_positives
    no_positive_rank = similarity.shape[1] + 1
    first_rank = rank.masked_fill(~sorted_positive, no_positive_rank).min(dim=1).values
    return first_rank, average_precision


def _positives_per_query(
    query_ids: Tensor, gallery_ids: Tensor, exclude_self: bool,
) -> Tensor:
    """(Q,) number of gallery items sharing each query's id (minus itself with exclude_self),
    from id counts, without a (Q, G) matrix."""
    ids, counts = torch.unique(gallery_ids, return_counts=True)
    position = torch.searchsorted(ids, query_ids).clamp(max=ids.numel() - 1)
    found = ids[position] == query_ids
    num_positives = torch.where(found, counts[position], torch.zeros_like(position))
    if exclude_self:
        num_positives = num_positives - (query_ids == gallery_ids).long()
    return num_positives


def _check_ks(ks: Sequence[int] | int) -> list[int]:
    ks = [int(k) for k in ks] if hasattr(ks, "__iter__") else [int(ks)]
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be a non-empty list of integers >= 1, got {ks}")
    if len(set(ks)) != len(ks):
        raise ValueError(f"ks must be distinct, got {ks}")
    return sorted(ks)


def retrieval_metrics(
    query_embeddings: Any, gallery_embeddings: Any, query_ids: Any, gallery_ids: Any, *,
    ks: Sequence[int] = (1, 5, 10), exclude_self: bool = False,
    ignore_queries_without_positives: bool = False, chunk_size: int | None = None,
    device: torch.device | str | None = "cpu", split: str = "test",
) -> list[Result]:
    """Results "recall@K" for each K in `ks`, "mrr" and "map" (protocol "retrieval").

    `exclude_self=True` is for retrieving a set against itself: query i is gallery item i and
    is removed from its own ranking (it needs as many queries as gallery items). A query with
    no positive in the gallery is a ValueError saying how many there are, unless
    `ignore_queries_without_positives`, which skips them and records the count. `chunk_size`
    (query rows per chunk) only trades memory for speed and does not change the result.

    Inputs are validated by `check_embeddings` with the gallery in the "train" role and the
    queries in the "test" role. `settings` records k (for recall@K), exclude_self, similarity, ties,
    num_queries, num_queries_evaluated, num_queries_without_positives, num_gallery and dim.
    """
    ks = _check_ks(ks)
    if chunk_size is not None and int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1 or None, got {chunk_size}")
    try:
        gallery_x, gallery_ids, query_x, query_ids = check_embeddings(
            gallery_embeddings, gallery_ids, query_embeddings, query_ids,
            device=resolve_device(device),
        )
    except ValueError as error:
        raise ValueError(
            f"retrieval: {error} (the gallery is checked as 'train', the queries as 'test')"
        ) from None
    num_queries, num_gallery = query_x.shape[0], gallery_x.shape[0]
    if exclude_self and num_queries != num_gallery:
        raise ValueError(
            f"exclude_self=True means query i is gallery item i, but there are {num_queries} "
            f"queries and {num_gallery} gallery items; pass the same set twice or "
            f"exclude_self=False"
        )

    num_positives = _positives_per_query(query_ids, gallery_ids, exclude_self)
    without = num_positives == 0
    num_without = int(without.sum())
    if num_without and not ignore_queries_without_positives:
        first = without.nonzero().flatten()[:5].tolist()
        raise ValueError(
            f"{num_without} of {num_queries} queries have no positive (gallery item with the "
            f"same id{', other than itself' if exclude_self else ''}) in the gallery (first "
            f"query indices: {first}); their metrics are undefined. Check the ids, or pass "
            f"ignore_queries_without_positives=True to skip them"
        )
    evaluated = (~without).nonzero().flatten()
    if evaluated.numel() == 0:
        raise ValueError(f"none of the {num_queries} queries has a positive in the gallery")

    if chunk_size is None:
        chunk_size = max(1, SIMILARITIES_PER_CHUNK // num_gallery)
    first_ranks, average_precisions = [], []
    with torch.no_grad():
        gallery_unit = F.normalize(gallery_x, dim=1)
        for start in range(0, evaluated.numel(), int(chunk_size)):
            rows = evaluated[start:start + int(chunk_size)]
            similarity = F.normalize(query_x[rows], dim=1) @ gallery_unit.T
            positive = query_ids[rows, None] == gallery_ids[None, :]
            if exclude_self:
                local = torch.arange(rows.numel(), device=rows.device)
                similarity[local, rows] = -torch.inf
                positive[local, rows] = False
            first_rank, average_precision = rank_statistics(similarity, positive)
            first_ranks.append(first_rank)
            average_precisions.append(average_precision)
    first_rank = torch.cat(first_ranks)
    average_precision = torch.cat(average_precisions)

    shared = {
        "exclude_self": bool(exclude_self), "similarity": "cosine", "positive": "same id",
        "ties": "against_query", "num_queries": int(num_queries),
        "num_queries_evaluated": int(evaluated.numel()),
        "num_queries_without_positives": num_without, "num_gallery": int(num_gallery),
        "dim": int(query_x.shape[1]),
    }
    results = [
        Result(protocol="retrieval", metric=f"recall@{k}", split=split,
               value=float((first_rank <= k).double().mean()), settings={"k": k, **shared})
        for k in ks
    ]
    results.append(Result(protocol="retrieval", metric="mrr", split=split,
                          value=float((1.0 / first_rank.double()).mean()),
                          settings=dict(shared)))
    results.append(Result(protocol="retrieval", metric="map", split=split,
                          value=float(average_precision.mean()), settings=dict(shared)))
    return results


@EVALUATORS.register("retrieval")
def retrieval(
    train_embeddings: Any, train_labels: Any, test_embeddings: Any, test_labels: Any, *,
    ks: Sequence[int] = (1, 5, 10), exclude_self: bool = False,
    ignore_queries_without_positives: bool = False, chunk_size: int | None = None,
    device: torch.device | str | None = "cpu", split: str = "test",
) -> list[Result]:
    """Recall@K, MRR and mAP with the test embeddings as queries and the train embeddings as
    the gallery; labels are the ids (same label = positive). See `retrieval_metrics`.

    Results have protocol "retrieval" and metrics "recall@K" (per K in `ks`), "mrr", "map";
    their settings add num_train (= num_gallery) and num_test (= num_queries).
    """
    results = retrieval_metrics(
        test_embeddings, train_embeddings, test_labels, train_labels, ks=ks,
        exclude_self=exclude_self,
        ignore_queries_without_positives=ignore_queries_without_positives,
        chunk_size=chunk_size, device=device, split=split,
    )
    for result in results:
        result.settings["num_train"] = result.settings["num_gallery"]
        result.settings["num_test"] = result.settings["num_queries"]
    return results
