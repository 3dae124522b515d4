import numpy as np
import pytest
import torch

from contrastlearn.evaluation import check_embeddings, few_label, knn_classifier, linear_probe

EVALUATORS = [linear_probe, knn_classifier, few_label]


def problem(num_train=12, num_test=6, dim=3):
    rng = np.random.default_rng(0)
    train_y = np.arange(num_train) % 2
    test_y = np.arange(num_test) % 2
    return rng.normal(size=(num_train, dim)), train_y, rng.normal(size=(num_test, dim)), test_y


def test_converts_to_float32_and_int64():
    train_x, train_y, test_x, test_y = problem()
    out = check_embeddings(train_x, train_y.astype(np.int32), torch.tensor(test_x),
                           test_y.astype(np.float64))
    assert [t.dtype for t in out] == [torch.float32, torch.int64, torch.float32, torch.int64]
    assert all(isinstance(t, torch.Tensor) for t in out)


def test_unseen_test_classes_are_allowed():
    train_x, train_y, test_x, _ = problem()
    check_embeddings(train_x, train_y, test_x, np.array([0, 1, 2, 3, 4, 5]))


BAD_CASES = {
    "nan_train": (lambda p: (np.where(np.arange(12)[:, None] < 2, np.nan, p[0]),) + p[1:],
                  r"train embeddings contain NaN or Inf in 2 of 12 rows"),
    "inf_test": (lambda p: (p[0], p[1], np.where(np.arange(6)[:, None] == 4, np.inf, p[2]), p[3]),
                 r"test embeddings contain NaN or Inf in 1 of 6 rows"),
    "short_train_labels": (lambda p: (p[0], p[1][:-1], p[2], p[3]),
                           r"train labels has length 11 but train embeddings has 12 rows"),
    "long_test_labels": (lambda p: (p[0], p[1], p[2], np.arange(7) % 2),
                         r"test labels has length 7 but test embeddings has 6 rows"),
    "one_d_embeddings": (lambda p: (p[0][:, 0], p[1], p[2], p[3]), r"must be 2-D"),
    "three_d_embeddings": (lambda p: (p[0], p[1], p[2][:, :, None], p[3]), r"must be 2-D"),
    "two_d_labels": (lambda p: (p[0], p[1][:, None], p[2], p[3]), r"must be 1-D"),
    "empty_train": (lambda p: (p[0][:0], p[1][:0], p[2], p[3]), r"train embeddings is empty"),
    "empty_test": (lambda p: (p[0], p[1], p[2][:0], p[3][:0]), r"test embeddings is empty"),
    "zero_dim": (lambda p: (p[0][:, :0], p[1], p[2][:, :0], p[3]), r"is empty"),
    "one_class": (lambda p: (p[0], np.zeros(12, dtype=int), p[2], p[3]),
                  r"only 1 distinct class \[0\].*at least 2 classes"),
    "dim_mismatch": (lambda p: (p[0], p[1], p[2][:, :2], p[3]), r"dim 3 but test .* dim 2"),
    "string_labels": (lambda p: (p[0], p[1].astype(str), p[2], p[3]), r"must be numeric"),
    "fractional_labels": (lambda p: (p[0], p[1] + 0.5, p[2], p[3]), r"integer class ids"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_check_embeddings_rejects(case):
    make, message = BAD_CASES[case]
    with pytest.raises(ValueError, match=message):
        check_embeddings(*make(problem()))


@pytest.mark.parametrize("case", ["nan_train", "short_train_labels", "one_class",
                                  "three_d_embeddings", "empty_test", "dim_mismatch"])
@pytest.mark.parametrize("evaluate", EVALUATORS, ids=lambda f: f.__name__)
def test_every_evaluator_rejects_bad_input(case, evaluate):
    make, message = BAD_CASES[case]
    settings = {"labels_per_class": 2} if evaluate is few_label else {}
    with pytest.raises(ValueError, match=message):
        evaluate(*make(problem()), **settings)


def test_bad_settings():
    p = problem()
    with pytest.raises(ValueError, match="k must be >= 1"):
        knn_classifier(*p, k=0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        knn_classifier(*p, temperature=0.0)
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        linear_probe(*p, weight_decay=-1.0)
    with pytest.raises(ValueError, match="max_iter must be >= 1"):
        linear_probe(*p, max_iter=0)


def test_test_labels_may_be_omitted_for_prediction():
    train_x, train_y, test_x, _ = problem()
    *_, test_y = check_embeddings(train_x, train_y, test_x, None)
    assert test_y is None
