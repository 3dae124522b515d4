"""Exact top-K keys per query by dot product (or cosine), in bounded memory.

Scoring 100,000 users against 100,000 items is 10^10 scores (40 GB in float32), so queries are
scored in chunks of rows holding about `SIMILARITIES_PER_CHUNK` scores each, and only the K best
of every row are kept. Keys listed in `exclude` (a user's train items, in CSR form) score -inf
before the selection. Full-sort recommender evaluation (`contrastlearn.evaluation.ranking`) and
`contrastlearn recommend` use this path; retrieval (`contrastlearn.evaluation.retrieval`) shares
its chunking.

Ties are broken by the lower key index, so the result is deterministic: every row is sorted by
score descending, then index ascending, and when equal scores straddle the K-th place the
lower indices are kept. `torch.topk` alone leaves both choices unspecified.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# Scores per chunk (query rows x keys): a float32 chunk is 64 MiB; selecting the top K needs
# little more, and retrieval's rank statistics about 4 more bytes per score.
SIMILARITIES_PER_CHUNK = 2**24


def rows_per_chunk(num_keys: int, chunk_size: int | None = None) -> int:
    """Query rows scored at once: `chunk_size` when given, else as many as keep a chunk at
    about `SIMILARITIES_PER_CHUNK` scores (at least one row)."""
    if chunk_size is not None:
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1 or None, got {chunk_size}")
        return int(chunk_size)
    return max(1, SIMILARITIES_PER_CHUNK // max(1, int(num_keys)))


def check_csr(pair: tuple[Tensor, Tensor], num_rows: int, num_columns: int, name: str,
              device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """Validate a CSR pair ``(indptr (num_rows + 1,), columns)`` of column indices per row and
    return it as int64 tensors on `device`; ValueErrors say what is wrong and how to fix it."""
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(f"{name} must be a CSR pair (indptr, columns), got {type(pair).__name__}")
    indptr, columns = (torch.as_tensor(part) for part in pair)
    for part, label in ((indptr, "indptr"), (columns, "columns")):
        if part.dim() != 1 or part.dtype.is_floating_point or part.dtype.is_complex:
            raise ValueError(f"{name} {label} must be a 1-D integer tensor, got shape "
                             f"{tuple(part.shape)} and dtype {part.dtype}")
    indptr, columns = indptr.long().to(device), columns.long().to(device)
    if indptr.numel() != num_rows + 1:
        raise ValueError(f"{name} indptr has length {indptr.numel()} but there are {num_rows} "
                         f"rows; it needs num_rows + 1 = {num_rows + 1} entries")
    if int(indptr[0]) != 0 or int(indptr[-1]) != columns.numel():
        raise ValueError(f"{name} indptr must start at 0 and end at len(columns) = "
                         f"{columns.numel()}, got {int(indptr[0])} and {int(indptr[-1])}")
    if bool((indptr[1:] < indptr[:-1]).any()):
        raise ValueError(f"{name} indptr must be non-decreasing (row i holds "
                         f"columns[indptr[i]:indptr[i + 1]])")
    if columns.numel() and (int(columns.min()) < 0 or int(columns.max()) >= num_columns):
        raise ValueError(f"{name} columns must lie in [0, {num_columns}), got values in "
                         f"[{int(columns.min())}, {int(columns.max())}]")
    return indptr, columns


def check_vectors(queries: Tensor, keys: Tensor, query_name: str = "queries",
                  key_name: str = "keys") -> tuple[Tensor, Tensor]:
    """Two finite (rows, dim) float matrices of the same dim on one device, as float64 when
    either is float64 and float32 otherwise."""
    queries, keys = torch.as_tensor(queries), torch.as_tensor(keys)
    for matrix, name in ((queries, query_name), (keys, key_name)):
        if matrix.dim() != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
            raise ValueError(f"{name} must be a non-empty 2-D (rows, dim) matrix, got shape "
                             f"{tuple(matrix.shape)}")
        if matrix.dtype.is_complex:
            raise ValueError(f"{name} must be real, got dtype {matrix.dtype}")
    if queries.shape[1] != keys.shape[1]:
        raise ValueError(f"{query_name} have dim {queries.shape[1]} but {key_name} have dim "
                         f"{keys.shape[1]}; both must come from the same model")
    if queries.device != keys.device:
        raise ValueError(f"{query_name} are on {queries.device} but {key_name} on "
                         f"{keys.device}; move both to one device")
    dtype = torch.float64 if torch.float64 in (queries.dtype, keys.dtype) else torch.float32
    queries, keys = queries.detach().to(dtype), keys.detach().to(dtype)
    for matrix, name in ((queries, query_name), (keys, key_name)):
        if not bool(torch.isfinite(matrix).all()):
            raise ValueError(f"{name} contain NaN or Inf; check the model output")
    return queries, keys


def chunked_top_k(
    queries: Tensor, keys: Tensor, k: int, *, exclude: tuple[Tensor, Tensor] | None = None,
    chunk_size: int | None = None, normalize: bool = False,
) -> tuple[Tensor, Tensor]:
    """The `k` best keys of every query: ``(scores (Q, k), indices (Q, k) int64)``.

    Scores are dot products of the (Q, D) `queries` and (N, D) `keys` (cosine similarities
    with `normalize`). `exclude` is a CSR pair ``(indptr (Q + 1,), columns)``: query i never
    gets keys ``columns[indptr[i]:indptr[i + 1]]``; they score -inf and appear (last, as -inf)
    only when fewer than `k` other keys remain. Rows are sorted by score descending, ties by
    lower index (see the module docstring). `chunk_size` (query rows per chunk) trades memory
    for speed and never changes the result.
    """
    queries, keys = check_vectors(queries, keys)
    num_queries, num_keys = queries.shape[0], keys.shape[0]
    if not 1 <= int(k) <= num_keys:
        raise ValueError(f"k must be between 1 and the number of keys {num_keys}, got {k}")
    k = int(k)
    rows = rows_per_chunk(num_keys, chunk_size)
    if exclude is not None:
        indptr, columns = check_csr(exclude, num_queries, num_keys, "exclude", queries.device)
    if normalize:
        queries, keys = F.normalize(queries, dim=1), F.normalize(keys, dim=1)
    top_scores = torch.empty(num_queries, k, dtype=queries.dtype, device=queries.device)
    top_indices = torch.empty(num_queries, k, dtype=torch.int64, device=queries.device)
    buffer = torch.empty(min(rows, num_queries), num_keys, dtype=queries.dtype,
                         device=queries.device)
    with torch.no_grad():
        for start in range(0, num_queries, rows):
            stop = min(start + rows, num_queries)
            scores = torch.mm(queries[start:stop], keys.T, out=buffer[:stop - start])
            if exclude is not None:
                counts = indptr[start + 1:stop + 1] - indptr[start:stop]
                local_rows = torch.repeat_interleave(
                    torch.arange(stop - start, device=scores.device), counts)
                scores[local_rows, columns[int(indptr[start]):int(indptr[stop])]] = -torch.inf
            top_scores[start:stop], top_indices[start:stop] = _top_k_rows(scores, k)
    return top_scores, top_indices


def _top_k_rows(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Top `k` of every row of `scores`, sorted by score descending then index ascending."""
    take = min(k + 1, scores.shape[1])
    values, indices = scores.topk(take, dim=1)
    if take > k:
        # Equal scores at places k and k + 1: topk may have kept any of the tied keys, so
        # those rows are ranked again by a stable full sort, which keeps lower indices first.
        straddling = (values[:, k - 1] == values[:, k]).nonzero().flatten()
        values, indices = values[:, :k], indices[:, :k]
        if straddling.numel():
            row_values, row_indices = scores[straddling].sort(dim=1, descending=True,
                                                              stable=True)
            values[straddling], indices[straddling] = row_values[:, :k], row_indices[:, :k]
    by_index = indices.argsort(dim=1)
    values, indices = values.gather(1, by_index), indices.gather(1, by_index)
    by_score = values.argsort(dim=1, descending=True, stable=True)
    return values.gather(1, by_score), indices.gather(1, by_score)
