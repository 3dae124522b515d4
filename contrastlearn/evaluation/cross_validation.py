"""k-fold cross-validated linear SVM accuracy, the graph-classification protocol of InfoGraph
(Sun et al. 2020, arXiv 1908.01000) and GraphCL (You et al. 2020, arXiv 2010.13902) on the TU
benchmarks: the whole labelled set is embedded once, then an SVM is scored by 10-fold
cross-validation, C chosen from {10^-3, ..., 10^3} on each training fold.

Protocol:

1. Outer split: scikit-learn's ``StratifiedKFold(folds, shuffle=True, random_state=seed)``
   over all samples; every sample is tested exactly once.
2. On each training fold: features are standardised (``StandardScaler`` fit on that fold
   only; raw graph features have very different scales), and C of a ``LinearSVC`` (squared
   hinge, L2 penalty, one-vs-rest) is chosen from `c_grid` by a ``GridSearchCV`` with
   stratified `inner_folds`-fold CV (fewer when the fold's smallest class is smaller; ties go
   to the smaller C), then refit on the whole training fold.
3. Accuracy on the held-out fold; the Result is the mean over the folds with the sample std
   (ddof=1) over the folds, as the papers report mean ± std.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.validation import check_train_embeddings

SVM_C_GRID: tuple[float, ...] = tuple(10.0**power for power in range(-3, 4))
"""InfoGraph's and GraphCL's C grid: 10^-3 ... 10^3."""


def svm_cross_validation(
    embeddings: Any, labels: Any, *, folds: int = 10, c_grid: Sequence[float] = SVM_C_GRID,
    inner_folds: int = 5, seed: int = 0, max_iter: int = 10_000, split: str = "test",
) -> Result:
    """Mean top-1 accuracy (± std over folds) of a linear SVM under `folds`-fold stratified
    cross-validation with C chosen by inner CV on each training fold (module docstring).

    Protocol "svm_cross_validation", metric "top1". `settings` holds folds, inner_folds,
    c_grid, C_per_fold, values_per_fold, the classifier, standardize, seed, std_ddof, the
    problem size and `not_converged` (LinearSVC fits that hit `max_iter`). Raises ValueError
    for fewer than 2 classes, folds < 2, a class with fewer samples than `folds`, or a training
    fold with a class of a single sample (no inner CV possible).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    c_grid = sorted(float(c) for c in c_grid)
    if not c_grid or not all(c > 0 for c in c_grid):
        raise ValueError(f"c_grid must be non-empty and every C > 0, got {c_grid}")
    if int(folds) < 2 or int(inner_folds) < 2:
        raise ValueError(f"folds and inner_folds must be >= 2, got {folds} and {inner_folds}")
    x, y = check_train_embeddings(embeddings, labels, device="cpu")
    x, y = x.numpy().astype(np.float64), y.numpy()
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < folds:
        raise ValueError(
            f"class {classes[counts.argmin()]} has only {counts.min()} samples, fewer than the "
            f"{folds} folds of the cross-validation; use folds <= {counts.min()} or drop the "
            f"rare class")
    outer = StratifiedKFold(n_splits=int(folds), shuffle=True, random_state=int(seed))
    accuracies, chosen, not_converged = [], [], 0
    for train, test in outer.split(x, y):
        smallest = int(np.unique(y[train], return_counts=True)[1].min())
        if smallest < 2:
            raise ValueError(f"a training fold holds a single sample of some class, too few to "
                             f"choose C by inner cross-validation; use fewer folds than {folds}")
        model = make_pipeline(StandardScaler(), LinearSVC(max_iter=int(max_iter)))
        search = GridSearchCV(
            model, {"linearsvc__C": c_grid}, scoring="accuracy",
            cv=StratifiedKFold(n_splits=min(int(inner_folds), smallest)))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            search.fit(x[train], y[train])
        not_converged += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
        accuracies.append(float(np.mean(search.predict(x[test]) == y[test])))
        chosen.append(float(search.best_params_["linearsvc__C"]))
    mean = sum(accuracies) / len(accuracies)
    std = math.sqrt(sum((value - mean) ** 2 for value in accuracies) / (len(accuracies) - 1))
    return Result(
        protocol="svm_cross_validation", metric="top1", value=mean, split=split, std=std,
        settings={
            "folds": int(folds), "inner_folds": int(inner_folds), "c_grid": c_grid,
            "C_per_fold": chosen, "values_per_fold": accuracies, "std_ddof": 1,
            "std_over": "folds", "classifier": "LinearSVC (squared hinge, l2, one-vs-rest)",
            "standardize": True, "seed": int(seed), "max_iter": int(max_iter),
            "not_converged": not_converged, "num_samples": int(len(y)),
            "num_classes": int(len(classes)), "dim": int(x.shape[1]),
        },
    )
