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

Every metric is exact and batched, computed in chunks of query rows without sorting
(similarity, index) pairs. Each chunk's float32 similarities are reinterpreted in place as int32
keys that sort in descending similarity with the lowest bit free, and that bit marks the
positives, so a positive sorts after the negatives it ties with. One values-only sort per row
(numpy's vectorised sort on CPU) then leaves every positive at its 1-based rank, up to ties among
positives; AP's sum of (positives so far) / rank is a cumulative sum and a dot product per
row; the few runs of tied positives are corrected from the sorted keys of the positives alone,
and the first positive's rank is a binary search. The gallery is reordered by id once, so a
query's positives are one contiguous range of columns; as before, only the number of query
rows per matrix product (one row is a matrix-vector product) can change a similarity's last
bit, and so move exact ties. On CPU, the rows of a chunk are ranked in L2-sized blocks by
`torch.get_num_threads()` threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.topk import rows_per_chunk
from contrastlearn.evaluation.validation import check_embeddings, resolve_device

# On CPU, every row block of about this many similarities goes through all passes (keys, sort,
# cumulative sums) while it stays in a core's L2 cache, about 3x faster than whole chunks.
ELEMENTS_PER_BLOCK = 2**17
# Keys above those of every cosine (similarities in [-1.5, 1.5] have keys below 2**31 - 2**23):
# the query itself under exclude_self (even: not a positive), and padding of positive lists.
EXCLUDED_KEY = 2**31 - 2
PADDING_KEY = 2**31 - 1
PARTS_PER_THREAD = 4

Rows = Any  # a numpy array on CPU (worker threads, no OpenMP hand-offs), a torch tensor elsewhere


def _sort_rows_(matrix: Rows) -> None:
    """Sort every row ascending, in place (numpy's vectorised sort or torch.sort)."""
    if isinstance(matrix, Tensor):
        matrix.copy_(matrix.sort(dim=1).values)
    else:
        matrix.sort(axis=1)


def _precision_sums(sorted_keys: Rows, inverse_place: Rows) -> Rows:
    """Per row, the sum over flagged places j (from 1) of (flags up to j) / j: the k-th
    positive at rank j has precision k / j."""
    flags = sorted_keys & 1
    if isinstance(flags, Tensor):
        found = flags.cumsum(1, dtype=torch.int32)
        found *= flags
        return (found.double() * inverse_place).sum(1)
    # numpy's cumulative sum is scalar code; torch's 1-D scan is vectorised and one-threaded.
    # einsum sums each row the same way whatever the block size, and uses no threaded BLAS.
    found = np.empty_like(flags)
    for source, target in zip(torch.from_numpy(flags), torch.from_numpy(found)):
        torch.cumsum(source, 0, dtype=torch.int32, out=target)
    found *= flags
    return np.einsum("ij,j->i", found, inverse_place)


def _rank_block(keys: Rows, positive_keys: Rows, starts: list[int], ends: list[int],
                self_columns: list[int] | None, inverse_place: Rows) -> Rows:
    """Rank one block of rows; returns `_precision_sums`, which is AP times the number of
    positives when no positives tie.

    `keys` holds the block's float32 similarities viewed as int32 and is overwritten by sorted
    keys: key = -2 * (the float's bits read as sign and magnitude), so keys ascend as
    similarities descend, equal similarities (-0.0 and 0.0 too) get equal even keys, and
    |s| < 2 (bit 30 zero) never overflows. Positives get the low bit, which sorts them after
    the negatives they tie with. `positive_keys` (PADDING_KEY-filled) receives the sorted keys
    of each row's positives, columns ``starts[i]:ends[i]`` except ``self_columns[i]``.
    """
    sign = keys >> 31  # -1 for negative similarities, else 0
    keys <<= 1
    keys ^= sign  # 2 * magnitude, or its complement -2 * magnitude - 1 when negative
    keys *= -1
    keys += sign
    for row, (first, stop) in enumerate(zip(starts, ends)):
        keys[row, first:stop] += 1
        positive_keys[row, :stop - first] = keys[row, first:stop]
        if self_columns is not None:
            keys[row, self_columns[row]] = EXCLUDED_KEY
            positive_keys[row, self_columns[row] - first] = EXCLUDED_KEY
    _sort_rows_(keys)
    _sort_rows_(positive_keys)
    return _precision_sums(keys, inverse_place)


def _rank_rows(keys: Rows, positive_keys: Rows, starts: list[int], ends: list[int],
               self_columns: list[int] | None, inverse_place: Rows) -> list[Rows]:
    """`_rank_block` over consecutive blocks of about ELEMENTS_PER_BLOCK similarities."""
    block = max(1, ELEMENTS_PER_BLOCK // keys.shape[1])
    return [
        _rank_block(keys[start:start + block], positive_keys[start:start + block],
                    starts[start:start + block], ends[start:start + block],
                    None if self_columns is None else self_columns[start:start + block],
                    inverse_place)
        for start in range(0, keys.shape[0], block)
    ]


def _count_at_most(sorted_rows: Tensor, rows: Tensor, values: Tensor) -> Tensor:
    """How many entries of ``sorted_rows[rows[i]]`` (ascending) are <= ``values[i]``, for all i
    at once by a binary search over the flattened rows."""
    width = sorted_rows.shape[1]
    flat = sorted_rows.reshape(-1)
    low, high = torch.zeros_like(rows), torch.full_like(rows, width)
    while bool((low < high).any()):  # at most log2(width) + 1 rounds
        active = low < high
        middle = (low + high) // 2
        at_most = flat[rows * width + middle.clamp(max=width - 1)] <= values
        low = torch.where(active & at_most, middle + 1, low)
        high = torch.where(active & ~at_most, middle, high)
    return low


def _rank_statistics(
    similarity: Tensor, starts: Tensor, ends: Tensor, self_columns: Tensor | None,
    num_positives: Tensor, workers: ThreadPoolExecutor | None,
) -> tuple[Tensor, Tensor]:
    """``(first_rank (Q,), average_precision (Q,))`` of a float32 (Q, G) similarity chunk,
    which is overwritten. Row i's positives are columns ``starts[i]:ends[i]`` except
    ``self_columns[i]`` (removed from the ranking); every row has at least one. Ranks count
    ties against the query (see the module docstring). With `workers` (CPU tensors only),
    parts of the rows are ranked as numpy arrays in those threads; without, the whole chunk
    is ranked with torch operations on its device."""
    num_rows, width = similarity.shape
    device = similarity.device
    keys = similarity.view(torch.int32)
    longest = int((ends - starts).max())
    positive_keys = torch.full((num_rows, longest), PADDING_KEY, dtype=torch.int32,
                               device=device)
    inverse_place = 1.0 / torch.arange(1, width + 1, device=device, dtype=torch.float64)
    arguments = (starts.tolist(), ends.tolist(),
                 None if self_columns is None else self_columns.tolist())
    if workers is not None:
        # Several parts per thread, so a core slowed by other work delays the chunk less.
        parts = min(PARTS_PER_THREAD * torch.get_num_threads(), num_rows)
        bounds = [num_rows * part // parts for part in range(parts + 1)]
        pieces = workers.map(
            lambda low, high: _rank_rows(
                keys.numpy()[low:high], positive_keys.numpy()[low:high],
                *(None if values is None else values[low:high] for values in arguments),
                inverse_place.numpy()),
            bounds[:-1], bounds[1:])
        precision_sum = torch.from_numpy(
            np.concatenate([block for piece in pieces for block in piece]))
    else:
        precision_sum = _rank_block(keys, positive_keys, *arguments, inverse_place)

    # A run of positives with equal keys (members m..last, from 0) sits at the end of its tie
    # group, so all of them have the last member's rank and count; the places above gave
    # member k the rank R_last - last + k and count k + 1 instead.
    local = torch.arange(num_rows, device=device)
    valid_pair = torch.arange(1, longest, device=device) < num_positives[:, None]
    tied_row, member = ((positive_keys[:, 1:] == positive_keys[:, :-1]) & valid_pair
                        ).nonzero().unbind(1)
    flat = tied_row * longest + member
    run_end = torch.ones_like(flat, dtype=torch.bool)
    run_end[:-1] = flat[1:] != flat[:-1] + 1
    ends_flat = flat[run_end]
    last = ends_flat[torch.searchsorted(ends_flat, flat)] - tied_row * longest + 1
    counts = _count_at_most(keys, torch.cat([local, tied_row]),
                            torch.cat([positive_keys[:, 0], positive_keys[tied_row, last]]))
    first_rank, last_rank = counts[:num_rows], counts[num_rows:].double()
    precision_sum.index_add_(0, tied_row, (last + 1) / last_rank
                             - (member + 1) / (last_rank - last + member))
    return first_rank, precision_sum / num_positives


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

    # Gallery sorted by id: query i's positives are the columns starts[i]:ends[i].
    order = torch.argsort(gallery_ids, stable=True)
    sorted_ids = gallery_ids[order]
    starts = torch.searchsorted(sorted_ids, query_ids)
    ends = torch.searchsorted(sorted_ids, query_ids, right=True)
    num_positives = ends - starts
    if exclude_self:
        num_positives = num_positives - (query_ids == gallery_ids).long()
        self_columns = torch.empty_like(order)
        self_columns[order] = torch.arange(num_gallery, device=order.device)
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

    rows = rows_per_chunk(num_gallery, chunk_size)
    first_ranks, average_precisions = [], []
    with torch.no_grad(), ThreadPoolExecutor(max_workers=torch.get_num_threads()) as pool:
        workers = pool if query_x.device.type == "cpu" else None
        gallery_unit = F.normalize(gallery_x[order], dim=1)
        buffer = torch.empty(min(rows, evaluated.numel()), num_gallery, dtype=torch.float32,
                             device=query_x.device)
        for start in range(0, evaluated.numel(), rows):
            chunk = evaluated[start:start + rows]
            similarity = torch.mm(F.normalize(query_x[chunk], dim=1), gallery_unit.T,
                                  out=buffer[:chunk.numel()])
            first_rank, average_precision = _rank_statistics(
                similarity, starts[chunk], ends[chunk],
                self_columns[chunk] if exclude_self else None, num_positives[chunk], workers,
            )
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
