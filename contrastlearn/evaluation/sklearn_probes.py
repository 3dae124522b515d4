"""Frozen-feature classifiers from scikit-learn, for protocols that papers define in terms of
scikit-learn estimators, so that numbers are comparable with theirs.

- `logistic_regression`: ``LogisticRegression`` (L2, L-BFGS, at most 1000 iterations) on
  standardised features, the linear probe of CLIP (Radford et al. 2021, arXiv 2103.00020) and
  of Kornblith et al. 2019 ("Do Better ImageNet Models Transfer Better?", arXiv 1805.08974),
  with a fixed C instead of their validation sweep; the torch `linear_probe` is the faster
  equivalent for large sets.
- `svm`: the RBF-kernel SVM protocol of TS2Vec (Yue et al. 2022, "TS2Vec: Towards Universal
  Representation of Time Series", arXiv 2106.10466), used by most time-series contrastive
  papers on the UCR/UEA archives.

Both run on the CPU whatever `device` says (scikit-learn has no GPU path); `device` is accepted
only so that every evaluator shares one signature. scikit-learn is imported inside each
function: it takes about a second to import, which `import contrastlearn` should not pay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.validation import check_embeddings

# TS2Vec's grid: 10^-4 ... 10^4 and a hard margin (C = inf, which SVC accepts).
TS2VEC_C_GRID: tuple[float, ...] = tuple(10.0**power for power in range(-4, 5)) + (np.inf,)


def _to_numpy(
    train_embeddings: Any, train_labels: Any, test_embeddings: Any, test_labels: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate like every evaluator, then hand scikit-learn float64 / int64 numpy arrays."""
    train_x, train_y, test_x, test_y = check_embeddings(
        train_embeddings, train_labels, test_embeddings, test_labels, device="cpu"
    )
    return (
        train_x.numpy().astype(np.float64), train_y.numpy(),
        test_x.numpy().astype(np.float64), test_y.numpy(),
    )


