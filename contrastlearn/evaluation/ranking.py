"""Full-sort ranking metrics of a recommender: every user ranks ALL items, not a sampled few.

Sampled metrics (rank the truth among 100 random negatives) can order models differently from
the full ranking they approximate (Krichene & Rendle, "On Sampled Metrics for Item
Recommendation", KDD 2020), so each user is scored against every item by the dot product of
the user and item vectors, items the user already has (`seen`, e.g. train interactions) are
excluded, and the top K comes from `chunked_top_k` (ties to the lower item index). The
definitions follow RecBole (Zhao et al. 2021, arXiv 2011.01731), per user and then
averaged over the users that have at least one truth item:

- recall@K = truth items in the top K / number of truth items;
- ndcg@K: DCG = sum over top-K places i (from 1) of rel_i / log2(i + 1) with binary relevance,
  divided by the ideal DCG of min(number of truth items, K) hits;
- hit@K = 1 when the top K holds a truth item; precision@K = truth items in the top K / K.

Over the whole top-K lists: coverage@K is the fraction of all items recommended to at least one
evaluated user; with `popularity` (train interactions per item), popularity@K is the average
recommendation popularity (ARP: mean over users of the mean train count of their K items) and
tail_share@K the share of recommended items outside the 20 % most popular items. A truth item
listed twice for a user counts once; a user with fewer than K unseen items gets seen items
(score -inf, never hits) at the end of the list.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.topk import check_csr, check_vectors, chunked_top_k
from contrastlearn.evaluation.validation import resolve_device

HEAD_FRACTION = 0.2
"""Share of the items, most popular first, that tail_share@K counts as the head."""


def _check_ks(ks: Sequence[int] | int, num_items: int) -> list[int]:
    ks = sorted(int(k) for k in ks) if hasattr(ks, "__iter__") else [int(ks)]
    if not ks or ks[0] < 1 or len(set(ks)) != len(ks):
        raise ValueError(f"ks must be distinct integers >= 1, got {ks}")
    if ks[-1] > num_items:
        raise ValueError(f"k = {ks[-1]} is more than the {num_items} items; pass ks no larger "
                         f"than the number of items")
    return ks


def _check_popularity(popularity: Tensor, num_items: int, device: torch.device) -> Tensor:
    popularity = torch.as_tensor(popularity).to(device=device, dtype=torch.float64)
    if popularity.shape != (num_items,):
        raise ValueError(f"popularity must have one count per item, shape ({num_items},), got "
                         f"{tuple(popularity.shape)}; pass the train interactions per item")
    if not bool(torch.isfinite(popularity).all()) or bool((popularity < 0).any()):
        raise ValueError("popularity must be finite non-negative counts (train interactions "
                         "per item)")
    return popularity


def _select_rows(indptr: Tensor, columns: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    """The CSR pair restricted to `rows`, in that order."""
    counts = (indptr[1:] - indptr[:-1])[rows]
    selected = torch.zeros(rows.numel() + 1, dtype=torch.int64, device=indptr.device)
    selected[1:] = torch.cumsum(counts, 0)
    total = int(selected[-1])
    offsets = (torch.arange(total, device=indptr.device)
               - torch.repeat_interleave(selected[:-1], counts))
    return selected, columns[torch.repeat_interleave(indptr[:-1][rows], counts) + offsets]


def _is_truth(top_items: Tensor, truth_indptr: Tensor, truth_items: Tensor,
              num_items: int) -> tuple[Tensor, Tensor]:
    """``(hits (U, K) bool, number of distinct truth items per user (U,))``."""
    num_users = top_items.shape[0]
    counts = truth_indptr[1:] - truth_indptr[:-1]
    users = torch.repeat_interleave(torch.arange(num_users, device=top_items.device), counts)
    truth_keys = torch.unique(users * num_items + truth_items)  # sorted, duplicates dropped
    distinct = torch.bincount(truth_keys // num_items, minlength=num_users)
    top_keys = torch.arange(num_users, device=top_items.device)[:, None] * num_items + top_items
    return torch.isin(top_keys, truth_keys), distinct


def ranking_metrics(
    user_vectors: Tensor, item_vectors: Tensor, truth: tuple[Tensor, Tensor],
    seen: tuple[Tensor, Tensor] | None = None, *, ks: Sequence[int] = (10, 20, 50),
    popularity: Tensor | None = None, chunk_size: int | None = None, split: str = "test",
    device: torch.device | str | None = "cpu",
) -> list[Result]:
    """Full-sort Results (protocol "full_sort") of (U, D) `user_vectors` against (I, D)
    `item_vectors`: recall@K, ndcg@K, hit@K, precision@K and coverage@K for every K in `ks`,
    then popularity@K and tail_share@K when `popularity` (I,) is given (see the module
    docstring).

    `truth` and `seen` are CSR pairs ``(indptr (U + 1,), items)`` of item indices per user:
    the held-out items to find, and the items to exclude from the ranking. Users without
    truth items are skipped; settings count them (num_users_evaluated, num_users_skipped) and
    record k, ks, candidates, masking, similarity, ties, num_items, num_users, dim (and
    popularity_head_fraction). `chunk_size` (users scored at once) only trades memory for
    speed.
    """
    device = resolve_device(device)
    user_vectors, item_vectors = check_vectors(user_vectors, item_vectors, "user_vectors",
                                               "item_vectors")
    user_vectors, item_vectors = user_vectors.to(device), item_vectors.to(device)
    num_users, num_items = user_vectors.shape[0], item_vectors.shape[0]
    ks = _check_ks(ks, num_items)
    truth_indptr, truth_items = check_csr(truth, num_users, num_items, "truth", device)
    if seen is not None:
        seen = check_csr(seen, num_users, num_items, "seen", device)
    if popularity is not None:
        popularity = _check_popularity(popularity, num_items, device)

    evaluated = ((truth_indptr[1:] - truth_indptr[:-1]) > 0).nonzero().flatten()
    if evaluated.numel() == 0:
        raise ValueError(f"none of the {num_users} users has a truth item; pass the users' "
                         f"held-out interactions as truth")
    truth_indptr, truth_items = _select_rows(truth_indptr, truth_items, evaluated)
    exclude = None if seen is None else _select_rows(*seen, evaluated)
    top_scores, top_items = chunked_top_k(user_vectors[evaluated], item_vectors, ks[-1],
                                          exclude=exclude, chunk_size=chunk_size)
    hits, num_truth = _is_truth(top_items, truth_indptr, truth_items, num_items)
    hits = (hits & (top_scores > -torch.inf)).double()  # a seen item is never a hit

    discount = 1.0 / torch.log2(torch.arange(2, ks[-1] + 2, device=device, dtype=torch.float64))
    gains = (hits * discount).cumsum(dim=1)  # DCG at every cut-off
    ideal = discount.cumsum(dim=0)  # ideal DCG with n hits at the top, for n = 1..max(K)
    found = hits.cumsum(dim=1)
    if popularity is not None:
        head_size = math.ceil(HEAD_FRACTION * num_items)
        by_popularity = torch.sort(-popularity, stable=True).indices  # ties: lower index
        in_head = torch.zeros(num_items, dtype=torch.bool, device=device)
        in_head[by_popularity[:head_size]] = True
        recommended_popularity = popularity[top_items].cumsum(dim=1)
        recommended_tail = (~in_head[top_items]).double().cumsum(dim=1)

    shared = {
        "ks": list(ks), "candidates": "full sort over all items",
        "masking": "train items masked" if seen is not None else "nothing masked",
        "similarity": "dot", "ties": "lower item index first", "num_items": int(num_items),
        "num_users": int(num_users), "num_users_evaluated": int(evaluated.numel()),
        "num_users_skipped": int(num_users - evaluated.numel()),
        "dim": int(user_vectors.shape[1]),
    }
    if popularity is not None:
        shared["popularity_head_fraction"] = HEAD_FRACTION
    per_user: dict[str, dict[int, Tensor]] = {
        "recall": {}, "ndcg": {}, "hit": {}, "precision": {}}
    for k in ks:
        hits_k = found[:, k - 1]
        per_user["recall"][k] = hits_k / num_truth
        per_user["ndcg"][k] = gains[:, k - 1] / ideal[num_truth.clamp(max=k) - 1]
        per_user["hit"][k] = (hits_k > 0).double()
        per_user["precision"][k] = hits_k / k
    values = {name: {k: float(scores.mean()) for k, scores in by_k.items()}
              for name, by_k in per_user.items()}
    values["coverage"] = {k: torch.unique(top_items[:, :k]).numel() / num_items for k in ks}
    if popularity is not None:
        values["popularity"] = {k: float((recommended_popularity[:, k - 1] / k).mean())
                                for k in ks}
        values["tail_share"] = {k: float((recommended_tail[:, k - 1] / k).mean()) for k in ks}
    return [Result(protocol="full_sort", metric=f"{name}@{k}", split=split, value=value,
                   settings={"k": k, **shared})
            for name, by_k in values.items() for k, value in by_k.items()]
