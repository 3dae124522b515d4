"""The protocols of graph papers, on synthetic embeddings whose answer is known: random-split
node classification (GRACE), cross-validated SVM graph classification (InfoGraph/GraphCL) and
link-prediction AUC."""

import math

import numpy as np
import pytest
import torch

from contrastlearn.evaluation import (
    Result,
    link_prediction,
    node_classification,
    sample_non_edges,
    svm_cross_validation,
)
from contrastlearn.evaluation.random_splits import fraction_name


def clusters(num_per_class=20, num_classes=3, dim=6, spread=0.05, seed=0):
    """Tight, far-apart class clusters: any sensible linear classifier is perfect on them."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), num_per_class)
    centers = 5.0 * np.eye(num_classes, dim)
    return centers[labels] + rng.normal(scale=spread, size=(len(labels), dim)), labels


def noise(num_per_class=30, num_classes=3, dim=6, seed=0):
    """Features independent of the labels: accuracy at chance level."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), num_per_class)
    return rng.normal(size=(len(labels), dim)), rng.permutation(labels)


# -- node classification on random splits -----------------------------------------------------
def test_node_classification_separable_is_perfect_and_reports_mean_std():
    x, y = clusters()
    results = node_classification(x, y, fractions=(0.1, 0.5), seeds=(0, 1, 2),
                                  c_grid=(0.1, 10.0), inner_folds=2)
    assert [r.protocol for r in results] == ["node_classification_10",
                                             "node_classification_50"]
    for result, fraction in zip(results, (0.1, 0.5)):
        assert isinstance(result, Result) and result.metric == "top1"
        assert result.value == 1.0 and result.std == 0.0 and result.num_seeds == 3
        settings = result.settings
        assert settings["fraction"] == fraction and settings["seeds"] == [0, 1, 2]
        assert settings["classifier"] == "logistic_regression"
        assert settings["num_train"] + settings["num_test"] == 60
        assert settings["num_train"] == 3 * round(fraction * 20)  # stratified per class
        assert settings["values_per_seed"] == [1.0, 1.0, 1.0]


def test_node_classification_random_features_are_at_chance():
    x, y = noise()
    result = node_classification(x, y, fractions=(0.5,), seeds=(0, 1, 2, 3),
                                 c_grid=(1.0,), inner_folds=2)[0]
    assert abs(result.value - 1 / 3) < 0.15
    values = result.settings["values_per_seed"]
    mean = sum(values) / 4
    assert result.std == pytest.approx(math.sqrt(sum((v - mean) ** 2 for v in values) / 3))


def test_node_classification_searches_c_by_folds_of_the_train_split():
    """The search runs on the train split's own folds (their number is recorded, all train
    samples take part); a class with a single train sample leaves no fold to hold it out, so
    C stays `default_c`."""
    x, y = clusters(num_per_class=10)
    searched = node_classification(x, y, fractions=(0.5,), seeds=(0,), c_grid=(0.5, 2.0),
                                   inner_folds=3)[0].settings
    assert searched["c_search"] is True and searched["inner_folds"] == 3
    assert searched["num_search_samples"] == searched["num_train"] == 15
    assert searched["C"] in (0.5, 2.0)
    fixed = node_classification(x, y, fractions=(0.1,), seeds=(0,), c_grid=(0.5, 2.0),
                                default_c=7.0)[0].settings
    assert fixed["c_search"] is False and fixed["C"] == 7.0 and fixed["num_train"] == 3


def test_node_classification_is_deterministic_and_seeds_differ():
    x, y = noise(seed=3)
    first = node_classification(x, y, fractions=(0.2,), seeds=(0, 1), c_grid=(1.0,),
                                inner_folds=2)
    again = node_classification(x, y, fractions=(0.2,), seeds=(0, 1), c_grid=(1.0,),
                                inner_folds=2)
    assert first[0].to_dict() == again[0].to_dict()
    values = first[0].settings["values_per_seed"]
    assert values[0] != values[1]  # two seeds draw two different splits


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.0, 1.5])
def test_node_classification_rejects_fractions_outside_zero_one(fraction):
    x, y = clusters()
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        node_classification(x, y, fractions=(fraction,), seeds=(0,))


def test_node_classification_rejects_one_class_and_no_test_left():
    x, y = clusters()
    with pytest.raises(ValueError, match="only 1 distinct class"):
        node_classification(x, np.zeros(len(y), dtype=int), fractions=(0.5,), seeds=(0,))
    with pytest.raises(ValueError, match="leaving no test samples"):
        node_classification(x[:4], np.array([0, 0, 1, 1]), fractions=(0.9,), seeds=(0,))
    with pytest.raises(ValueError, match="distinct"):
        node_classification(x, y, fractions=(0.5,), seeds=(1, 1))


def test_fraction_names():
    assert [fraction_name(f) for f in (0.01, 0.1, 0.8, 0.005)] == ["1", "10", "80", "0.5"]


# -- cross-validated SVM -----------------------------------------------------------------------
def test_svm_cross_validation_separable_is_perfect():
    x, y = clusters(num_per_class=12)
    result = svm_cross_validation(x, y, folds=4, c_grid=(0.01, 1.0), inner_folds=2)
    assert result.protocol == "svm_cross_validation" and result.metric == "top1"
    assert result.value == 1.0 and result.std == 0.0
    settings = result.settings
    assert settings["folds"] == 4 and len(settings["values_per_fold"]) == 4
    assert len(settings["C_per_fold"]) == 4 and set(settings["C_per_fold"]) <= {0.01, 1.0}


