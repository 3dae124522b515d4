"""Few-label (semi-supervised) evaluation: how good the embeddings are when only a handful of
labels per class are available, as in the 1%/10%-label tables of SimCLR (Chen et al. 2020,
arXiv 2002.05709) and the low-shot tables of many SSL papers.

Protocol: for each seed, draw `labels_per_class` train samples of every train class uniformly
without replacement (a `torch.Generator` seeded with that seed, so draws are reproducible
across machines), fit the chosen frozen-feature classifier on that subset only, and measure it
on the full test set. Report the mean over seeds and the sample standard deviation (ddof=1;
0.0 for a single seed).
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


def sample_labels_per_class(labels: Tensor, labels_per_class: int, seed: int) -> Tensor:
    """Sorted indices of `labels_per_class` samples drawn from every class in `labels`.

    Raises ValueError naming every class with fewer than `labels_per_class` samples.
    """
    labels = labels.cpu()
    classes, counts = torch.unique(labels, return_counts=True)
    too_small = [(int(c), int(n)) for c, n in zip(classes, counts) if n < labels_per_class]
    if too_small:
        listed = ", ".join(f"class {c} has {n}" for c, n in too_small[:10])
        more = f" (and {len(too_small) - 10} more)" if len(too_small) > 10 else ""
        raise ValueError(
            f"labels_per_class={labels_per_class} but {len(too_small)} train class(es) have "
            f"fewer samples: {listed}{more}; lower labels_per_class"
        )
    generator = torch.Generator().manual_seed(int(seed))
    by_class = torch.argsort(labels, stable=True).split(counts.tolist())
    chosen = [
        members[torch.randperm(members.numel(), generator=generator)[:labels_per_class]]
        for members in by_class
    ]
    return torch.cat(chosen).sort().values


@EVALUATORS.register("few_label")
def few_label(
    train_embeddings: Any, train_labels: Any, test_embeddings: Any, test_labels: Any, *,
    labels_per_class: int = 10, seeds: Sequence[int] = (0, 1, 2, 3, 4),
    classifier: str = "linear_probe", device: torch.device | str | None = "cpu",
    split: str = "test", **classifier_settings: Any,
) -> Result:
    """Mean and std over `seeds` of `classifier` (an evaluator name that returns one Result:
    "linear_probe", "knn", "logistic_regression", "svm") fit on `labels_per_class` labelled
    train samples per class.

    `classifier_settings` go to the classifier (e.g. ``weight_decay=1e-3`` or ``k=20``).
    Protocol is ``"few_label_<classifier>"``; `settings` holds labels_per_class, seeds,
    classifier, the classifier's own recorded settings (num_train is the labelled subset size)
    and ``values_per_seed``.
    """
    if isinstance(seeds, int):
        seeds = (seeds,)
    seeds = [int(seed) for seed in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    if int(labels_per_class) < 1:
        raise ValueError(f"labels_per_class must be >= 1, got {labels_per_class}")
    if classifier == "few_label":
        raise ValueError("classifier cannot be 'few_label' itself; use 'linear_probe' or 'knn'")
    evaluate = EVALUATORS.get(classifier)

    device = resolve_device(device)
    train_x, train_y, test_x, test_y = check_embeddings(
        train_embeddings, train_labels, test_embeddings, test_labels, device=device
    )
    values: list[float] = []
    per_seed: list[dict] = []
    first: Result | None = None
    for seed in seeds:
        subset = sample_labels_per_class(train_y, int(labels_per_class), seed).to(device)
        result = evaluate(train_x[subset], train_y[subset], test_x, test_y,
                          device=device, split=split, **classifier_settings)
        if first is None:
            first = result
        values.append(result.value)
        per_seed.append(result.settings)

    mean = sum(values) / len(values)
    std = (
        math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        if len(values) > 1 else 0.0
    )
    assert first is not None  # seeds is non-empty
    settings = {
        "classifier": classifier, "labels_per_class": int(labels_per_class), "seeds": seeds,
        **merge_settings(per_seed),
        "num_train_total": int(train_x.shape[0]),
        "std_ddof": 1,
        "values_per_seed": values,
    }
    return Result(
        protocol=f"few_label_{first.protocol}", metric=first.metric, value=mean, split=split,
        settings=settings, std=std, num_seeds=len(seeds),
    )
