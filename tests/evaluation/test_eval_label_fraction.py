import math

import numpy as np
import pytest
import torch

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation import (
    knn_classifier,
    label_fraction_curve,
    retrieval,
    sample_label_fraction,
)
from contrastlearn.evaluation.label_fraction import labelled_per_class
from tests.evaluation.problems import noisy_problem as _noisy_problem


def noisy_problem(seed=0, num_train=300, num_test=120, dim=6, num_classes=3):
    return _noisy_problem(seed, num_train, num_test, dim, num_classes)


@pytest.mark.parametrize(("fraction", "expected"), [
    (0.1, [10, 3, 1]),   # 10, 3, 0.7 -> 1
    (0.05, [5, 2, 1]),   # 1.5 rounds half up to 2; 0.35 -> at least 1
    (0.01, [1, 1, 1]),
    (0.5, [50, 15, 4]),  # 3.5 -> 4
    (1.0, [100, 30, 7]),
])
def test_subset_sizes_per_class(fraction, expected):
    labels = torch.tensor([4] * 100 + [0] * 30 + [9] * 7)[torch.randperm(137)]
    subset = sample_label_fraction(labels, fraction, seed=0)
    assert subset.unique().numel() == subset.numel()
    counts = [int((labels[subset] == c).sum()) for c in (4, 0, 9)]
    assert counts == expected
    assert [labelled_per_class(n, fraction) for n in (100, 30, 7)] == expected


def test_sampling_is_reproducible_and_seed_dependent():
    labels = torch.arange(200) % 4
    first = sample_label_fraction(labels, 0.1, seed=3)
    assert torch.equal(first, sample_label_fraction(labels, 0.1, seed=3))
    assert not torch.equal(first, sample_label_fraction(labels, 0.1, seed=4))


def test_mean_std_and_settings_match_manual_computation():
    train_x, train_y, test_x, test_y = noisy_problem()
    seeds = (0, 1, 2)
    results = label_fraction_curve(train_x, train_y, test_x, test_y, fractions=(0.05, 0.2, 1.0),
                                   seeds=seeds, classifier="knn", k=5)
    assert [r.settings["fraction"] for r in results] == [0.05, 0.2, 1.0]
    labels = torch.tensor(train_y)
    for result, fraction in zip(results[:2], (0.05, 0.2)):
        values = []
        for seed in seeds:
            subset = sample_label_fraction(labels, fraction, seed).numpy()
            values.append(knn_classifier(train_x[subset], train_y[subset], test_x, test_y,
                                         k=5).value)
        assert result.settings["values_per_seed"] == values
        assert result.value == pytest.approx(np.mean(values), abs=1e-12)
        assert result.std == pytest.approx(np.std(values, ddof=1), abs=1e-12)
        assert result.num_seeds == 3 and result.settings["seeds"] == [0, 1, 2]
        assert result.settings["num_labelled"] == len(subset) == result.settings["num_train"]
        assert result.settings["all_labels"] is False
    full = results[2]
    assert full.value == knn_classifier(train_x, train_y, test_x, test_y, k=5).value
    assert (full.num_seeds, full.std, full.settings["seeds"]) == (1, 0.0, [0])
    assert full.settings["all_labels"] is True and full.settings["num_labelled"] == 300
    assert full.protocol == "label_fraction_knn" and full.metric == "top1"
    assert full.settings["k"] == 5 and full.settings["classifier"] == "knn"
    assert full.settings["num_train_total"] == 300


def test_settings_that_vary_by_seed_are_kept_per_seed():
    train_x, train_y, test_x, test_y = noisy_problem()
    (result,) = label_fraction_curve(train_x, train_y, test_x, test_y, fractions=(0.3,),
                                     seeds=(0, 1), classifier="linear_probe", max_iter=30)
    assert "num_iterations" not in result.settings
    assert len(result.settings["num_iterations_per_seed"]) == 2
    assert result.settings["max_iter"] == 30 and result.protocol == "label_fraction_linear_probe"


def test_classifiers_returning_several_metrics_give_one_result_per_metric():
    train_x, train_y, test_x, test_y = noisy_problem()
    results = label_fraction_curve(train_x, train_y, test_x, test_y, fractions=(0.5, 1.0),
                                   seeds=(0, 1), classifier="retrieval", ks=(1, 5))
    assert [(r.settings["fraction"], r.metric) for r in results] == [
        (fraction, metric) for fraction in (0.5, 1.0)
        for metric in ("recall@1", "recall@5", "mrr", "map")
    ]
    full = retrieval(train_x, train_y, test_x, test_y, ks=(1, 5))
    assert [r.value for r in results[4:]] == [r.value for r in full]


@pytest.mark.parametrize("fractions", [(0.0,), (1.5,), (-0.1,), (math.nan,), (True,), ()])
def test_bad_fractions(fractions):
    train_x, train_y, test_x, test_y = noisy_problem()
    with pytest.raises(ValueError, match="fraction"):
        label_fraction_curve(train_x, train_y, test_x, test_y, fractions=fractions)


def test_bad_settings():
    train_x, train_y, test_x, test_y = noisy_problem()
    assert EVALUATORS.get("label_fraction") is label_fraction_curve
    with pytest.raises(ValueError, match="distinct"):
        label_fraction_curve(train_x, train_y, test_x, test_y, fractions=(0.1, 0.1))
    with pytest.raises(ValueError, match="seeds must be distinct"):
        label_fraction_curve(train_x, train_y, test_x, test_y, seeds=(1, 1))
    with pytest.raises(ValueError, match="cannot be 'few_label'"):
        label_fraction_curve(train_x, train_y, test_x, test_y, classifier="few_label")
    with pytest.raises(KeyError, match="unknown evaluator"):
        label_fraction_curve(train_x, train_y, test_x, test_y, classifier="nope")