def test_svm_cross_validation_random_features_are_at_chance_and_std_is_over_folds():
    x, y = noise(num_per_class=20)
    result = svm_cross_validation(x, y, folds=5, c_grid=(1.0,), inner_folds=2)
    assert abs(result.value - 1 / 3) < 0.17
    values = result.settings["values_per_fold"]
    assert result.value == pytest.approx(np.mean(values))
    assert result.std == pytest.approx(np.std(values, ddof=1))


def test_svm_cross_validation_bad_input():
    x, y = clusters(num_per_class=6)
    with pytest.raises(ValueError, match="fewer than the 10 folds of the cross-validation; "
                                         "use folds <= 6"):
        svm_cross_validation(x, y, folds=10)
    with pytest.raises(ValueError, match="only 1 distinct class"):
        svm_cross_validation(x, np.zeros(len(y), dtype=int), folds=2)
    with pytest.raises(ValueError, match="folds and inner_folds must be >= 2"):
        svm_cross_validation(x, y, folds=1)
    with pytest.raises(ValueError, match="single sample of some class"):
        svm_cross_validation(x[[0, 1, 6, 7, 12, 13]], y[[0, 1, 6, 7, 12, 13]], folds=2)


# -- link prediction ---------------------------------------------------------------------------
def clique_graph(num_groups=4, size=5):
    """Disjoint cliques: every within-group pair is an edge, no pair across groups is."""
    groups = torch.arange(num_groups * size) // size
    pairs = torch.combinations(torch.arange(num_groups * size))
    within = pairs[groups[pairs[:, 0]] == groups[pairs[:, 1]]].T
    return groups, within


def test_link_prediction_perfect_and_reversed_scores():
    groups, edges = clique_graph()
    held = torch.randperm(edges.shape[1], generator=torch.Generator().manual_seed(0))[:12]
    held_out, known = edges[:, held], edges[:, ~torch.isin(torch.arange(edges.shape[1]), held)]
    same_group = torch.eye(4)[groups]  # cosine 1 within a group, 0 across: every non-edge
    perfect = link_prediction(same_group, held_out, known)
    assert [(r.protocol, r.metric) for r in perfect] == [("link_prediction", "auroc"),
                                                         ("link_prediction", "average_precision")]
    assert perfect[0].value == 1.0 and perfect[1].value == 1.0
    assert perfect[0].settings["num_positive"] == perfect[0].settings["num_negative"] == 12
    far = same_group.clone()
    far[torch.arange(len(far)) % 2 == 1] *= -1  # odd nodes point away from their group
    bipartite = held_out[:, (held_out[0] % 2) != (held_out[1] % 2)]
    known_all = torch.cat([known, held_out[:, (held_out[0] % 2) == (held_out[1] % 2)]], 1)
    worst = link_prediction(far, bipartite, known_all)
    # held-out edges score -1; non-edges (across groups) score 0
    assert worst[0].value == 0.0


def test_link_prediction_random_embeddings_near_half_and_direction_free():
    generator = torch.Generator().manual_seed(1)
    edges = torch.randint(200, (2, 400), generator=generator)
    z = torch.randn(200, 8, generator=generator)
    held, known = edges[:, :150], edges[:, 150:]
    result = link_prediction(z, held, known, seed=3)[0]
    assert abs(result.value - 0.5) < 0.12
    both_directions = torch.cat([held, held.flip(0)], 1)
    assert link_prediction(z, both_directions, known, seed=3)[0].value == result.value


@pytest.mark.parametrize("num_nodes", [30, 3000])  # enumerated and rejection-sampled
def test_sample_non_edges_never_returns_an_edge(num_nodes):
    generator = torch.Generator().manual_seed(0)
    edges = torch.randint(num_nodes, (2, 5 * num_nodes), generator=generator)
    count = 40
    drawn = sample_non_edges(num_nodes, edges, count, seed=5)
    assert drawn.shape == (2, count) and drawn.dtype == torch.long
    assert bool((drawn[0] < drawn[1]).all())  # no self-loop, canonical order
    edge_keys = {(min(u, v), max(u, v)) for u, v in edges.T.tolist()}
    drawn_keys = {(u, v) for u, v in drawn.T.tolist()}
    assert len(drawn_keys) == count and not drawn_keys & edge_keys
    assert torch.equal(drawn, sample_non_edges(num_nodes, edges, count, seed=5))
    assert not torch.equal(drawn, sample_non_edges(num_nodes, edges, count, seed=6))


def test_sample_non_edges_fills_a_dense_graph_exactly():
    complete_but_one = torch.combinations(torch.arange(6)).T[:, 1:]  # (0, 1) missing
    assert sample_non_edges(6, complete_but_one, 1, seed=0).tolist() == [[0], [1]]
    with pytest.raises(ValueError, match="only 1 node pairs that are not edges"):
        sample_non_edges(6, complete_but_one, 2, seed=0)


def test_link_prediction_bad_input():
    z = torch.randn(5, 3)
    with pytest.raises(ValueError, match="at least one held-out edge"):
        link_prediction(z, torch.tensor([[2], [2]]), torch.empty(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="outside 0..4"):
        link_prediction(z, torch.tensor([[0], [7]]), torch.empty(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="shape \\(2, num_edges\\)"):
        link_prediction(z, torch.tensor([0, 1]), torch.empty(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown link score"):
        link_prediction(z, torch.tensor([[0], [1]]), torch.empty(2, 0), score="l2")
    with pytest.raises(ValueError, match="NaN or Inf"):
        link_prediction(torch.full((5, 3), math.nan), torch.tensor([[0], [1]]),
                        torch.empty(2, 0))


def test_average_precision_prints_as_a_percentage():
    assert Result("link_prediction", "average_precision", 0.9, "test").formatted_value() \
        == "90.00%"
