"""Query-by-example on the held-out speakers, next to the classic baseline it must beat:
MFCC frames compared by dynamic time warping (template matching, as in query-by-example
spoken term detection before learned embeddings; e.g. Hazen et al. 2009, ASRU)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from contrastlearn.evaluation.dtw import pairwise_dtw
from contrastlearn.evaluation.features import extract_embeddings
from contrastlearn.evaluation.query_by_example import (
    map_from_scores,
    query_by_example,
    stratified_subset,
)
from contrastlearn.evaluation.result import Result
from contrastlearn.modalities.audio.features import MFCC


def mfcc_frames(waveforms: Tensor, lengths: Tensor, sample_rate: int) -> Tensor:
    """(N, 13, frames) MFCC of each clip, normalised per clip to zero mean and unit variance
    over its valid frames (cepstral mean and variance normalisation); frames past a clip's
    end are NaN, which `pairwise_dtw` reads as padding."""
    transform = MFCC(sample_rate=sample_rate)
    with torch.no_grad():
        coefficients = transform(waveforms).squeeze(1)  # (N, 13, frames)
    valid = transform.frame_lengths(lengths).clamp(max=coefficients.shape[-1])
    inside = torch.arange(coefficients.shape[-1])[None, :] < valid[:, None]  # (N, frames)
    weights = inside[:, None, :].float()
    count = weights.sum(dim=-1, keepdim=True)
    mean = (coefficients * weights).sum(dim=-1, keepdim=True) / count
    spread = ((coefficients - mean).square() * weights).sum(dim=-1, keepdim=True) / count
    normalised = (coefficients - mean) / spread.sqrt().clamp(min=1e-5)
    return normalised.masked_fill(~inside[:, None, :], float("nan"))


class QueryByExampleProtocol:
    """Every held-out clip of a stratified subset (at most `per_class` per word) queries the
    others: mAP of the encoder's cosine similarities, and of MFCC + DTW (computed once)."""

    def __init__(self, waveforms: Tensor, labels: Tensor, lengths: Tensor, *, sample_rate: int,
                 per_class: int | None = 10, seed: int = 0) -> None:
        self.chosen = stratified_subset(labels, per_class, seed)
        self.waveforms, self.labels = waveforms[self.chosen], labels[self.chosen]
        self.lengths = lengths[self.chosen]
        self.sample_rate, self.per_class, self.seed = sample_rate, per_class, seed
        self._baseline: Result | None = None

    def baseline(self, split: str = "test") -> Result:
        """mAP of MFCC + DTW on the same queries (negated DTW distance as the score)."""
        if self._baseline is None:
            frames = mfcc_frames(self.waveforms, self.lengths, self.sample_rate)
            value, queries = map_from_scores(-pairwise_dtw(frames), self.labels)
            self._baseline = Result("query_by_example", "map", value, split, {
                "representation": "MFCC + DTW", "similarity": "negative DTW distance",
                "features": "13 MFCC, per-clip mean and variance normalised, valid frames",
                "queries": queries, "collection": len(self.labels),
                "per_class": self.per_class, "seed": self.seed})
        return self._baseline

    def evaluate(self, encoder: nn.Module, *, device: Any = "cpu", batch_size: int = 256,
                 split: str = "test") -> list[Result]:
        embeddings = extract_embeddings(encoder, self.waveforms, batch_size=batch_size,
                                        device=device)
        learned = query_by_example(embeddings, self.labels, embeddings, self.labels,
                                   split=split)
        learned.settings["per_class"] = self.per_class
        return [learned, self.baseline(split)]