def _problem_size(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> dict[str, int]:
    return {
        "num_train": int(train_x.shape[0]), "num_test": int(test_x.shape[0]),
        "dim": int(train_x.shape[1]), "num_classes": int(np.unique(train_y).size),
    }


@EVALUATORS.register("logistic_regression")
def logistic_regression(
    train_embeddings: Any, train_labels: Any, test_embeddings: Any, test_labels: Any, *,
    C: float = 1.0, max_iter: int = 1000, standardize: bool = True,
    device: torch.device | str | None = "cpu", split: str = "test",
) -> Result:
    """Top-1 accuracy of scikit-learn's L2 ``LogisticRegression`` (lbfgs, multinomial).

    Features are standardised with a ``StandardScaler`` fit on train only (when `standardize`).
    Test labels whose class never occurs in train count as errors. `settings` records C,
    max_iter, standardize, solver, penalty, the problem size and the iterations lbfgs ran
    (`num_iterations`; equal to max_iter means it stopped before converging).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if not C > 0:
        raise ValueError(f"C must be > 0, got {C}")
    if int(max_iter) < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    train_x, train_y, test_x, test_y = _to_numpy(
        train_embeddings, train_labels, test_embeddings, test_labels
    )
    if standardize:
        scaler = StandardScaler().fit(train_x)
        train_x, test_x = scaler.transform(train_x), scaler.transform(test_x)
    classifier = LogisticRegression(C=float(C), solver="lbfgs", max_iter=int(max_iter))
    classifier.fit(train_x, train_y)
    accuracy = float(np.mean(classifier.predict(test_x) == test_y))
    return Result(
        protocol="logistic_regression", metric="top1", value=accuracy, split=split,
        settings={
            "C": float(C), "max_iter": int(max_iter), "standardize": bool(standardize),
            "solver": "lbfgs", "penalty": "l2", **_problem_size(train_x, train_y, test_x),
            "num_iterations": int(np.max(classifier.n_iter_)),
        },
    )


@EVALUATORS.register("svm")
def svm(
    train_embeddings: Any, train_labels: Any, test_embeddings: Any, test_labels: Any, *,
    c_grid: Sequence[float] = TS2VEC_C_GRID, cv_folds: int = 5,
    max_search_samples: int = 10000, min_search_samples: int = 50, seed: int = 0,
    max_iter: int = 10_000_000, n_jobs: int | None = None,
    device: torch.device | str | None = "cpu", split: str = "test",
) -> Result:
    """Top-1 accuracy of an RBF SVC (gamma="scale") with C chosen by TS2Vec's protocol.

    Protocol (Yue et al. 2022, arXiv 2106.10466):

    1. Grid search over `c_grid` (default 10^-4 ... 10^4 and inf) by `cv_folds`-fold stratified
       cross-validation (unshuffled, so deterministic) on the train split only, scored by
       accuracy; ties go to the smaller C.
    2. When train has more than `max_search_samples` samples, the search runs on a stratified
       subsample of that size (drawn with `seed`) and, as in TS2Vec, the chosen SVC is refit
       on that subsample, not on the whole train split (`refit_on` records which).
    3. When cross-validation is impossible or unreliable, i.e. some train class has fewer than
       `cv_folds` samples or train has fewer than `min_search_samples` samples (TS2Vec's 50),
       no search runs: a hard-margin SVC (C = inf) is fit on all of train and
       ``grid_search`` is False.

    Features are not standardised (TS2Vec does not). `settings` records the chosen C, whether a
    search ran, the grid, cv_folds, the search/refit sample counts and the problem size.
    `n_jobs` only parallelises the search and does not change the result.
    """
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
    from sklearn.svm import SVC

    c_grid = sorted(float(value) for value in c_grid)  # ties go to the smaller C
    if not c_grid or not all(value > 0 for value in c_grid):
        raise ValueError(f"c_grid must be a non-empty list of values > 0, got {c_grid}")
    if int(cv_folds) < 2:
        raise ValueError(f"cv_folds must be >= 2, got {cv_folds}")
    if int(max_search_samples) < int(cv_folds):
        raise ValueError(
            f"max_search_samples must be >= cv_folds ({cv_folds}), got {max_search_samples}"
        )
    train_x, train_y, test_x, test_y = _to_numpy(
        train_embeddings, train_labels, test_embeddings, test_labels
    )
    num_train = train_x.shape[0]
    smallest_class = int(np.unique(train_y, return_counts=True)[1].min())
    grid_search = smallest_class >= int(cv_folds) and num_train >= int(min_search_samples)
    base = SVC(kernel="rbf", gamma="scale", max_iter=int(max_iter))

    if grid_search:
        fit_x, fit_y = train_x, train_y
        num_classes = len(np.unique(train_y))
        # a stratified subsample must leave at least one sample of every class out
        subsampled = num_train - int(max_search_samples) >= num_classes
        if subsampled:
            fit_x, _, fit_y, _ = train_test_split(
                train_x, train_y, train_size=int(max_search_samples), stratify=train_y,
                random_state=int(seed),
            )
        search = GridSearchCV(
            base, {"C": c_grid}, cv=StratifiedKFold(n_splits=int(cv_folds)),
            scoring="accuracy", refit=True, n_jobs=n_jobs,
        )
        search.fit(fit_x, fit_y)
        model, chosen_c = search.best_estimator_, float(search.best_params_["C"])
        num_fit = int(fit_x.shape[0])
        refit_on = "search_subsample" if subsampled else "train"
    else:
        chosen_c = float(np.inf)
        model = base.set_params(C=chosen_c).fit(train_x, train_y)
        num_fit, refit_on = int(num_train), "train"

    accuracy = float(np.mean(model.predict(test_x) == test_y))
    return Result(
        protocol="svm", metric="top1", value=accuracy, split=split,
        settings={
            "C": chosen_c, "grid_search": bool(grid_search), "c_grid": c_grid,
            "cv_folds": int(cv_folds), "kernel": "rbf", "gamma": "scale",
            "max_search_samples": int(max_search_samples),
            "min_search_samples": int(min_search_samples), "seed": int(seed),
            "max_iter": int(max_iter), "standardize": False, "refit_on": refit_on,
            "num_fit_samples": num_fit, **_problem_size(train_x, train_y, test_x),
        },
    )
