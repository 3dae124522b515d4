"""Label-fraction curve: a frozen-feature classifier fit on 1%, 10%, ... 100% of the train
labels, as in the semi-supervised tables of SimCLR (Chen et al. 2020, arXiv 2002.05709) and
the label-efficiency plots of TS-TCC (Eldele et al. 2021, arXiv 2106.14112) and TS2Vec.

Unlike `few_label` (a fixed number of labels per class), a fraction keeps the class balance of
the train split: class c contributes ``round(fraction * count_c)`` samples (rounding half up,
at least 1), drawn uniformly without replacement by a `torch.Generator` seeded with each seed.
Every fraction below 1 is repeated over `seeds` and reported as mean and sample std (ddof=1);
fraction 1.0 uses every train sample, so it is the same for every seed and runs once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation.result import Result, merge_settings
from contrastlearn.evaluation.validation import check_embeddings, resolve_device


def labelled_per_class(class_count: int, fraction: float) -> int:
    """``round(fraction * class_count)`` rounding half up, at least 1, at most class_count."""
    # The epsilon keeps 0.15 * 10 = 1.4999999999999998 rounding to 2, as written on paper.
    return min(class_count, max(1, math.floor(fraction * class_count + 0.5 + 1e-9)))


def sample_label_fraction(labels: Tensor, fraction: float, seed: int) -> Tensor:
    """Sorted indices of a stratified subset holding `fraction` of every class in `labels`
    (see `labelled_per_class`), drawn reproducibly from `seed`."""
    _check_fraction(fraction)
    labels = labels.cpu()
    _, counts = torch.unique(labels, return_counts=True)
    generator = torch.Generator().manual_seed(int(seed))
    by_class = torch.argsort(labels, stable=True).split(counts.tolist())
    chosen = [
        members[torch.randperm(members.numel(), generator=generator)
                [:labelled_per_class(members.numel(), fraction)]]
        for members in by_class
    ]
    return torch.cat(chosen).sort().values


def _check_fraction(fraction: float) -> None:
    try:
        value = float(fraction)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(fraction, bool) or not 0 < value <= 1:
        raise ValueError(
            f"label fractions must lie in (0, 1], got {fraction!r}; write 1% as 0.01"
        )


@EVALUATORS.register("label_fraction")
def label_fraction_curve(
    train_embeddings: Any, train_labels: Any, test_embeddings: Any, test_labels: Any, *,
    fractions: Sequence[float] = (0.01, 0.1, 1.0), seeds: Sequence[int] = (0, 1, 2),
    classifier: str = "linear_probe", device: torch.device | str | None = "cpu",
    split: str = "test", **classifier_settings: Any,
) -> list[Result]:
    """One Result per fraction (and per metric of `classifier`): `classifier` (an evaluator
    name, e.g. "linear_probe", "knn", "logistic_regression", "svm") fit on a stratified
    `fraction` of the train labels, measured on the whole test set.

    `classifier_settings` go to the classifier. Protocol is ``"label_fraction_<protocol>"``;
    `settings` holds classifier, fraction, seeds (only the first for fraction 1.0), all_labels,
    num_labelled (subset size), num_train_total, values_per_seed, std_ddof and the classifier's
    own settings (per-seed lists for those that vary, see `merge_settings`).
    """
    fractions = list(fractions) if hasattr(fractions, "__iter__") else [fractions]
    if not fractions:
        raise ValueError("fractions must hold at least one fraction in (0, 1]")
    for fraction in fractions:
        _check_fraction(fraction)
    fractions = [float(fraction) for fraction in fractions]
    if len(set(fractions)) != len(fractions):
        raise ValueError(f"fractions must be distinct, got {fractions}")
    seeds = [int(seed) for seed in seeds] if hasattr(seeds, "__iter__") else [int(seeds)]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    if classifier in ("label_fraction", "few_label"):
        raise ValueError(
            f"classifier cannot be {classifier!r}; name a single classifier such as "
            f"'linear_probe', 'knn', 'logistic_regression' or 'svm'"
        )
    evaluate = EVALUATORS.get(classifier)

    device = resolve_device(device)
    train_x, train_y, test_x, test_y = check_embeddings(
        train_embeddings, train_labels, test_embeddings, test_labels, device=device
    )
    results: list[Result] = []
    for fraction in fractions:
        all_labels = fraction == 1.0
        run_seeds = seeds[:1] if all_labels else seeds
        runs: list[list[Result]] = []
        for seed in run_seeds:
            if all_labels:
                subset_x, subset_y = train_x, train_y
            else:
                subset = sample_label_fraction(train_y, fraction, seed).to(device)
                subset_x, subset_y = train_x[subset], train_y[subset]
            output = evaluate(subset_x, subset_y, test_x, test_y,
                              device=device, split=split, **classifier_settings)
            runs.append([output] if isinstance(output, Result) else list(output))
        num_labelled = int(subset_y.shape[0])
        for position, first in enumerate(runs[0]):
            same_run = [run[position] for run in runs]
            values = [float(result.value) for result in same_run]
            mean = sum(values) / len(values)
            std = (
                math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
                if len(values) > 1 else 0.0
            )
            results.append(Result(
                protocol=f"label_fraction_{first.protocol}", metric=first.metric, value=mean,
                split=split, std=std, num_seeds=len(run_seeds),
                settings={
                    "classifier": classifier, "fraction": fraction, "seeds": run_seeds,
                    "all_labels": all_labels, "rounding": "half_up_at_least_1_per_class",
                    "num_labelled": num_labelled,
                    **merge_settings([result.settings for result in same_run]),
                    "num_train_total": int(train_x.shape[0]),
                    "std_ddof": 1,
                    "values_per_seed": values,
                },
            ))
    return results
