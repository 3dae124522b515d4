import importlib
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation import retrieval, retrieval_metrics

retrieval_module = importlib.import_module("contrastlearn.evaluation.retrieval")


def by_metric(results):
    return {result.metric: result for result in results}


def unit_at(degrees):
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))]


def reference_ranking(query_x, gallery_x, query_ids, gallery_ids, exclude_self=False):
    """Naive loop over queries in float64: rank(item) = #items with similarity >= its own."""
    gallery_unit = gallery_x / np.linalg.norm(gallery_x, axis=1, keepdims=True)
    first_ranks, average_precisions = [], []
    for index, (row, query_id) in enumerate(zip(query_x, query_ids)):
        similarity = gallery_unit @ (row / np.linalg.norm(row))
        keep = np.ones(len(gallery_ids), dtype=bool)
        if exclude_self:
            keep[index] = False
        similarity, ids = similarity[keep], gallery_ids[keep]
        positives = [j for j in range(len(ids)) if ids[j] == query_id]
        ranks = [int(np.sum(similarity >= similarity[j])) for j in positives]
        precisions = [
            sum(1 for other in positives if similarity[other] >= similarity[j]) / rank
            for j, rank in zip(positives, ranks)
        ]
        first_ranks.append(min(ranks))
        average_precisions.append(sum(precisions) / len(positives))
    return np.array(first_ranks), np.array(average_precisions)


def random_problem(seed=0, num_queries=30, num_gallery=50, dim=6, num_ids=4):
    rng = np.random.default_rng(seed)
    gallery_ids = np.arange(num_gallery) % num_ids
    query_ids = rng.integers(0, num_ids, size=num_queries)
    return (rng.normal(size=(num_queries, dim)), rng.normal(size=(num_gallery, dim)),
            query_ids, gallery_ids)


def test_hand_computed_three_query_example():
    # Gallery on the unit circle at 0, 30, 60, 90, 200 degrees with ids A B A C B.
    gallery = np.array([unit_at(0), unit_at(30), unit_at(60), unit_at(90), unit_at(200)])
    gallery_ids = np.array([0, 1, 0, 2, 1])
    # q0 at 0 deg (id A): order g0 g1 g2 g3 g4, positives at ranks 1, 3 -> AP (1 + 2/3) / 2.
    # q1 at 90 deg (id B): order g3 g2 g1 g0 g4, positives at ranks 3, 5 -> AP (1/3 + 2/5) / 2.
    # q2 at 180 deg (id C): order g4 g3 g2 g1 g0, positive at rank 2 -> AP 1/2.
    # Recall@K counts q0 at K=1, q2 at K=2, q1 at K=3.
    queries = np.array([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])
    query_ids = np.array([0, 1, 2])
    results = by_metric(retrieval_metrics(queries, gallery, query_ids, gallery_ids,
                                          ks=(1, 2, 3)))
    assert results["recall@1"].value == pytest.approx(1 / 3)
    assert results["recall@2"].value == pytest.approx(2 / 3)
    assert results["recall@3"].value == pytest.approx(1.0)
    assert results["mrr"].value == pytest.approx((1 + 1 / 3 + 1 / 2) / 3)
    assert results["map"].value == pytest.approx((5 / 6 + 11 / 30 + 1 / 2) / 3)
    assert list(results) == ["recall@1", "recall@2", "recall@3", "mrr", "map"]
    assert all(r.protocol == "retrieval" and r.split == "test" for r in results.values())
    assert results["recall@2"].settings["k"] == 2
    assert results["map"].settings["num_queries"] == 3
    assert results["map"].settings["num_gallery"] == 5


