"""Tuple matching, scored: each row of table B is matched to its most similar row of table A
when their cosine similarity reaches a threshold; the threshold is the one with the best F1
on validation queries (corrupted rows held out of training as B's are), never on the test.

Precision counts wrong matches, including matches proposed for B rows that have no row in A;
recall counts the B rows with a row in A that were matched to it. The classic string-matching
baseline runs on the same queries: cosine similarity of character 3-gram TF-IDF vectors of the
rows' text (as in record linkage toolkits; e.g. Christen 2012, "Data Matching", Springer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.data.arrays import DataError
from contrastlearn.evaluation.features import extract_embeddings
from contrastlearn.evaluation.result import Result
from contrastlearn.modalities.tabular.matching.chars import decode_rows

PROTOCOL = "tuple_matching"
NO_MATCH = -1
"""The truth of a B row whose record is not in table A."""
TFIDF = "char 3-gram TF-IDF"


@dataclass
class MatchScores:
    """Precision, recall and F1 of one matching at one threshold."""

    precision: float
    recall: float
    f1: float
    proposed: int
    correct: int


def nearest(queries: Tensor, gallery: Tensor, block: int = 4096) -> tuple[Tensor, Tensor]:
    """For each query vector, the cosine similarity of its nearest gallery vector and that
    vector's index (queries in blocks, so memory stays at block x gallery)."""
    gallery = F.normalize(gallery.float(), dim=1)
    best, index = [], []
    for start in range(0, len(queries), block):
        part = F.normalize(queries[start:start + block].float(), dim=1) @ gallery.T
        values, positions = part.max(dim=1)
        best.append(values)
        index.append(positions)
    return torch.cat(best), torch.cat(index)


def match_scores(similarity: Tensor, predicted: Tensor, truth: Tensor,
                 threshold: float) -> MatchScores:
    """Scores of matching each query to `predicted` (its nearest row) when `similarity`
    >= `threshold`; `truth` is each query's true row, NO_MATCH when it has none."""
    proposed = similarity >= threshold
    correct = proposed & (predicted == truth) & (truth != NO_MATCH)
    count, hits = int(proposed.sum()), int(correct.sum())
    matchable = int((truth != NO_MATCH).sum())
    precision = hits / count if count else 0.0
    recall = hits / matchable if matchable else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return MatchScores(precision, recall, f1, count, hits)


def best_threshold(similarity: Tensor, predicted: Tensor, truth: Tensor) -> float:
    """The threshold with the highest F1 (the highest such one on ties): every query's
    similarity is a candidate; the best accepts the k most similar queries for some k."""
    order = similarity.argsort(descending=True)
    correct = ((predicted == truth) & (truth != NO_MATCH))[order].double().cumsum(0)
    accepted = torch.arange(1, len(order) + 1, dtype=torch.float64)
    matchable = max(int((truth != NO_MATCH).sum()), 1)
    f1 = 2 * correct / (accepted + matchable)
    return float(similarity[order][int(f1.argmax())])


@dataclass
class MatchingTask:
    """Queries (corrupted rows) to match against a gallery (clean rows): character codes and
    each query's true gallery row (NO_MATCH: none)."""

    gallery: Tensor
    queries: Tensor
    truth: Tensor

    def __post_init__(self) -> None:
        if len(self.gallery) == 0 or len(self.queries) == 0:
            raise DataError(f"a matching task needs rows on both sides; got {len(self.gallery)} "
                            f"gallery and {len(self.queries)} query rows")
        if self.truth.shape != (len(self.queries),):
            raise DataError(f"a matching task needs one true row per query "
                            f"({len(self.queries)}); got shape {tuple(self.truth.shape)}")
        if self.gallery.shape[1:] != self.queries.shape[1:]:
            raise DataError(f"gallery rows have shape {tuple(self.gallery.shape[1:])} but query "
                            f"rows {tuple(self.queries.shape[1:])}; encode both tables with "
                            "the same columns and max_chars")

    def settings(self) -> dict[str, Any]:
        return {"queries": len(self.queries), "gallery": len(self.gallery),
                "queries_without_match": int((self.truth == NO_MATCH).sum())}


class TupleMatchingProtocol:
    """Match F1 of an encoder on `test` (B's corrupted rows against all of table A), its
    threshold chosen on `validation`; the TF-IDF baseline is scored the same way (once)."""

    def __init__(self, test: MatchingTask, validation: MatchingTask,
                 corruption: dict[str, Any] | None = None) -> None:
        self.test, self.validation = test, validation
        self.corruption = dict(corruption or {})
        self._tfidf: dict[str, tuple[Tensor, Tensor]] | None = None

    def _results(self, representation: str, similarity: dict[str, tuple[Tensor, Tensor]],
                 split: str) -> list[Result]:
        threshold = best_threshold(*similarity["validation"], self.validation.truth)
        test_similarity, predicted = similarity["test"]
        scores = match_scores(test_similarity, predicted, self.test.truth, threshold)
        matchable = self.test.truth != NO_MATCH
        top1 = float((predicted == self.test.truth)[matchable].float().mean())
        settings = {"representation": representation, "similarity": "cosine",
                    "threshold": threshold,
                    "threshold_chosen_on": "validation (other corrupted held-out rows)",
                    "validation_queries": len(self.validation.queries), **self.test.settings(),
                    "proposed": scores.proposed, "correct": scores.correct,
                    "corruption": self.corruption}
        return [Result(PROTOCOL, metric, value, split, dict(settings)) for metric, value in
                (("precision", scores.precision), ("recall", scores.recall),
                 ("f1", scores.f1), ("recall@1", top1))]

    def baseline(self, split: str = "test") -> list[Result]:
        """The character 3-gram TF-IDF baseline (its similarities computed once)."""
        if self._tfidf is None:
            self._tfidf = {name: tfidf_nearest(task.queries, task.gallery)
                           for name, task in (("validation", self.validation),
                                              ("test", self.test))}
        return self._results(TFIDF, self._tfidf, split)

    def evaluate(self, encoder: nn.Module, *, device: Any = "cpu", batch_size: int = 512,
                 split: str = "test") -> list[Result]:
        similarity = {}
        for name, task in (("validation", self.validation), ("test", self.test)):
            gallery, queries = (extract_embeddings(encoder, rows, batch_size=batch_size,
                                                   device=device)
                                for rows in (task.gallery, task.queries))
            similarity[name] = nearest(queries, gallery)
        return self._results("encoder", similarity, split) + self.baseline(split)


def tfidf_nearest(queries: Tensor, gallery: Tensor, block: int = 1024) -> tuple[Tensor, Tensor]:
    """Nearest gallery row of each query row by cosine similarity of character 3-gram TF-IDF
    vectors (scikit-learn's `char_wb` analyzer, IDF fitted on the gallery; queries in blocks)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3))
    gallery_vectors = vectorizer.fit_transform(decode_rows(gallery))
    query_vectors = vectorizer.transform(decode_rows(queries))
    best, index = [], []
    for start in range(0, query_vectors.shape[0], block):
        part = query_vectors[start:start + block] @ gallery_vectors.T
        values, positions = torch.as_tensor(part.toarray()).max(dim=1)
        best.append(values.float())
        index.append(positions)
    return torch.cat(best), torch.cat(index)
