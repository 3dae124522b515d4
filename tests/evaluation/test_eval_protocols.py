"""Similarity correlation, k-means clustering, kNN anomaly detection, and the bad-input checks
shared by every new evaluator (retrieval, sklearn probes and label fractions have their own
test files)."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation import (
    anomaly_auroc,
    kmeans_clustering,
    knn_anomaly_scores,
    label_fraction_curve,
    logistic_regression,
    one_class_anomaly,
    retrieval,
    similarity_correlation,
    svm,
)
from contrastlearn.evaluation.result import is_percent_metric

# ---------------------------------------------------------------- similarity


def test_similarity_matches_scipy_and_hand_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 5)), rng.normal(size=(20, 5))
    cosine = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    scores = cosine * 3 + rng.normal(scale=0.5, size=20)
    spearman, pearson = similarity_correlation(torch.tensor(a), b, scores)
    assert (spearman.protocol, spearman.metric, pearson.metric) == (
        "similarity", "spearman", "pearson")
    # Embeddings are validated to float32, so agreement is to float32 rounding.
    assert spearman.value == pytest.approx(stats.spearmanr(cosine, scores).statistic, abs=1e-6)
    assert pearson.value == pytest.approx(np.corrcoef(cosine, scores)[0, 1], abs=1e-6)
    # Spearman is Pearson on ranks (no ties here).
    ranks = np.argsort(np.argsort(cosine)), np.argsort(np.argsort(scores))
    assert spearman.value == pytest.approx(np.corrcoef(*ranks)[0, 1], abs=1e-6)
    assert spearman.settings == {"similarity": "cosine", "num_pairs": 20, "dim": 5,
                                 "constant_similarity": False}
    assert "%" not in str(spearman)


def test_similarity_monotone_scores_give_spearman_one():
    a = np.array([[1.0, 0.0]] * 4)
    b = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [-1.0, 0.2]])  # cos 1, .71, 0, -.98
    spearman, pearson = similarity_correlation(a, b, [5.0, 3.0, 2.0, 0.0])
    assert spearman.value == pytest.approx(1.0)
    assert 0.9 < pearson.value < 1.0


def test_similarity_of_collapsed_embeddings_is_nan_and_flagged():
    spearman, pearson = similarity_correlation(np.ones((4, 3)), np.ones((4, 3)), [1, 2, 3, 4])
    assert math.isnan(spearman.value) and math.isnan(pearson.value)
    assert spearman.settings["constant_similarity"] is True


@pytest.mark.parametrize(("a", "b", "scores", "match"), [
    (np.ones((4, 3)), np.ones((5, 3)), [1, 2, 3, 4], r"shape \(4, 3\) but embeddings_b"),
    (np.ones((2, 3)), np.ones((2, 3)), [1, 2], r"at least 3 pairs for a correlation, got 2"),
    (np.eye(4), np.eye(4), [1, 1, 1, 1], r"scores are constant"),
    (np.eye(4), np.eye(4), [1, 2, np.nan, 4], r"scores contain NaN"),
    (np.eye(4), np.eye(4), [1, 2, 3], r"scores has length 3 but there are 4"),
    (np.where(np.eye(4) > 0, np.nan, 0), np.eye(4), [1, 2, 3, 4], r"embeddings_a contain NaN"),
])
def test_similarity_bad_inputs(a, b, scores, match):
    with pytest.raises(ValueError, match=match):
        similarity_correlation(a, b, scores)


# ---------------------------------------------------------------- clustering


def reference_nmi(labels, clusters):
    """NMI with arithmetic-mean normalisation, from the contingency table."""
    n = len(labels)
    joint = {}
    for label, cluster in zip(labels, clusters):
        joint[(label, cluster)] = joint.get((label, cluster), 0) + 1
    p_label = {c: np.mean(labels == c) for c in set(labels)}
    p_cluster = {c: np.mean(clusters == c) for c in set(clusters)}
    mutual = sum(count / n * math.log(count / n / (p_label[a] * p_cluster[b]))
                 for (a, b), count in joint.items())

    def entropy(probabilities):
        return -sum(p * math.log(p) for p in probabilities.values())

    return mutual / ((entropy(p_label) + entropy(p_cluster)) / 2)


def directions(angles_degrees, jitter=0.0, seed=0):
    rng = np.random.default_rng(seed)
    angles = np.radians(np.asarray(angles_degrees, dtype=float))
    angles = angles + rng.normal(scale=jitter, size=angles.shape)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def test_clustering_perfect_separation_scores_one_whatever_the_label_values():
    test_y = np.repeat([7, -1, 3], 10)
    norms = np.repeat([1.0, 5.0, 9.0], 10)[:, None]  # k-means runs on L2-normalised rows
    test_x = directions(np.repeat([0, 120, 240], 10), jitter=0.05) * norms
    nmi, ari = kmeans_clustering(np.eye(2), [0, 1], test_x, test_y)
    assert (nmi.protocol, nmi.metric, ari.metric) == ("clustering", "nmi", "ari")
    assert nmi.value == pytest.approx(1.0) and ari.value == pytest.approx(1.0)
    assert nmi.settings["num_clusters"] == 3 and nmi.settings["fit_on"] == "test"
    assert nmi.settings["num_train"] == 2 and nmi.settings["num_test"] == 30
    assert "%" not in str(nmi)


def test_clustering_known_case():
    # Two tight groups of 4 (clusters), labels 0 0 0 1 | 1 1 1 1: the contingency table is
    # [[3, 1], [0, 4]], so ARI = (9 - 13*12/28) / ((13 + 12)/2 - 13*12/28) = 48/97.
    test_x = directions([0, 0, 0, 0, 180, 180, 180, 180], jitter=0.01)
    test_y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    nmi, ari = kmeans_clustering(test_x, test_y, test_x, test_y)
    assert ari.value == pytest.approx(48 / 97)
    clusters = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert nmi.value == pytest.approx(reference_nmi(test_y, clusters))


def test_clustering_bad_inputs():
    test_x = directions([0, 90, 180, 270])
    with pytest.raises(ValueError, match=r"test labels hold only 1 distinct class"):
        kmeans_clustering(test_x, [0, 1, 0, 1], test_x, [2, 2, 2, 2])
    with pytest.raises(ValueError, match=r"needs more than 4 test samples, got 4"):
        kmeans_clustering(test_x, [0, 1, 0, 1], test_x, [0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"num_clusters must be >= 2"):
        kmeans_clustering(test_x, [0, 1, 0, 1], test_x, [0, 1, 0, 1], num_clusters=1)


# ---------------------------------------------------------------- anomaly

NORMAL = np.array([[1.0, 0.0], [0.0, 1.0]])
# Test samples: normal, anomaly, anomaly, normal, normal.
TEST = np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, 0.0], [0.0, 1.0], [-1.0, 0.2]])
IS_ANOMALY = np.array([0, 1, 1, 0, 0])


def test_anomaly_scores_and_auroc_hand_checked():
    # k=1: scores 0, 1-1/sqrt2, 1, 0, 1-0.2/sqrt(1.04). The normal [-1, 0.2] outscores the
    # anomaly [1, 1], so 5 of the 6 (anomaly, normal) pairs are ordered right: AUROC 5/6.
    scores = knn_anomaly_scores(NORMAL, TEST, k=1).numpy()
    expected = [0.0, 1 - 1 / math.sqrt(2), 1.0, 0.0, 1 - 0.2 / math.sqrt(1.04)]
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    assert anomaly_auroc(NORMAL, TEST, IS_ANOMALY, k=1) == pytest.approx(5 / 6)
    # k=2 (mean over both normals): scores .5, 1-1/sqrt2, 1.5, .5, 1.39: only the anomaly
    # [-1, 0] beats all normals, so AUROC = 3/6.
    assert anomaly_auroc(NORMAL, TEST, IS_ANOMALY.astype(bool), k=2) == pytest.approx(0.5)
    chunked = knn_anomaly_scores(NORMAL, TEST, k=2, chunk_size=2).numpy()
    np.testing.assert_array_equal(chunked, knn_anomaly_scores(NORMAL, TEST, k=2).numpy())


def test_anomaly_function_errors():
    with pytest.raises(ValueError, match=r"k=3 exceeds the 2 normal train embeddings"):
        knn_anomaly_scores(NORMAL, TEST, k=3)
    with pytest.raises(ValueError, match=r"k must be >= 1"):
        knn_anomaly_scores(NORMAL, TEST, k=0)
    with pytest.raises(ValueError, match=r"both normal and anomalous"):
        anomaly_auroc(NORMAL, TEST, np.zeros(5), k=1)
    with pytest.raises(ValueError, match=r"length 4 but test embeddings has 5"):
        anomaly_auroc(NORMAL, TEST, [0, 1, 0, 1], k=1)
    with pytest.raises(ValueError, match=r"booleans or 0/1"):
        anomaly_auroc(NORMAL, TEST, [0, 2, 0, 1, 0], k=1)
    with pytest.raises(ValueError, match=r"dim 2 but test embeddings have dim 3"):
        knn_anomaly_scores(NORMAL, np.ones((2, 3)), k=1)


def reference_one_class(train_x, train_y, test_x, test_y, k):
    """Per class: naive loop scores, AUROC by counting (anomaly, normal) pairs, ties 1/2."""

    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    per_class = {}
    for label in sorted(set(train_y.tolist())):
        normal = unit(train_x[train_y == label])
        scores = np.array([1 - np.sort(normal @ row)[::-1][:k].mean() for row in unit(test_x)])
        anomalous, normal_scores = scores[test_y != label], scores[test_y == label]
        wins = sum((a > n) + 0.5 * (a == n) for a in anomalous for n in normal_scores)
        per_class[label] = wins / (len(anomalous) * len(normal_scores))
    return per_class


def test_one_class_protocol_matches_naive_reference():
    rng = np.random.default_rng(1)
    train_y, test_y = np.arange(45) % 3, np.arange(30) % 3
    centers = rng.normal(size=(3, 4))
    train_x = centers[train_y] + rng.normal(scale=0.8, size=(45, 4))
    test_x = centers[test_y] + rng.normal(scale=0.8, size=(30, 4))
    result = one_class_anomaly(train_x, train_y, test_x, test_y, k=3, chunk_size=4)
    expected = reference_one_class(train_x, train_y, test_x, test_y, k=3)
    assert result.settings["per_class_auroc"] == pytest.approx(
        {str(c): v for c, v in expected.items()}, abs=1e-9)
    values = list(expected.values())
    assert result.value == pytest.approx(np.mean(values), abs=1e-9)
    assert result.std == pytest.approx(np.std(values, ddof=1), abs=1e-9)
    assert (result.protocol, result.metric, result.settings["k"]) == ("anomaly", "auroc", 3)
    assert result.settings["std_over"] == "classes" and result.num_seeds is None
    assert "%" in str(result)


def test_one_class_protocol_separable_is_perfect():
    train_y, test_y = np.repeat([0, 1, 2], 8), np.repeat([0, 1, 2], 4)
    train_x = directions(np.repeat([0, 120, 240], 8), jitter=0.05, seed=1)
    test_x = directions(np.repeat([0, 120, 240], 4), jitter=0.05, seed=2)
    result = one_class_anomaly(train_x, train_y, test_x, test_y)
    assert result.value == 1.0 and result.std == 0.0


def test_one_class_protocol_errors():
    train_x, train_y = directions(range(0, 360, 30)), np.arange(12) % 3
    with pytest.raises(ValueError, match=r"k=5 exceeds the normal train embeddings of 3 class"):
        one_class_anomaly(train_x, train_y, train_x, train_y)
    with pytest.raises(ValueError, match=r"train class\(es\) \[2\] never occur in the test"):
        one_class_anomaly(train_x, train_y, train_x[:4], [0, 1, 0, 1], k=2)
    with pytest.raises(ValueError, match=r"k must be >= 1"):
        one_class_anomaly(train_x, train_y, train_x, train_y, k=0)


# ---------------------------------------------------------------- shared contract

NEW_EVALUATORS = {
    "logistic_regression": logistic_regression,
    "svm": svm,
    "label_fraction": label_fraction_curve,
    "retrieval": retrieval,
    "clustering": kmeans_clustering,
    "anomaly": one_class_anomaly,
}


def test_new_evaluators_are_registered():
    for name, function in NEW_EVALUATORS.items():
        assert EVALUATORS.get(name) is function


def test_percent_metrics_are_proportions_only():
    assert all(map(is_percent_metric, ["recall@1", "recall@3", "recall@10", "mrr", "map", "auroc"]))
    assert not any(map(is_percent_metric, ["nmi", "ari", "spearman", "pearson"]))


def small_problem():
    rng = np.random.default_rng(0)
    train_y, test_y = np.arange(12) % 2, np.arange(6) % 2
    return rng.normal(size=(12, 3)), train_y, rng.normal(size=(6, 3)), test_y


BAD_CASES = {
    "nan_train": (lambda p: (np.where(np.arange(12)[:, None] < 2, np.nan, p[0]),) + p[1:],
                  r"train embeddings contain NaN or Inf in 2 of 12 rows"),
    "nan_test": (lambda p: (p[0], p[1], np.where(np.arange(6)[:, None] == 4, np.nan, p[2]),
                            p[3]), r"test embeddings contain NaN or Inf in 1 of 6 rows"),
    "short_train_labels": (lambda p: (p[0], p[1][:-1], p[2], p[3]),
                           r"train labels has length 11 but train embeddings has 12 rows"),
    "long_test_labels": (lambda p: (p[0], p[1], p[2], np.arange(7) % 2),
                         r"test labels has length 7 but test embeddings has 6 rows"),
    "one_class": (lambda p: (p[0], np.zeros(12, dtype=int), p[2], p[3]),
                  r"only 1 distinct class \[0\].*at least 2 classes"),
    "dim_mismatch": (lambda p: (p[0], p[1], p[2][:, :2], p[3]), r"dim 3 but test .* dim 2"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
@pytest.mark.parametrize("name", sorted(NEW_EVALUATORS))
def test_new_evaluators_reject_bad_input(name, case):
    make, message = BAD_CASES[case]
    with pytest.raises(ValueError, match=message):
        NEW_EVALUATORS[name](*make(small_problem()))


@pytest.mark.parametrize("name", sorted(NEW_EVALUATORS))
def test_new_evaluators_accept_numpy_and_torch_alike(name):
    train_x, train_y, test_x, test_y = small_problem()
    settings = {"anomaly": {"k": 2}, "label_fraction": {"classifier": "knn", "k": 3}}.get(name, {})
    as_numpy = NEW_EVALUATORS[name](train_x, train_y, test_x, test_y, **settings)
    as_torch = NEW_EVALUATORS[name](*map(torch.tensor, (train_x, train_y, test_x, test_y)),
                                    **settings)
    as_numpy = as_numpy if isinstance(as_numpy, list) else [as_numpy]
    as_torch = as_torch if isinstance(as_torch, list) else [as_torch]
    assert [r.to_dict() for r in as_numpy] == [r.to_dict() for r in as_torch]
    for result in as_numpy:
        assert result.split == "test" and "num_test" in result.settings
        assert "num_train" in result.settings or "num_labelled" in result.settings