@pytest.mark.parametrize("exclude_self", [False, True])
def test_matches_naive_loop_and_sklearn_average_precision(exclude_self):
    query_x, gallery_x, query_ids, gallery_ids = random_problem()
    if exclude_self:
        query_x, query_ids = gallery_x, gallery_ids
    first_rank, average_precision = reference_ranking(query_x, gallery_x, query_ids,
                                                      gallery_ids, exclude_self)
    results = by_metric(retrieval_metrics(query_x, gallery_x, query_ids, gallery_ids,
                                          ks=(1, 5, 10), exclude_self=exclude_self))
    for k in (1, 5, 10):
        assert results[f"recall@{k}"].value == pytest.approx(np.mean(first_rank <= k), abs=1e-12)
    assert results["mrr"].value == pytest.approx(np.mean(1 / first_rank), abs=1e-12)
    assert results["map"].value == pytest.approx(np.mean(average_precision), abs=1e-12)
    if not exclude_self:  # sklearn's AP per query (self-exclusion would need masking)
        gallery_unit = gallery_x / np.linalg.norm(gallery_x, axis=1, keepdims=True)
        sklearn_ap = [average_precision_score(gallery_ids == qid, gallery_unit @ row)
                      for row, qid in zip(query_x, query_ids)]
        assert results["map"].value == pytest.approx(np.mean(sklearn_ap), abs=1e-9)


def test_ties_count_against_the_query_and_match_sklearn():
    rng = np.random.default_rng(3)
    prototypes = rng.normal(size=(3, 4))
    gallery_x = prototypes[rng.integers(0, 3, size=24)]  # many exact duplicates: ties
    gallery_ids = rng.integers(0, 3, size=24)
    query_x = prototypes[[0, 1, 2, 0]]
    query_ids = np.array([0, 1, 2, 2])
    results = by_metric(retrieval_metrics(query_x, gallery_x, query_ids, gallery_ids))
    gallery_unit = gallery_x / np.linalg.norm(gallery_x, axis=1, keepdims=True)
    sklearn_ap = [average_precision_score(gallery_ids == qid, gallery_unit @ row)
                  for row, qid in zip(query_x, query_ids)]
    assert results["map"].value == pytest.approx(np.mean(sklearn_ap), abs=1e-9)
    first_rank, _ = reference_ranking(query_x, gallery_x, query_ids, gallery_ids)
    assert results["mrr"].value == pytest.approx(np.mean(1 / first_rank), abs=1e-12)


def test_collapsed_embeddings_score_worst_not_perfect():
    gallery_x = np.ones((10, 3))
    ids = np.arange(10) % 5  # 2 positives per query among 10 tied items
    results = by_metric(retrieval_metrics(np.ones((5, 3)), gallery_x, np.arange(5), ids))
    assert results["recall@1"].value == 0.0 and results["recall@5"].value == 0.0
    assert results["recall@10"].value == 1.0
    assert results["mrr"].value == pytest.approx(0.1)
    assert results["map"].value == pytest.approx(0.2)


def test_chunking_does_not_change_results():
    query_x, gallery_x, query_ids, gallery_ids = random_problem(seed=1)
    whole = retrieval_metrics(query_x, gallery_x, query_ids, gallery_ids)
    for chunk_size in (1, 7):
        chunked = retrieval_metrics(query_x, gallery_x, query_ids, gallery_ids,
                                    chunk_size=chunk_size)
        assert [r.value for r in chunked] == [r.value for r in whole]
    self_whole = retrieval_metrics(gallery_x, gallery_x, gallery_ids, gallery_ids,
                                   exclude_self=True)
    self_chunked = retrieval_metrics(gallery_x, gallery_x, gallery_ids, gallery_ids,
                                     exclude_self=True, chunk_size=3)
    assert [r.value for r in self_chunked] == [r.value for r in self_whole]


def test_exclude_self_drops_the_trivial_match():
    x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    # Each item's nearest other item has a different id. Item 0 (and by symmetry 2) ranks
    # items 1, 3, 2: its positive is 3rd; item 1 (and 3) ranks 0, 3, 2: its positive is 2nd.
    ids = np.array([0, 1, 0, 1])
    with_self = by_metric(retrieval_metrics(x, x, ids, ids))
    without_self = by_metric(retrieval_metrics(x, x, ids, ids, exclude_self=True))
    assert with_self["recall@1"].value == 1.0
    assert without_self["recall@1"].value == 0.0
    assert without_self["mrr"].value == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert without_self["map"].value == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert without_self["mrr"].settings["exclude_self"] is True
    with pytest.raises(ValueError, match=r"4 queries and 3 gallery items"):
        retrieval_metrics(x, x[:3], ids, ids[:3], exclude_self=True)


