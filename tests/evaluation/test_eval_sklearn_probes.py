import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation import logistic_regression, svm
from contrastlearn.evaluation.sklearn_probes import TS2VEC_C_GRID


def blobs(seed=0, num_train=60, num_test=30, dim=5, num_classes=3, scale=0.3, spread=4.0):
    rng = np.random.default_rng(seed)
    centers = spread * rng.normal(size=(num_classes, dim))
    train_y = np.arange(num_train) % num_classes
    test_y = rng.integers(0, num_classes, size=num_test)
    train_x = centers[train_y] + rng.normal(scale=scale, size=(num_train, dim))
    test_x = centers[test_y] + rng.normal(scale=scale, size=(num_test, dim))
    return train_x, train_y, test_x, test_y


def test_registered():
    assert EVALUATORS.get("logistic_regression") is logistic_regression
    assert EVALUATORS.get("svm") is svm


def test_ts2vec_grid():
    assert TS2VEC_C_GRID[:9] == pytest.approx([1e-4, 1e-3, 1e-2, 0.1, 1, 10, 100, 1e3, 1e4])
    assert TS2VEC_C_GRID[-1] == math.inf


def test_logistic_regression_separable_and_settings():
    train_x, train_y, test_x, test_y = blobs()
    result = logistic_regression(torch.tensor(train_x), torch.tensor(train_y), test_x, test_y,
                                 C=0.5)
    assert (result.protocol, result.metric, result.value) == ("logistic_regression", "top1", 1.0)
    settings = result.settings
    assert settings["C"] == 0.5 and settings["max_iter"] == 1000
    assert settings["standardize"] is True and settings["solver"] == "lbfgs"
    assert (settings["num_train"], settings["num_test"], settings["num_classes"]) == (60, 30, 3)


def test_logistic_regression_matches_hand_standardised_sklearn():
    train_x, train_y, test_x, test_y = blobs(seed=1, scale=3.0, spread=1.0)
    mean, std = train_x.mean(axis=0), train_x.std(axis=0)
    reference = LogisticRegression(C=1.0, max_iter=1000).fit((train_x - mean) / std, train_y)
    expected = np.mean(reference.predict((test_x - mean) / std) == test_y)
    assert 0.3 < expected < 1.0  # a noisy problem, so agreement is informative
    result = logistic_regression(train_x, train_y, test_x, test_y)
    assert result.value == pytest.approx(expected, abs=1e-12)


def reference_best_c(train_x, train_y, grid, folds=5):
    """First C with the highest mean accuracy over unshuffled stratified folds (naive loop)."""
    best_c, best_score = None, -1.0
    for c in grid:
        scores = []
        for fit, held in StratifiedKFold(n_splits=folds).split(train_x, train_y):
            model = SVC(C=c, gamma="scale").fit(train_x[fit], train_y[fit])
            scores.append(np.mean(model.predict(train_x[held]) == train_y[held]))
        if np.mean(scores) > best_score + 1e-12:
            best_c, best_score = c, float(np.mean(scores))
    return best_c


def test_svm_grid_search_records_chosen_c():
    train_x, train_y, test_x, test_y = blobs(seed=2, scale=2.0, spread=1.5)
    result = svm(train_x, train_y, test_x, test_y)
    assert (result.protocol, result.metric) == ("svm", "top1")
    settings = result.settings
    assert settings["grid_search"] is True and settings["refit_on"] == "train"
    assert settings["C"] == reference_best_c(train_x, train_y, TS2VEC_C_GRID)
    model = SVC(C=settings["C"], gamma="scale").fit(train_x, train_y)
    assert result.value == pytest.approx(np.mean(model.predict(test_x) == test_y), abs=1e-12)
    assert settings["num_fit_samples"] == 60 and settings["cv_folds"] == 5


def test_svm_separable_is_perfect():
    train_x, train_y, test_x, test_y = blobs(seed=3)
    assert svm(train_x, train_y, test_x, test_y).value == 1.0


def test_svm_without_enough_samples_per_class_fits_hard_margin():
    train_x, train_y, test_x, test_y = blobs(seed=4, num_train=12)  # 4 per class < 5 folds
    result = svm(train_x, train_y, test_x, test_y)
    assert result.settings["grid_search"] is False and result.settings["C"] == math.inf
    assert result.value == 1.0
    # TS2Vec also skips the search below 50 train samples.
    train_x, train_y, test_x, test_y = blobs(seed=4, num_train=30)
    assert svm(train_x, train_y, test_x, test_y).settings["grid_search"] is False


def test_svm_large_train_searches_and_refits_on_a_stratified_subsample():
    train_x, train_y, test_x, test_y = blobs(seed=5, num_train=90)
    result = svm(train_x, train_y, test_x, test_y, max_search_samples=60, min_search_samples=10)
    settings = result.settings
    assert settings["grid_search"] is True and settings["refit_on"] == "search_subsample"
    assert settings["num_fit_samples"] == 60 and settings["num_train"] == 90
    assert result.value == 1.0


def test_bad_settings():
    train_x, train_y, test_x, test_y = blobs()
    with pytest.raises(ValueError, match="C must be > 0"):
        logistic_regression(train_x, train_y, test_x, test_y, C=0.0)
    with pytest.raises(ValueError, match="c_grid"):
        svm(train_x, train_y, test_x, test_y, c_grid=[1.0, -1.0])
    with pytest.raises(ValueError, match="cv_folds"):
        svm(train_x, train_y, test_x, test_y, cv_folds=1)
