import numpy as np
import pytest
import torch

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation import (
    few_label,
    knn_classifier,
    linear_probe,
    sample_labels_per_class,
)
from tests.evaluation.problems import noisy_problem


def test_sampling_draws_exactly_n_per_class_reproducibly():
    labels = torch.tensor([5] * 20 + [1] * 7 + [9] * 11)
    subset = sample_labels_per_class(labels, 4, seed=3)
    assert subset.numel() == 12 and subset.unique().numel() == 12
    assert sorted(torch.bincount(labels[subset]).tolist()[1::4]) == [4, 4, 4]
    assert torch.equal(subset, sample_labels_per_class(labels, 4, seed=3))
    assert not torch.equal(subset, sample_labels_per_class(labels, 4, seed=4))


@pytest.mark.parametrize(("classifier", "settings"),
                         [("linear_probe", {"max_iter": 50}), ("knn", {"k": 5})])
def test_mean_and_std_match_manual_computation(classifier, settings):
    train_x, train_y, test_x, test_y = noisy_problem()
    seeds = (0, 1, 2, 3)
    result = few_label(train_x, train_y, test_x, test_y, labels_per_class=5, seeds=seeds,
                       classifier=classifier, **settings)

    evaluate = {"linear_probe": linear_probe, "knn": knn_classifier}[classifier]
    manual = []
    for seed in seeds:
        subset = sample_labels_per_class(torch.as_tensor(train_y), 5, seed).numpy()
        manual.append(evaluate(train_x[subset], train_y[subset], test_x, test_y,
                               **settings).value)
    assert result.settings["values_per_seed"] == pytest.approx(manual)
    assert result.value == pytest.approx(np.mean(manual))
    assert result.std == pytest.approx(np.std(manual, ddof=1))
    assert len(set(manual)) > 1, "different seeds should draw different labelled subsets"
    assert result.num_seeds == 4
    assert result.protocol == f"few_label_{classifier}"
    assert result.settings["labels_per_class"] == 5
    assert result.settings["seeds"] == [0, 1, 2, 3]
    assert result.settings["num_train"] == 15 and result.settings["num_train_total"] == 300
    for key, value in settings.items():
        assert result.settings[key] == value
    assert "4 seeds" in str(result)


def test_single_seed_has_zero_std():
    result = few_label(*noisy_problem(), labels_per_class=3, seeds=(7,), classifier="knn")
    assert result.std == 0.0 and result.num_seeds == 1
    assert result.settings["effective_k"] == 9  # k=200 clipped to 3 labels x 3 classes


def test_class_with_too_few_samples_is_named():
    train_x, train_y, test_x, test_y = noisy_problem()
    train_y = train_y.copy()
    train_y[:4] = 42  # class 42 has only 4 samples
    with pytest.raises(ValueError, match=r"labels_per_class=5 .*class 42 has 4"):
        few_label(train_x, train_y, test_x, test_y, labels_per_class=5)


def test_bad_settings():
    problem = noisy_problem()
    with pytest.raises(ValueError, match="at least one seed"):
        few_label(*problem, seeds=())
    with pytest.raises(ValueError, match="labels_per_class must be >= 1"):
        few_label(*problem, labels_per_class=0)
    with pytest.raises(KeyError, match="unknown evaluator"):
        few_label(*problem, classifier="svm_nope")


def test_registered():
    assert EVALUATORS.get("few_label") is few_label
