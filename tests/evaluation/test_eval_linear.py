import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation import fit_linear_probe, linear_probe


@pytest.fixture(scope="module")
def digits_split():
    features, labels = load_digits(return_X_y=True)
    return train_test_split(features, labels, test_size=0.3, stratify=labels, random_state=0)


def test_digits_accuracy_and_agreement_with_sklearn(digits_split):
    train_x, test_x, train_y, test_y = digits_split
    result = linear_probe(train_x, train_y, test_x, test_y)
    assert result.value > 0.93

    # Same objective in scikit-learn: C = 1 / (weight_decay * num_train).
    scaler = StandardScaler().fit(train_x)
    reference = LogisticRegression(C=1.0 / (1e-4 * len(train_x)), max_iter=5000)
    reference.fit(scaler.transform(train_x), train_y)
    sklearn_accuracy = reference.score(scaler.transform(test_x), test_y)
    assert abs(result.value - sklearn_accuracy) <= 0.02


def test_settings_are_recorded(digits_split):
    train_x, test_x, train_y, test_y = digits_split
    result = linear_probe(train_x, train_y, test_x, test_y, weight_decay=1e-3, max_iter=50)
    assert (result.protocol, result.metric, result.split) == ("linear_probe", "top1", "test")
    settings = result.settings
    assert settings["weight_decay"] == 1e-3 and settings["max_iter"] == 50
    assert settings["standardize"] is True
    assert settings["num_train"] == len(train_x) and settings["num_test"] == len(test_x)
    assert settings["dim"] == 64 and settings["num_classes"] == 10
    assert 1 <= settings["num_iterations"] <= 50
    assert EVALUATORS.get("linear_probe") is linear_probe


def test_separable_toy_data_is_perfect():
    rng = np.random.default_rng(0)
    train_y = rng.integers(0, 3, size=90)
    test_y = rng.integers(0, 3, size=30)
    centers = 5.0 * np.eye(3)
    train_x = centers[train_y] + rng.normal(scale=0.3, size=(90, 3))
    test_x = centers[test_y] + rng.normal(scale=0.3, size=(30, 3))
    assert linear_probe(train_x, train_y, test_x, test_y).value == 1.0
    assert linear_probe(train_x, train_y, test_x, test_y, standardize=False).value == 1.0


def test_predict_keeps_label_values_and_handles_inference_tensors():
    rng = np.random.default_rng(1)
    labels = np.array([10, -4, 7])
    index = rng.integers(0, 3, size=60)
    with torch.inference_mode():
        features = torch.tensor(4.0 * np.eye(3)[index] + rng.normal(scale=0.2, size=(60, 3)),
                                dtype=torch.float32)
    classifier = fit_linear_probe(features, labels[index], standardize=False)
    np.testing.assert_array_equal(classifier.predict(features).numpy(), labels[index])
    assert classifier.classes.tolist() == [-4, 7, 10]


def test_is_deterministic(digits_split):
    train_x, test_x, train_y, test_y = digits_split
    first = linear_probe(train_x[:300], train_y[:300], test_x, test_y, max_iter=30)
    second = linear_probe(train_x[:300], train_y[:300], test_x, test_y, max_iter=30)
    assert first.value == second.value