def test_queries_without_positives_error_or_are_skipped_and_counted():
    query_x, gallery_x, _, gallery_ids = random_problem(num_ids=4)
    query_ids = np.array([0, 1, 9, 9, 2] * 6)  # id 9 is never in the gallery
    with pytest.raises(ValueError, match=r"12 of 30 queries have no positive"):
        retrieval_metrics(query_x, gallery_x, query_ids, gallery_ids)
    results = retrieval_metrics(query_x, gallery_x, query_ids, gallery_ids,
                                ignore_queries_without_positives=True)
    keep = query_ids != 9
    expected = retrieval_metrics(query_x[keep], gallery_x, query_ids[keep], gallery_ids)
    assert [r.value for r in results] == pytest.approx([r.value for r in expected], abs=1e-12)
    assert results[0].settings["num_queries_without_positives"] == 12
    assert results[0].settings["num_queries_evaluated"] == 18
    with pytest.raises(ValueError, match=r"none of the 3 queries"):
        retrieval_metrics(query_x[:3], gallery_x, [9, 9, 9], gallery_ids,
                          ignore_queries_without_positives=True)


def test_evaluator_uses_test_as_queries_and_train_as_gallery():
    query_x, gallery_x, query_ids, gallery_ids = random_problem(seed=2)
    assert EVALUATORS.get("retrieval") is retrieval
    results = retrieval(torch.tensor(gallery_x), torch.tensor(gallery_ids), query_x, query_ids)
    direct = retrieval_metrics(query_x, gallery_x, query_ids, gallery_ids)
    assert [r.value for r in results] == [r.value for r in direct]
    assert [r.metric for r in results] == ["recall@1", "recall@5", "recall@10", "mrr", "map"]
    assert results[0].settings["num_train"] == 50 and results[0].settings["num_test"] == 30
    assert "%" in str(results[-1])  # map prints as a percentage


def test_bad_settings_and_inputs():
    query_x, gallery_x, query_ids, gallery_ids = random_problem()
    with pytest.raises(ValueError, match="ks must"):
        retrieval_metrics(query_x, gallery_x, query_ids, gallery_ids, ks=(0, 5))
    with pytest.raises(ValueError, match="distinct"):
        retrieval_metrics(query_x, gallery_x, query_ids, gallery_ids, ks=(5, 5))
    with pytest.raises(ValueError, match="chunk_size"):
        retrieval_metrics(query_x, gallery_x, query_ids, gallery_ids, chunk_size=0)
    with pytest.raises(ValueError, match=r"retrieval: test labels has length 29.*queries"):
        retrieval_metrics(query_x, gallery_x, query_ids[:-1], gallery_ids)


def sorting_rank_statistics(similarity, positive):
    """The previous implementation, kept as the reference: sort each row with its order, then
    rank = number of items with similarity >= the item's (searchsorted on the sorted row)."""
    sorted_similarity, order = similarity.sort(dim=1, descending=True)
    sorted_positive = positive.gather(1, order)
    ascending = -sorted_similarity
    rank = torch.searchsorted(ascending, ascending, right=True)
    positives_at_or_above = sorted_positive.cumsum(dim=1).gather(1, rank - 1)
    precision = positives_at_or_above.double() / rank.double()
    average_precision = (precision * sorted_positive).sum(dim=1) / sorted_positive.sum(dim=1)
    first_rank = rank.masked_fill(~sorted_positive, similarity.shape[1] + 1).min(dim=1).values
    return first_rank, average_precision


