"""Weighted k-nearest-neighbour classifier on frozen embeddings (Wu et al. 2018,
"Unsupervised Feature Learning via Non-Parametric Instance Discrimination", arXiv 1805.01978).

Protocol: L2-normalise train and test embeddings; for each test sample take the `k` train
samples of highest cosine similarity s_i; each votes for its label with weight
``exp(s_i / temperature)``; predict the class with the largest total vote (ties go to the
smallest class id). Defaults k=200, temperature=0.07 follow the paper and the common
InstDisc/MoCo/DINO evaluation code. `k` is clipped to the number of train samples and the
effective value recorded. No training, no hyper-parameter fitting.

The (test x train) similarity matrix is never held whole: test rows are processed in chunks of
about 32 M similarities, each chunk one matmul and one `topk`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.validation import check_embeddings, encode_labels, resolve_device

# Similarities per chunk (test rows x train rows): 2**25 float32 = 128 MiB.
SIMILARITIES_PER_CHUNK = 2**25


def knn_vote(
    train_x: Tensor, train_index: Tensor, num_classes: int, test_x: Tensor, *,
    k: int = 200, temperature: float = 0.07, chunk_size: int | None = None,
) -> Tensor:
    """(num_test, num_classes) summed neighbour votes; inputs already validated tensors on one
    device, labels as class indices 0..C-1. `chunk_size` is test rows per chunk (default: as
    many as fit `SIMILARITIES_PER_CHUNK`)."""
    k = min(int(k), train_x.shape[0])
    train_unit = F.normalize(train_x, dim=1)
    if chunk_size is None:
        chunk_size = max(1, SIMILARITIES_PER_CHUNK // train_x.shape[0])
    votes = torch.zeros(test_x.shape[0], num_classes, device=test_x.device)
    for start in range(0, test_x.shape[0], chunk_size):
        test_unit = F.normalize(test_x[start:start + chunk_size], dim=1)
        similarity = test_unit @ train_unit.T
        top_similarity, top_index = similarity.topk(k, dim=1, sorted=False)
        del similarity
        # Subtracting each row's best similarity rescales that row's votes by one positive
        # factor (argmax unchanged) and keeps exp() finite for any temperature.
        row_best = top_similarity.max(dim=1, keepdim=True).values
        weight = torch.exp((top_similarity - row_best) / temperature)
        votes[start:start + chunk_size].scatter_add_(1, train_index[top_index], weight)
    return votes


def knn_predict(
    train_embeddings: Any, train_labels: Any, test_embeddings: Any, *,
    k: int = 200, temperature: float = 0.07, device: torch.device | str | None = "cpu",
    chunk_size: int | None = None,
) -> Tensor:
    """(num_test,) labels predicted by the weighted kNN protocol of this module."""
    _check_settings(k, temperature, chunk_size)
    train_x, train_y, test_x, _ = check_embeddings(
        train_embeddings, train_labels, test_embeddings, None, device=resolve_device(device),
    )
    classes, train_index, _ = encode_labels(train_y, train_y[:1])
    with torch.no_grad():
        votes = knn_vote(train_x, train_index, classes.numel(), test_x, k=k,
                         temperature=temperature, chunk_size=chunk_size)
    return classes[votes.argmax(dim=1)]


def _check_settings(k: int, temperature: float, chunk_size: int | None) -> None:
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if chunk_size is not None and int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1 or None, got {chunk_size}")


@EVALUATORS.register("knn")
def knn_classifier(
    train_embeddings: Any, train_labels: Any, test_embeddings: Any, test_labels: Any, *,
    k: int = 200, temperature: float = 0.07, device: torch.device | str | None = "cpu",
    chunk_size: int | None = None, split: str = "test",
) -> Result:
    """Top-1 accuracy of cosine-similarity kNN with exp(similarity / temperature) votes.

    `settings` records k (requested), effective_k (clipped to num_train), temperature,
    similarity, num_train, num_test, dim and num_classes. `chunk_size` (test rows per chunk)
    only trades memory for speed and does not change the result.
    """
    _check_settings(k, temperature, chunk_size)
    train_x, train_y, test_x, test_y = check_embeddings(
        train_embeddings, train_labels, test_embeddings, test_labels,
        device=resolve_device(device),
    )
    classes, train_index, test_index = encode_labels(train_y, test_y)
    with torch.no_grad():
        votes = knn_vote(train_x, train_index, classes.numel(), test_x, k=k,
                         temperature=temperature, chunk_size=chunk_size)
        correct = votes.argmax(dim=1) == test_index
    return Result(
        protocol="knn", metric="top1", value=int(correct.sum()) / correct.numel(), split=split,
        settings={
            "k": int(k), "effective_k": min(int(k), int(train_x.shape[0])),
            "temperature": float(temperature), "similarity": "cosine", "weighting": "exp",
            "num_train": int(train_x.shape[0]), "num_test": int(test_x.shape[0]),
            "dim": int(train_x.shape[1]), "num_classes": int(classes.numel()),
        },
    )
