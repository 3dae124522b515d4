"""Query-by-example retrieval: each recording of a set, used as a query, ranks all the other
recordings; those with the query's label (the same spoken word) are the relevant ones. The
score is the mean over queries of average precision (mAP), the standard figure of
query-by-example spoken term detection (e.g. the QUESST / SWS evaluations, and CAB-KWS, Dai
et al. 2024, arXiv 2409.00356, which argues for this protocol).

Embeddings are compared by cosine similarity; `map_from_scores` takes any (N, N) similarity,
so a DTW distance matrix (negated) of MFCC frames gives the classic template-matching
baseline on the very same queries.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.validation import check_embeddings


def stratified_subset(labels: Tensor, per_class: int | None, seed: int = 0) -> Tensor:
    """Sorted indices of at most `per_class` items of every label (a seeded choice); all
    items when `per_class` is None. Bounds the cost of quadratic protocols (DTW)."""
    labels = torch.as_tensor(labels).cpu()
    if per_class is None:
        return torch.arange(len(labels))
    if int(per_class) < 2:
        raise ValueError(f"per_class must be >= 2 (a query needs another item of its label), "
                         f"got {per_class}")
    generator = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(len(labels), generator=generator)
    ranked = order[torch.argsort(labels[order], stable=True)]
    _, counts = torch.unique(labels, return_counts=True)
    chosen = [members[:int(per_class)] for members in ranked.split(counts.tolist())]
    return torch.cat(chosen).sort().values


def map_from_scores(scores: Tensor, labels: Tensor) -> tuple[float, int]:
    """(mAP, number of queries) for an (N, N) score matrix (higher = more alike): query i
    ranks every j != i by score (ties broken by index); average precision is the mean of the
    precision at each relevant item's rank. Queries whose label occurs once are left out."""
    scores = torch.as_tensor(scores, dtype=torch.float64)
    labels = torch.as_tensor(labels).to(scores.device)
    count = len(labels)
    if scores.shape != (count, count):
        raise ValueError(f"scores must be ({count}, {count}) for {count} labels; got "
                         f"{tuple(scores.shape)}")
    scores = scores.masked_fill(torch.eye(count, dtype=torch.bool, device=scores.device),
                                float("-inf"))
    order = torch.argsort(scores, dim=1, descending=True, stable=True)[:, :count - 1]
    relevant = (labels[order] == labels[:, None]).double()
    hits = relevant.cumsum(dim=1)
    ranks = torch.arange(1, count, device=scores.device, dtype=torch.float64)
    positives = relevant.sum(dim=1)
    answered = positives > 0
    if not bool(answered.any()):
        raise ValueError("query-by-example needs at least one label that occurs twice")
    average_precision = (relevant * hits / ranks).sum(dim=1)[answered] / positives[answered]
    return float(average_precision.mean()), int(answered.sum())


@EVALUATORS.register("query_by_example")
def query_by_example(
    train_embeddings: Any, train_labels: Any, test_embeddings: Any, test_labels: Any, *,
    per_class: int | None = None, seed: int = 0, device: torch.device | str | None = "cpu",
    split: str = "test",
) -> Result:
    """mAP of cosine-similarity query-by-example among the test items (every test item a query
    against the others; the train split is not used), on at most `per_class` items per label
    when given."""
    _, _, test_x, test_y = check_embeddings(train_embeddings, train_labels, test_embeddings,
                                            test_labels, device=device)
    chosen = stratified_subset(test_y.cpu(), per_class, seed).to(test_x.device)
    embeddings = F.normalize(test_x[chosen], dim=1)
    value, queries = map_from_scores(embeddings @ embeddings.T, test_y[chosen])
    return Result("query_by_example", "map", value, split, {
        "similarity": "cosine", "queries": queries, "collection": len(chosen),
        "per_class": per_class, "seed": int(seed),
        "num_classes": int(torch.unique(test_y[chosen]).numel())})
