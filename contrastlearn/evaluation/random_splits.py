"""Classification on random train/test splits of one labelled set, the node-classification
protocol of GRACE (Zhu et al. 2020, "Deep Graph Contrastive Representation Learning", arXiv
2006.04131) and GCA (Zhu et al. 2021, arXiv 2010.14945): the encoder embeds every node once,
then an L2-regularised logistic regression on the L2-normalised embeddings is fit on a random
part of the labelled nodes and scored on the rest, repeated over seeds.

Protocol, for every train fraction (default 1%, 10%, 80%) and every seed (default 0..9):

1. Train split: a stratified random `fraction` of the labelled samples, ``round(fraction *
   count_c)`` of class c rounding half up and at least one (`sample_label_fraction`, drawn from
   the seed). Test split: **all the other samples** (no separate validation split is carved
   out of them; C is chosen inside the train split, step 3).
2. Embeddings are L2-normalised per row (as GRACE does; `normalize=False` keeps them raw);
   no further standardisation.
3. C of an L2 multinomial logistic regression (scikit-learn's objective, fit by torch's
   full-batch L-BFGS: `softmax_regression`) is chosen from `c_grid` by stratified k-fold
   cross-validation on the train split only (k =
   `inner_folds`, fewer when the smallest train class is smaller, shuffled with the seed; at
   most `max_search_samples` train samples, a stratified subsample, take part in the search;
   ties go to the smaller C). When some class has a single train sample no fold can hold it
   out, so C stays `default_c` and `c_search` is False for that seed.
4. The classifier with the chosen C is refit on the whole train split and its top-1 accuracy
   (which equals micro-F1, GRACE's metric, for single-label classes) is measured on the test
   split.

The fractions are reported as mean and sample standard deviation (ddof=1) over the seeds. A
fraction whose train split exceeds `large_train` samples (80 % of a 100k-node graph) runs on
the first `large_seeds` seeds only: each of its fits takes a minute on 2 CPU cores, and its
spread over seeds is tiny; `num_seeds` and `seeds` in the Result say how many ran.
Test labels may hold classes the train split lacks only when a class has one sample in total;
such test samples count as errors.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlearn.evaluation.label_fraction import sample_label_fraction
from contrastlearn.evaluation.result import Result, merge_settings
from contrastlearn.evaluation.validation import check_train_embeddings

NODE_FRACTIONS: tuple[float, ...] = (0.01, 0.1, 0.8)
"""GRACE's and GCA's train fractions (their 10% is the usual one; 1% and 80% bracket it)."""
LOGISTIC_C_GRID: tuple[float, ...] = tuple(10.0**power for power in range(-2, 4))
"""C in 10^-2 ... 10^3: on unit-norm embeddings smaller C underfits every split size."""


def fraction_name(fraction: float) -> str:
    """A train fraction as the percentage in a protocol name: 0.01 -> "1", 0.005 -> "0.5"."""
    return f"{100.0 * fraction:.6g}"


def _check_fractions(fractions: Iterable[float]) -> list[float]:
    checked = []
    for fraction in fractions:
        value = float(fraction)
        if not 0.0 < value < 1.0:
            raise ValueError(f"train fractions must lie strictly between 0 and 1 (the rest is "
                             f"the test split), got {fraction!r}; write 1% as 0.01")
        checked.append(value)
    if not checked or len(set(checked)) != len(checked):
        raise ValueError(f"fractions must be one or more distinct values, got {checked}")
    return checked


def _check_seeds(seeds: Iterable[int]) -> list[int]:
    checked = [int(seed) for seed in seeds]
    if not checked or len(set(checked)) != len(checked):
        raise ValueError(f"seeds must be one or more distinct integers, got {checked}")
    return checked


def softmax_regression(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, *,
                       C: float, max_iter: int = 200) -> tuple[float, int]:
    """(test top-1 accuracy, L-BFGS iterations) of an L2-regularised multinomial logistic
    regression fit with torch's full-batch L-BFGS (strong Wolfe line search) on the minimum of
    scikit-learn's objective ``C * sum(cross_entropy) + ||W||^2 / 2`` (bias not penalised),
    written as ``mean(cross_entropy) + ||W||^2 / (2 C n)``. The same model as scikit-learn's
    lbfgs `LogisticRegression`, in float64 and in a fraction of its time on 100k-node graphs
    (one matrix product per iteration, no per-class Python work). Test labels whose class
    never occurs in train count as errors."""
    classes, train_codes = torch.unique(train_y, return_inverse=True)
    features = train_x.double()
    weight = torch.zeros(features.shape[1], len(classes), dtype=torch.float64,
                         requires_grad=True)
    bias = torch.zeros(len(classes), dtype=torch.float64, requires_grad=True)
    penalty = 1.0 / (2.0 * float(C) * len(train_y))
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=int(max_iter),
                                  tolerance_grad=1e-6, tolerance_change=1e-9,
                                  history_size=20, line_search_fn="strong_wolfe")

    def objective() -> Tensor:
        optimizer.zero_grad()
        loss = (F.cross_entropy(features @ weight + bias, train_codes)
                + penalty * weight.square().sum())
        loss.backward()
        return loss

    optimizer.step(objective)
    iterations = int(optimizer.state[optimizer._params[0]].get("n_iter", 0))
    with torch.no_grad():
        predicted = classes[(test_x.double() @ weight + bias).argmax(dim=1)]
    return float((predicted == test_y).double().mean()), iterations


def _search_c(train_x: Tensor, train_y: Tensor, *, c_grid: Sequence[float], inner_folds: int,
              max_search_samples: int, seed: int) -> dict[str, Any]:
    """Step 3 of the protocol: the chosen C and how it was chosen."""
    from sklearn.model_selection import StratifiedKFold

    if len(train_y) > max_search_samples:
        subset = sample_label_fraction(train_y, max_search_samples / len(train_y), seed)
        train_x, train_y = train_x[subset], train_y[subset]
    smallest = int(torch.unique(train_y, return_counts=True)[1].min())
    folds = min(inner_folds, smallest)
    if folds < 2:
        return {"c_search": False, "inner_folds": None, "num_search_samples": len(train_y)}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    parts = list(splitter.split(train_x.numpy(), train_y.numpy()))
    scores = []
    for c in c_grid:
        accuracies = [softmax_regression(train_x[fit], train_y[fit], train_x[held],
                                         train_y[held], C=c)[0]
                      for fit, held in parts]
        scores.append(sum(accuracies) / len(accuracies))
    best = max(range(len(c_grid)), key=lambda index: (scores[index], -index))
    return {"C": c_grid[best], "c_search": True, "inner_folds": folds,
            "num_search_samples": len(train_y)}


def node_classification(
    embeddings: Any, labels: Any, *, fractions: Sequence[float] = NODE_FRACTIONS,
    seeds: Iterable[int] = range(10), c_grid: Sequence[float] = LOGISTIC_C_GRID,
    inner_folds: int = 5, max_search_samples: int = 2000, default_c: float = 1.0,
    normalize: bool = True, large_train: int = 20_000, large_seeds: int = 3,
    split: str = "test",
) -> list[Result]:
    """One Result per train fraction: protocol ``"node_classification_<pct>"`` (e.g.
    ``node_classification_10``), metric "top1", the mean over seeds with its std (ddof=1).

    Works on any (N, D) embeddings with (N,) labels (nothing here is graph-specific); see the
    module docstring for the protocol. `settings` holds fraction, seeds, classifier, the
    split rule, c_grid, the chosen C (``C_per_seed`` when seeds differ), the search details,
    num_train / num_test, values_per_seed and std_ddof. Raises ValueError for fewer than 2
    classes, a fraction outside (0, 1), a fraction that leaves no test sample, repeated seeds
    or an empty / non-positive C grid.
    """
    fractions = _check_fractions(fractions)
    seeds = _check_seeds(seeds)
    c_grid = sorted(float(c) for c in c_grid)
    if not c_grid or not all(c > 0 for c in c_grid) or not default_c > 0:
        raise ValueError(f"c_grid must be non-empty and every C > 0, got {c_grid} "
                         f"(default_c={default_c})")
    if int(inner_folds) < 2 or int(max_search_samples) < 2:
        raise ValueError(f"inner_folds and max_search_samples must be >= 2, got {inner_folds} "
                         f"and {max_search_samples}")
    x, y = check_train_embeddings(embeddings, labels, device="cpu")
    if normalize:
        x = F.normalize(x, dim=1)
    results = []
    for fraction in fractions:
        values, per_seed = [], []
        fraction_seeds = seeds if fraction * len(y) <= large_train else seeds[:large_seeds]
        for seed in fraction_seeds:
            train = sample_label_fraction(y, fraction, seed)
            test = torch.ones(len(y), dtype=torch.bool)
            test[train] = False
            if not bool(test.any()):
                raise ValueError(f"train fraction {fraction} takes every one of the {len(y)} "
                                 f"samples (at least one per class), leaving no test samples; "
                                 f"use a smaller fraction or more labelled samples")
            search = _search_c(x[train], y[train], c_grid=c_grid, inner_folds=int(inner_folds),
                               max_search_samples=int(max_search_samples), seed=seed)
            chosen = search.pop("C", float(default_c))
            accuracy, iterations = softmax_regression(x[train], y[train], x[test], y[test],
                                                      C=chosen)
            values.append(accuracy)
            per_seed.append({"C": chosen, **search, "num_iterations": iterations})
        mean = sum(values) / len(values)
        std = (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
               if len(values) > 1 else 0.0)
        results.append(Result(
            protocol=f"node_classification_{fraction_name(fraction)}", metric="top1",
            value=mean, split=split, std=std, num_seeds=len(fraction_seeds),
            settings={
                "protocol": "random_splits", "fraction": fraction, "seeds": fraction_seeds,
                "classifier": "logistic_regression", "solver": "torch lbfgs (float64)",
                "penalty": "l2",
                "normalize": "l2" if normalize else "none",
                "split_rule": "stratified random train fraction (at least 1 per class), "
                              "every other sample is test",
                "c_selection": "stratified k-fold CV on the train split",
                "c_grid": c_grid, **merge_settings(per_seed),
                "num_train": int(len(train)), "num_test": int(len(y) - len(train)),
                "num_classes": int(torch.unique(y).numel()),
                "values_per_seed": values, "std_ddof": 1,
            },
        ))
    return results
