"""Query-by-example mAP against a hand-computed reference and a naive loop."""

import pytest
import torch

from contrastlearn.evaluation.query_by_example import (
    map_from_scores,
    query_by_example,
    stratified_subset,
)


def naive_map(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Reference written independently: sort each row's other items, walk the ranking."""
    precisions = []
    for query in range(len(labels)):
        others = [j for j in range(len(labels)) if j != query]
        others.sort(key=lambda j: (-float(scores[query, j]), j))
        hits, total = 0, []
        for rank, j in enumerate(others, start=1):
            if labels[j] == labels[query]:
                hits += 1
                total.append(hits / rank)
        if total:
            precisions.append(sum(total) / len(total))
    return sum(precisions) / len(precisions)


def test_map_by_hand():
    labels = torch.tensor([0, 0, 1, 1])
    scores = torch.tensor([[0, .9, .8, .1], [.9, 0, .2, .3], [.8, .2, 0, .1], [.1, .3, .1, 0]])
    # query 0: positive at rank 1 -> 1; query 1: rank 1 -> 1; query 2: ranking 0, 1, 3 -> 1/3;
    # query 3: ranking 1, 0/2 tie (index order: 0 first), positive 2 at rank 3 -> 1/3
    value, queries = map_from_scores(scores, labels)
    assert queries == 4
    assert value == pytest.approx((1 + 1 + 1 / 3 + 1 / 3) / 4)


def test_map_matches_naive_loop_and_skips_single_queries():
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 5, (40,), generator=generator)
    labels[-1] = 9  # a label that occurs once: not a query
    scores = torch.randn(40, 40, generator=generator)
    value, queries = map_from_scores(scores, labels)
    assert queries == 39
    assert value == pytest.approx(naive_map(scores, labels), abs=1e-12)


def test_query_by_example_perfect_and_random_embeddings():
    labels = torch.arange(6).repeat_interleave(5)
    clustered = torch.nn.functional.one_hot(labels).float() + 0.01 * torch.randn(30, 6)
    perfect = query_by_example(clustered, labels, clustered, labels)
    assert perfect.value == pytest.approx(1.0)
    assert perfect.metric == "map" and perfect.settings["queries"] == 30
    noise = query_by_example(torch.randn(30, 6), labels, torch.randn(30, 6), labels)
    assert noise.value < 0.6


def test_stratified_subset_keeps_at_most_per_class():
    labels = torch.tensor([0] * 7 + [1] * 2 + [2] * 5)
    chosen = stratified_subset(labels, 3, seed=1)
    assert torch.bincount(labels[chosen]).tolist() == [3, 2, 3]
    assert torch.equal(chosen, stratified_subset(labels, 3, seed=1))
    assert len(stratified_subset(labels, None)) == len(labels)
    with pytest.raises(ValueError, match="per_class must be >= 2"):
        stratified_subset(labels, 1)


def test_bad_inputs():
    with pytest.raises(ValueError, match="scores must be"):
        map_from_scores(torch.zeros(3, 4), torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match="occurs twice"):
        map_from_scores(torch.zeros(3, 3), torch.tensor([0, 1, 2]))
