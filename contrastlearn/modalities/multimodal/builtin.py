"""The multimodal room's built-in datasets (made offline from data other rooms ship)."""

from __future__ import annotations

from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import DatasetSplits
from contrastlearn.modalities.multimodal.data import multimodal_splits
from contrastlearn.modalities.multimodal.fashion_captions import (
    fashion_captions_available,
    fashion_captions_records,
)
from contrastlearn.modalities.multimodal.words_three_ways import (
    words_three_ways_available,
    words_three_ways_records,
)


@DATASETS.register("fashion-captions", modality="multimodal")
def load_fashion_captions(holdout_fraction: float = 0.2, seed: int = 0,
                          train_size: int | None = None,
                          test_size: int | None = None) -> DatasetSplits:
    """Fashion-MNIST images with captions from class names, WordNet glosses and templates
    (test captions from templates never used in training) and class prompts for zero-shot
    classification; the official 60,000/10,000 split (`train_size`/`test_size`: a stratified
    subset)."""
    records = fashion_captions_records(train_size, test_size, seed=seed)
    return multimodal_splits(**records, holdout_fraction=holdout_fraction, seed=seed)


@DATASETS.register("words-three-ways", modality="multimodal")
def load_words_three_ways(holdout_fraction: float = 0.2, seed: int = 0, relation: str = "same",
                          pairings: int = 1) -> DatasetSplits:
    """Words as text, as a rendered picture and as speech (spoken-words), split by voice and
    font; `relation: sum` makes the speech word the sum of the other two (mod 5), so the
    information is only in the joint."""
    records = words_three_ways_records(relation, seed=seed, pairings=pairings)
    items = "text" if relation == "same" else "record"  # with sum, one text is many things
    return multimodal_splits(**records, holdout_fraction=holdout_fraction, seed=seed,
                             items=items)


load_fashion_captions.available = fashion_captions_available
load_words_three_ways.available = words_three_ways_available
