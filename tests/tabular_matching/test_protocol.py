"""Match scoring: precision, recall and F1 at a threshold, the threshold chosen on validation,
and the TF-IDF baseline, checked against counts worked out by hand."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.data.arrays import DataError
from contrastlearn.modalities.tabular.matching import protocol as protocol_module
from contrastlearn.modalities.tabular.matching.chars import encode_table
from contrastlearn.modalities.tabular.matching.corruptions import corrupt_rows
from contrastlearn.modalities.tabular.matching.protocol import (
    NO_MATCH,
    MatchingTask,
    TupleMatchingProtocol,
    best_threshold,
    match_scores,
    nearest,
    tfidf_nearest,
)
from tests.tabular_matching.fixtures import places

pytestmark = pytest.mark.usefixtures("one_thread")

# five queries: right row (0.9), wrong row (0.8), right row (0.6), no true row (0.7), right (0.3)
SIMILARITY = torch.tensor([0.9, 0.8, 0.6, 0.7, 0.3])
PREDICTED = torch.tensor([0, 1, 2, 3, 4])
TRUTH = torch.tensor([0, 9, 2, NO_MATCH, 4])


def test_scores_at_a_threshold_count_wrong_rows_and_rows_without_a_match():
    scores = match_scores(SIMILARITY, PREDICTED, TRUTH, threshold=0.65)
    # proposed: 0.9, 0.8, 0.7 -> one correct; matchable: 4 queries
    assert (scores.proposed, scores.correct) == (3, 1)
    assert scores.precision == pytest.approx(1 / 3) and scores.recall == pytest.approx(1 / 4)
    assert scores.f1 == pytest.approx(2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4))
    assert match_scores(SIMILARITY, PREDICTED, TRUTH, threshold=0.95).f1 == 0.0


def test_best_threshold_is_the_f1_best_cut_of_the_sorted_similarities():
    by_hand = {}
    for threshold in SIMILARITY.tolist():
        by_hand[threshold] = match_scores(SIMILARITY, PREDICTED, TRUTH, threshold).f1
    best = max(by_hand.values())
    assert best_threshold(SIMILARITY, PREDICTED, TRUTH) == pytest.approx(
        max(threshold for threshold, f1 in by_hand.items() if f1 == best))


def test_nearest_is_the_most_cosine_similar_gallery_row():
    gallery = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    queries = torch.tensor([[0.0, 5.0], [3.0, 0.1], [2.0, 2.2]])
    similarity, index = nearest(queries, gallery, block=2)
    assert index.tolist() == [1, 0, 2]
    assert similarity[0] == pytest.approx(1.0)


def test_tfidf_finds_lightly_corrupted_rows():
    rows = encode_table(places(60))
    queries = corrupt_rows(rows, seed=1, typo_rate=0.02, abbreviation_rate=0.0, drop_rate=0.0)
    similarity, index = tfidf_nearest(queries, rows, block=16)
    assert float((index == torch.arange(60)).float().mean()) > 0.9
    assert similarity.shape == (60,) and float(similarity.max()) <= 1.0 + 1e-6


class RawCounts(torch.nn.Module):
    """A stand-in encoder: each row's character histogram."""

    out_dim = 256

    def forward(self, x):
        return torch.nn.functional.one_hot(x.flatten(1), 256).sum(dim=1).float()[:, 1:]


def _task(rows: torch.Tensor, seed: int, drop: int) -> MatchingTask:
    queries = corrupt_rows(rows, seed=seed, typo_rate=0.03, drop_rate=0.0)
    truth = torch.arange(len(rows)) - drop
    truth[:drop] = NO_MATCH
    return MatchingTask(rows[drop:], queries, truth)


def test_the_protocol_scores_encoder_and_baseline_with_the_validation_threshold(monkeypatch):
    calls = []
    monkeypatch.setattr(protocol_module, "tfidf_nearest",
                        lambda *args: calls.append(1) or tfidf_nearest(*args))
    table = encode_table(places(80))
    protocol = TupleMatchingProtocol(_task(table[:40], 1, 10), _task(table[40:], 2, 10))
    results = protocol.evaluate(RawCounts(), split="held")
    assert [(r.settings["representation"], r.metric) for r in results] == [
        (representation, metric) for representation in ("encoder", "char 3-gram TF-IDF")
        for metric in ("precision", "recall", "f1", "recall@1")]
    assert all(r.protocol == "tuple_matching" and r.split == "held" for r in results)
    assert all(0.0 <= r.value <= 1.0 for r in results)
    settings = results[0].settings
    assert settings["queries"] == 40 and settings["queries_without_match"] == 10
    assert settings["threshold_chosen_on"].startswith("validation")
    tfidf_f1 = next(r.value for r in results if r.metric == "f1" and "TF-IDF" in
                    r.settings["representation"])
    assert tfidf_f1 > 0.7
    assert [r.split for r in protocol.baseline("other")] == ["other"] * 4
    assert len(calls) == 2, "TF-IDF similarities are computed once (validation and test)"


def test_the_threshold_does_not_depend_on_the_test_truth():
    table = encode_table(places(80))
    validation = _task(table[40:], 2, 10)
    test = _task(table[:40], 1, 10)
    shuffled = MatchingTask(test.gallery, test.queries, test.truth.flip(0))
    thresholds = {TupleMatchingProtocol(task, validation).evaluate(RawCounts())[0]
                  .settings["threshold"] for task in (test, shuffled)}
    assert len(thresholds) == 1


def test_a_task_needs_rows_on_both_sides_and_one_truth_per_query():
    rows = encode_table(places(4))
    with pytest.raises(DataError, match="needs rows on both sides"):
        MatchingTask(rows[:0], rows, torch.zeros(4, dtype=torch.long))
    with pytest.raises(DataError, match="one true row per query"):
        MatchingTask(rows, rows, torch.zeros(3, dtype=torch.long))
    with pytest.raises(DataError, match="same columns and max_chars"):
        MatchingTask(rows, rows[:, :2], torch.zeros(4, dtype=torch.long))