def sorting_reference_metrics(query_x, gallery_x, query_ids, gallery_ids, exclude_self,
                              chunk_size):
    """The previous retrieval_metrics (every query has a positive). The similarities of a
    chunk of rows are computed together, as there: BLAS rounds a one-row product differently,
    which moves exact ties."""
    query_x, gallery_x = torch.as_tensor(query_x).float(), torch.as_tensor(gallery_x).float()
    query_ids, gallery_ids = torch.as_tensor(query_ids), torch.as_tensor(gallery_ids)
    gallery_unit = F.normalize(gallery_x, dim=1)
    similarity = torch.cat([F.normalize(rows, dim=1) @ gallery_unit.T
                            for rows in query_x.split(chunk_size or len(query_x))])
    positive = query_ids[:, None] == gallery_ids[None, :]
    if exclude_self:
        similarity.fill_diagonal_(-torch.inf)
        positive.fill_diagonal_(False)
    first_rank, average_precision = sorting_rank_statistics(similarity, positive)
    return ([float((first_rank <= k).double().mean()) for k in (1, 5, 10)]
            + [float((1.0 / first_rank.double()).mean()), float(average_precision.mean())])


@pytest.mark.parametrize("with_workers", [True, False])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_rank_statistics_equal_the_sorting_reference_under_heavy_ties(with_workers,
                                                                      exclude_self):
    rng = np.random.default_rng(7)
    num_rows, width = 37, 400
    gallery_ids = np.sort(rng.integers(0, 5, size=width))
    query_ids = rng.choice(gallery_ids, size=num_rows)
    # Few distinct values (steps of 1/8 in [-1, 1]): ties everywhere, among positives too,
    # and both zeros, which compare equal.
    values = rng.integers(-8, 9, size=(num_rows, width)) / 8.0
    values[rng.random((num_rows, width)) < 0.05] = -0.0
    similarity = torch.from_numpy(values).float()
    positive = torch.from_numpy(query_ids[:, None] == gallery_ids[None, :])
    starts = torch.from_numpy(np.searchsorted(gallery_ids, query_ids))
    ends = torch.from_numpy(np.searchsorted(gallery_ids, query_ids, side="right"))
    self_columns = None
    if exclude_self:
        self_columns = starts + torch.from_numpy(rng.integers(0, 10**6, size=num_rows)) % (
            ends - starts)
        reference_similarity = similarity.clone()
        reference_similarity[torch.arange(num_rows), self_columns] = -torch.inf
        positive[torch.arange(num_rows), self_columns] = False
    else:
        reference_similarity = similarity
    expected_first, expected_ap = sorting_rank_statistics(reference_similarity, positive)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first_rank, average_precision = retrieval_module._rank_statistics(
            similarity.clone(), starts, ends, self_columns, positive.sum(dim=1),
            pool if with_workers else None)
    assert torch.equal(first_rank, expected_first)
    assert torch.allclose(average_precision, expected_ap, rtol=0, atol=1e-12)
    assert (expected_ap < 1).all()  # not trivially perfect


@pytest.mark.parametrize("exclude_self", [False, True])
def test_metrics_equal_the_sorting_reference(exclude_self):
    rng = np.random.default_rng(11)
    prototypes = rng.normal(size=(6, 5))
    gallery_x = np.round(prototypes[rng.integers(0, 6, size=300)]
                         + 0.3 * rng.normal(size=(300, 5)), 1)  # rounded: many exact ties
    gallery_ids = rng.integers(0, 7, size=300)
    query_x, query_ids = (gallery_x, gallery_ids) if exclude_self else (
        np.round(rng.normal(size=(80, 5)), 1), rng.integers(0, 7, size=80))
    for chunk_size in (None, 1, 13):
        expected = sorting_reference_metrics(query_x, gallery_x, query_ids, gallery_ids,
                                             exclude_self, chunk_size)
        results = retrieval_metrics(query_x, gallery_x, query_ids, gallery_ids,
                                    exclude_self=exclude_self, chunk_size=chunk_size)
        values = [r.value for r in results]
        assert values[:3] == expected[:3]
        assert values[3:] == pytest.approx(expected[3:], abs=1e-12)
