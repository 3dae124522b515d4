"""Semantic-similarity correlation: how well the cosine similarity of two embeddings tracks a
human similarity score, the STS-benchmark protocol of SentEval (Conneau & Kiela 2018,
arXiv 1803.05449) used by SimCSE (Gao et al. 2021, arXiv 2104.08821), which reports
Spearman's rank correlation; Pearson's is reported alongside, as SentEval does.

The data are pairs, not a labelled train/test split, so this is not an `EVALUATORS` entry with
the classifier signature; call `similarity_correlation` directly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.validation import _as_tensor, _check_matrix

CONSTANT_TOLERANCE = 1e-9
MIN_PAIRS = 3


def _check_scores(scores: Any, num_pairs: int) -> np.ndarray:
    values = _as_tensor(scores, "scores")
    if values.dim() != 1:
        raise ValueError(f"scores must be 1-D (num_pairs,), got shape {tuple(values.shape)}")
    if values.shape[0] != num_pairs:
        raise ValueError(
            f"scores has length {values.shape[0]} but there are {num_pairs} embedding pairs; "
            f"there must be one score per pair"
        )
    if values.dtype.is_complex:
        raise ValueError(f"scores must be real, got dtype {values.dtype}")
    array = values.to(torch.float64).cpu().numpy()
    if not np.isfinite(array).all():
        raise ValueError(
            f"scores contain NaN or Inf in {int((~np.isfinite(array)).sum())} of {num_pairs} "
            f"pairs; drop those pairs"
        )
    if np.all(array == array[0]):
        raise ValueError(
            f"scores are constant ({array[0]:g} for all {num_pairs} pairs); a correlation "
            f"with a constant is undefined"
        )
    return array


def similarity_correlation(
    embeddings_a: Any, embeddings_b: Any, scores: Any, *, split: str = "test",
) -> list[Result]:
    """Spearman and Pearson correlation between ``cos(embeddings_a[i], embeddings_b[i])`` and
    ``scores[i]`` over all pairs i.

    Returns two Results, protocol "similarity", metrics "spearman" and "pearson", with settings
    similarity, num_pairs and dim. Raises ValueError when a and b differ in shape, contain
    NaN/Inf, hold fewer than 3 pairs, or when the scores are not one finite number per pair
    or are constant. When the similarities themselves are constant (a collapsed encoder) the
    correlations are undefined: the values are NaN and ``constant_similarity`` is True.
    """
    from scipy import stats  # imported here: slow to import, needed only by this protocol

    a = _check_matrix(embeddings_a, "embeddings_a").to(torch.float64)
    b = _check_matrix(embeddings_b, "embeddings_b").to(torch.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"embeddings_a has shape {tuple(a.shape)} but embeddings_b has shape "
            f"{tuple(b.shape)}; row i of each must be the two sides of pair i"
        )
    num_pairs = a.shape[0]
    if num_pairs < MIN_PAIRS:
        raise ValueError(f"need at least {MIN_PAIRS} pairs for a correlation, got {num_pairs}")
    human = _check_scores(scores, num_pairs)
    cosine = (F.normalize(a, dim=1) * F.normalize(b, dim=1)).sum(dim=1).cpu().numpy()

    # float64 cosines of identical directions differ by ~1e-16; anything this flat is constant
    constant = bool(np.ptp(cosine) <= CONSTANT_TOLERANCE)
    if constant:
        spearman = pearson = float("nan")
    else:
        spearman = float(stats.spearmanr(cosine, human)[0])
        pearson = float(stats.pearsonr(cosine, human)[0])
    settings = {"similarity": "cosine", "num_pairs": int(num_pairs), "dim": int(a.shape[1]),
                "constant_similarity": constant}
    return [
        Result(protocol="similarity", metric="spearman", value=spearman, split=split,
               settings=dict(settings)),
        Result(protocol="similarity", metric="pearson", value=pearson, split=split,
               settings=dict(settings)),
    ]
