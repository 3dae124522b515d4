import numpy as np
import pytest
import torch

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation import knn_classifier, knn_predict


def reference_knn_predict(train_x, train_y, test_x, k, temperature):
    """Naive, independent implementation: loop over test rows, float64, dict of votes."""
    train_unit = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
    classes = sorted(set(train_y.tolist()))
    predictions = []
    for row in test_x:
        similarity = train_unit @ (row / np.linalg.norm(row))
        nearest = np.argsort(-similarity, kind="stable")[:k]
        votes = dict.fromkeys(classes, 0.0)
        for index in nearest:
            votes[int(train_y[index])] += float(np.exp(similarity[index] / temperature))
        best = max(votes.values())
        predictions.append(min(c for c in classes if votes[c] == best))
    return np.array(predictions)


def random_problem(seed=0, num_train=150, num_test=80, dim=8, num_classes=5):
    rng = np.random.default_rng(seed)
    train_x = rng.normal(size=(num_train, dim))
    test_x = rng.normal(size=(num_test, dim))
    train_y = rng.integers(0, num_classes, size=num_train)
    test_y = rng.integers(0, num_classes, size=num_test)
    return train_x, train_y, test_x, test_y


@pytest.mark.parametrize(("k", "temperature"), [(1, 0.07), (10, 0.07), (20, 0.5), (149, 0.1)])
def test_matches_naive_reference(k, temperature):
    train_x, train_y, test_x, test_y = random_problem()
    expected = reference_knn_predict(train_x, train_y, test_x, k, temperature)
    predicted = knn_predict(train_x, train_y, test_x, k=k, temperature=temperature).numpy()
    np.testing.assert_array_equal(predicted, expected)
    result = knn_classifier(train_x, train_y, test_x, test_y, k=k, temperature=temperature)
    assert result.value == pytest.approx(np.mean(expected == test_y), abs=0)
    # Predictions do not depend on how test rows are chunked.
    chunked = knn_predict(train_x, train_y, test_x, k=k, temperature=temperature, chunk_size=7)
    np.testing.assert_array_equal(chunked.numpy(), expected)


def test_k_larger_than_train_is_clipped_and_recorded():
    train_x, train_y, test_x, test_y = random_problem(num_train=30)
    result = knn_classifier(train_x, train_y, test_x, test_y, k=200)
    assert result.settings["k"] == 200 and result.settings["effective_k"] == 30
    expected = reference_knn_predict(train_x, train_y, test_x, 30, 0.07)
    assert result.value == pytest.approx(np.mean(expected == test_y), abs=0)


def test_separable_data_is_perfect_and_labels_keep_their_values():
    rng = np.random.default_rng(1)
    centers = 10.0 * np.eye(4)
    labels = np.array([3, 7, 100, -2])
    train_index = rng.integers(0, 4, size=100)
    test_index = rng.integers(0, 4, size=40)
    train_x = centers[train_index] + rng.normal(scale=0.1, size=(100, 4))
    test_x = centers[test_index] + rng.normal(scale=0.1, size=(40, 4))
    result = knn_classifier(torch.tensor(train_x), torch.tensor(labels[train_index]),
                            test_x, labels[test_index], k=5)
    assert result.value == 1.0
    predicted = knn_predict(train_x, labels[train_index], test_x, k=5)
    np.testing.assert_array_equal(predicted.numpy(), labels[test_index])


def test_result_protocol_and_settings():
    train_x, train_y, test_x, test_y = random_problem()
    result = knn_classifier(train_x, train_y, test_x, test_y)
    assert (result.protocol, result.metric, result.split) == ("knn", "top1", "test")
    assert result.settings["temperature"] == 0.07 and result.settings["k"] == 200
    assert result.settings["num_train"] == 150 and result.settings["num_test"] == 80
    assert result.settings["dim"] == 8 and result.settings["num_classes"] == 5
    assert EVALUATORS.get("knn") is knn_classifier


def test_unseen_test_classes_count_as_errors():
    rng = np.random.default_rng(2)
    train_x = np.repeat(np.eye(2), 10, axis=0) + rng.normal(scale=0.01, size=(20, 2))
    train_y = np.repeat([0, 1], 10)
    test_x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    result = knn_classifier(train_x, train_y, test_x, np.array([0, 1, 5, 6]), k=3)
    assert result.value == 0.5
