"""Measures of a shared embedding space between two modalities (CLIP-style models).

- `cross_modal_retrieval`: Recall@K (and MRR, mAP) of queries of one modality against a
  gallery of the other by cosine similarity, as CLIP (Radford et al. 2021, arXiv 2103.00020)
  reports image-to-text and text-to-image retrieval. A gallery item is a hit when its id equals
  the query's id, so an image with five captions has five positives. The ranking is
  `contrastlearn.evaluation.retrieval.retrieval_metrics` (ties against the query).
- `modality_gap`: how far apart the two modalities sit in the space. The gap of Liang et al.
  2022 ("Mind the Gap: Understanding the Modality Gap in Multi-modal Contrastive Representation
  Learning", arXiv 2203.02053) is the distance between the centroids of the L2-normalised
  embeddings of each modality; alongside it, the cross-validated accuracy of a logistic
  regression telling one modality from the other (0.5 when indistinguishable, 1 when linearly
  separable) and the mean cosine of paired embeddings (how aligned matching pairs are).

The embeddings come from two encoders of one shared space; nothing here knows a modality.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.retrieval import retrieval_metrics
from contrastlearn.evaluation.validation import _check_labels, _check_matrix

DIRECTION = re.compile(r"^(\w+)->(\w+)$")


def _check_pair_dims(first: Tensor, second: Tensor, names: tuple[str, str]) -> None:
    if first.shape[1] != second.shape[1]:
        raise ValueError(
            f"{names[0]} have dim {first.shape[1]} but {names[1]} have dim {second.shape[1]}; "
            f"both must be embedded in the shared space of one multimodal model"
        )


def cross_modal_retrieval(
    query: Any, gallery: Any, query_ids: Any, gallery_ids: Any, ks: Sequence[int] = (1, 5, 10),
    *, direction: str = "image->text", chunk_size: int | None = None,
    device: torch.device | str | None = "cpu", split: str = "test",
) -> list[Result]:
    """Recall@K for each K in `ks`, MRR and mAP of (N, D) `query` embeddings ranking the
    (M, D) `gallery` by cosine similarity; a hit is a gallery item with the query's id.

    Both directions are two calls, e.g. images as queries with ``direction="image->text"``,
    then captions as queries with ``direction="text->image"``. The protocol is named after the
    direction ("image_to_text_retrieval"); settings record direction, k (for recall@K) and
    the settings of `retrieval_metrics`. A query with no positive is a ValueError.
    """
    match = DIRECTION.match(direction)
    if match is None:
        raise ValueError(
            f"direction must read '<query modality>-><gallery modality>', e.g. 'image->text', "
            f"got {direction!r}"
        )
    query_x, gallery_x = _check_matrix(query, "query"), _check_matrix(gallery, "gallery")
    _check_pair_dims(query_x, gallery_x, ("query embeddings", "gallery embeddings"))
    _check_labels(query_ids, "query_ids", query_x.shape[0], "query")
    _check_labels(gallery_ids, "gallery_ids", gallery_x.shape[0], "gallery")
    results = retrieval_metrics(query_x, gallery_x, query_ids, gallery_ids, ks=ks,
                                chunk_size=chunk_size, device=device, split=split)
    query_modality, gallery_modality = match.groups()
    for result in results:
        result.protocol = f"{query_modality}_to_{gallery_modality}_retrieval"
        result.settings = {"direction": direction, **result.settings}
    return results


def separability_accuracy(a: np.ndarray, b: np.ndarray, *, folds: int, seed: int,
                          C: float) -> list[float]:
    """Per-fold accuracy of a logistic regression (standardised features) telling rows of
    `a` from rows of `b`; pair i (a[i], b[i]) always falls in one fold, so a classifier never
    sees one half of a test pair."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    order = np.random.default_rng(seed).permutation(len(a))
    accuracies = []
    for held_out in np.array_split(order, folds):
        kept = np.setdiff1d(order, held_out)
        classifier = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
        classifier.fit(np.concatenate([a[kept], b[kept]]),
                       np.repeat([0, 1], len(kept)))
        accuracies.append(classifier.score(np.concatenate([a[held_out], b[held_out]]),
                                           np.repeat([0, 1], len(held_out))))
    return accuracies


def modality_gap(
    a: Any, b: Any, *, folds: int = 5, seed: int = 0, C: float = 1.0, split: str = "test",
) -> list[Result]:
    """Three Results (protocol "modality_gap") for paired (N, D) embeddings, row i of `a` and
    of `b` being the two modalities of item i:

    - "centroid_distance": ``||mean_i a_i/|a_i| - mean_i b_i/|b_i|||`` (Liang et al. 2022),
      in [0, 2];
    - "accuracy": mean over `folds` folds of the accuracy of an L2 logistic regression
      (inverse strength `C`, standardised features) telling unit-normalised a from b; folds
      are a `seed`-ed split of the pairs;
    - "mean_paired_cosine": mean over i of cos(a_i, b_i).
    """
    a_x, b_x = _check_matrix(a, "a"), _check_matrix(b, "b")
    if a_x.shape != b_x.shape:
        raise ValueError(
            f"a has shape {tuple(a_x.shape)} but b has shape {tuple(b_x.shape)}; row i of each "
            f"must be the two modalities of the same item i"
        )
    if not 2 <= int(folds) <= a_x.shape[0]:
        raise ValueError(
            f"folds must be between 2 and the number of pairs {a_x.shape[0]}, got {folds}; "
            f"pass fewer folds or more pairs"
        )
    if not C > 0:
        raise ValueError(f"C must be > 0, got {C}")
    a_unit = F.normalize(a_x.double(), dim=1)
    b_unit = F.normalize(b_x.double(), dim=1)
    distance = float(torch.linalg.vector_norm(a_unit.mean(dim=0) - b_unit.mean(dim=0)))
    cosine = float((a_unit * b_unit).sum(dim=1).mean())
    per_fold = separability_accuracy(a_unit.numpy(), b_unit.numpy(), folds=int(folds),
                                     seed=int(seed), C=float(C))
    size = {"num_pairs": int(a_x.shape[0]), "dim": int(a_x.shape[1])}
    return [
        Result("modality_gap", "centroid_distance", distance, split,
               {"measure": "distance between the centroids of L2-normalised a and b", **size}),
        Result("modality_gap", "accuracy", float(np.mean(per_fold)), split, {
            "measure": "linear separability of a from b",
            "classifier": "logistic_regression (sklearn, lbfgs, standardised features)",
            "C": float(C), "folds": int(folds), "seed": int(seed), "fold_split": "by pair",
            "values_per_fold": [float(value) for value in per_fold], "chance": 0.5, **size}),
        Result("modality_gap", "mean_paired_cosine", cosine, split,
               {"measure": "mean cosine of a_i and b_i", **size}),
    ]
