"""kNN anomaly detection on frozen embeddings: a test sample is anomalous when it is far, in
cosine distance, from the normal training embeddings. The scoring follows the deep nearest-
neighbour detectors of Bergman, Cohen & Hoshen 2020 ("Deep Nearest Neighbor Anomaly
Detection", arXiv 2002.10445) and PANDA (Reiss et al. 2021, arXiv 2010.05903); the one-class
protocol on a labelled dataset (one class normal, all others anomalous, AUROC averaged over
classes) is the one of CSI (Tack et al. 2020, arXiv 2007.08176) and its predecessors.

Score = mean cosine distance (1 - cosine similarity) to the `k` nearest normal train
embeddings. `k` must not exceed the normal train samples: it is an error rather than silently
clipped, because clipping per class would score different classes with different k.
The (test x normal) similarity matrix is processed in chunks, as in `knn`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation.knn import SIMILARITIES_PER_CHUNK
from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.validation import (
    _as_tensor,
    _check_matrix,
    check_embeddings,
    resolve_device,
)


def _mean_knn_distance(
    normal_unit: Tensor, test_x: Tensor, k: int, chunk_size: int | None,
) -> Tensor:
    """(num_test,) mean cosine distance to the k nearest rows of L2-normalised `normal_unit`."""
    if chunk_size is None:
        chunk_size = max(1, SIMILARITIES_PER_CHUNK // normal_unit.shape[0])
    scores = torch.empty(test_x.shape[0], device=test_x.device)
    for start in range(0, test_x.shape[0], int(chunk_size)):
        test_unit = F.normalize(test_x[start:start + int(chunk_size)], dim=1)
        nearest = (test_unit @ normal_unit.T).topk(k, dim=1).values
        scores[start:start + int(chunk_size)] = 1.0 - nearest.mean(dim=1)
    return scores


def _check_settings(k: int, chunk_size: int | None) -> None:
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if chunk_size is not None and int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1 or None, got {chunk_size}")


def knn_anomaly_scores(
    normal_train: Any, test: Any, *, k: int = 5, chunk_size: int | None = None,
    device: torch.device | str | None = "cpu",
) -> Tensor:
    """(num_test,) anomaly scores: mean cosine distance of each test embedding to its `k`
    nearest normal train embeddings (higher = more anomalous). `chunk_size` is test rows per
    chunk and does not change the result."""
    device = resolve_device(device)
    normal = _check_matrix(normal_train, "normal train embeddings").to(device)
    test_x = _check_matrix(test, "test embeddings").to(device)
    if normal.shape[1] != test_x.shape[1]:
        raise ValueError(
            f"normal train embeddings have dim {normal.shape[1]} but test embeddings have dim "
            f"{test_x.shape[1]}; both must come from the same encoder"
        )
    _check_settings(k, chunk_size)
    if int(k) > normal.shape[0]:
        raise ValueError(
            f"k={k} exceeds the {normal.shape[0]} normal train embeddings; lower k to at most "
            f"{normal.shape[0]}"
        )
    with torch.no_grad():
        return _mean_knn_distance(F.normalize(normal, dim=1), test_x, int(k), chunk_size)


def anomaly_auroc(
    normal_train: Any, test: Any, test_is_anomaly: Any, *, k: int = 5,
    chunk_size: int | None = None, device: torch.device | str | None = "cpu",
) -> float:
    """AUROC of `knn_anomaly_scores` for separating anomalous test samples (`test_is_anomaly`
    true / 1) from normal ones (false / 0); 0.5 is chance, 1.0 perfect."""
    # Imported here: scikit-learn takes about a second to import, and importing
    # contrastlearn (e.g. for the CLI) should not pay that unless this protocol runs.
    from sklearn.metrics import roc_auc_score

    is_anomaly = _as_tensor(test_is_anomaly, "test_is_anomaly").cpu()
    if is_anomaly.dim() != 1:
        raise ValueError(
            f"test_is_anomaly must be 1-D (num_test,), got shape {tuple(is_anomaly.shape)}"
        )
    if not bool(((is_anomaly == 0) | (is_anomaly == 1)).all()):
        raise ValueError("test_is_anomaly must hold booleans or 0/1 values")
    is_anomaly = is_anomaly.bool().numpy()
    scores = knn_anomaly_scores(normal_train, test, k=k, chunk_size=chunk_size, device=device)
    if is_anomaly.shape[0] != scores.shape[0]:
        raise ValueError(
            f"test_is_anomaly has length {is_anomaly.shape[0]} but test embeddings has "
            f"{scores.shape[0]} rows; there must be one flag per test embedding"
        )
    if is_anomaly.all() or not is_anomaly.any():
        raise ValueError(
            "AUROC needs both normal and anomalous test samples, but test_is_anomaly is all "
            f"{bool(is_anomaly[0])}"
        )
    return float(roc_auc_score(is_anomaly, scores.cpu().double().numpy()))


@EVALUATORS.register("anomaly")
def one_class_anomaly(
    train_embeddings: Any, train_labels: Any, test_embeddings: Any, test_labels: Any, *,
    k: int = 5, chunk_size: int | None = None,
    device: torch.device | str | None = "cpu", split: str = "test",
) -> Result:
    """Mean one-class AUROC over classes: for each train class c, the train embeddings of c
    are the normal data and a test sample is an anomaly when its label is not c.

    Returns one Result, protocol "anomaly", metric "auroc", value the mean over classes and
    `std` their sample standard deviation (ddof=1; over classes, not seeds). `settings`
    records k, score, per_class_auroc ({class: AUROC}), std_over, std_ddof, num_train,
    num_test, dim and num_classes. Every train class must also occur in test (else its AUROC
    is undefined) and have at least `k` train samples.
    """
    from sklearn.metrics import roc_auc_score

    _check_settings(k, chunk_size)
    device = resolve_device(device)
    train_x, train_y, test_x, test_y = check_embeddings(
        train_embeddings, train_labels, test_embeddings, test_labels, device=device
    )
    classes, counts = torch.unique(train_y, return_counts=True)
    too_small = [(int(c), int(n)) for c, n in zip(classes, counts) if n < int(k)]
    if too_small:
        listed = ", ".join(f"class {c} has {n}" for c, n in too_small[:10])
        raise ValueError(
            f"k={k} exceeds the normal train embeddings of {len(too_small)} class(es): "
            f"{listed}; lower k to at most {min(n for _, n in too_small)}"
        )
    test_classes = set(torch.unique(test_y).tolist())
    absent = [int(c) for c in classes.tolist() if c not in test_classes]
    if absent:
        raise ValueError(
            f"train class(es) {absent[:10]} never occur in the test labels, so their "
            f"one-class AUROC (class normal vs the rest) is undefined"
        )
    if len(test_classes) < 2:
        raise ValueError(
            f"test labels hold only class {sorted(test_classes)}; one-class AUROC needs "
            f"anomalies (other classes) in test"
        )

    labels = test_y.cpu().numpy()
    per_class: dict[int, float] = {}
    with torch.no_grad():
        train_unit = F.normalize(train_x, dim=1)
        for label in classes.tolist():
            scores = _mean_knn_distance(train_unit[train_y == label], test_x, int(k), chunk_size)
            per_class[int(label)] = float(
                roc_auc_score(labels != label, scores.cpu().double().numpy())
            )
    values = np.array(list(per_class.values()))
    return Result(
        protocol="anomaly", metric="auroc", value=float(values.mean()), split=split,
        std=float(values.std(ddof=1)) if values.size > 1 else 0.0,
        settings={
            "k": int(k), "score": "mean_cosine_distance_to_k_nearest_normal",
            "per_class_auroc": {str(label): value for label, value in per_class.items()},
            "std_over": "classes", "std_ddof": 1,
            "num_train": int(train_x.shape[0]), "num_test": int(test_x.shape[0]),
            "dim": int(train_x.shape[1]), "num_classes": int(classes.numel()),
        },
    )
