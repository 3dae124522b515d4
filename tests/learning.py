"""Did a run learn? A trained encoder must beat the same encoder before its first step: the
recipe's encoder built exactly as `pretrain` builds it (same seed, same data, same split), its
batch-norm statistics measured on the training data (as steps with a zero learning rate would
measure them), evaluated by the same protocol.

    run = contrastlearn.pretrain(recipe, dataset=path, overrides=overrides)
    assert_learned(run.result("svm").value, untrained_score(recipe, "svm", path, overrides))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from contrastlearn import api
from contrastlearn.config import Recipe
from contrastlearn.data.resolve import prepare_for_encoder

LEARNING_MARGIN = 0.05
"""How far a trained encoder must beat its untrained self: above the noise of one score on
the fixtures these tests use, well below the gaps their runs reach (0.1 to 0.4)."""


def assert_learned(trained: float, untrained: float, margin: float = LEARNING_MARGIN) -> None:
    """`trained` beats `untrained` by at least `margin`."""
    assert trained >= untrained + margin, (
        f"the trained encoder scores {trained:.3f}, not {margin} above the same encoder "
        f"untrained ({untrained:.3f}): training did not help")


def untrained_score(recipe: Recipe | str, protocol: str, dataset: Any = None,
                    overrides: dict[str, Any] | None = None) -> float:
    """The `protocol` score (e.g. "svm", "knn", "linear_probe") of the encoder that
    `pretrain(recipe, dataset=dataset, overrides=overrides)` starts from."""
    return untrained_scores(recipe, [protocol], dataset, overrides)[protocol]


def untrained_scores(recipe: Recipe | str, protocols: Sequence[str], dataset: Any = None,
                     overrides: dict[str, Any] | None = None) -> dict[str, float]:
    """`untrained_score` of several protocols, from one untrained encoder."""
    resolved = api.resolve_run_recipe(recipe, overrides)
    encoder, splits = untrained_encoder(resolved, dataset)
    results = api.evaluate_splits(
        encoder, splits, protocols=list(protocols), labels_per_class=(),
        seeds=resolved.eval.few_label_seeds, raw_baseline=False, device="cpu",
        batch_size=resolved.eval.batch_size)
    return {result.protocol: result.value for result in results}


def untrained_encoder(recipe: Recipe | str, dataset: Any = None,
                      overrides: dict[str, Any] | None = None) -> tuple[torch.nn.Module, Any]:
    """The encoder `pretrain(recipe, dataset=..., overrides=...)` starts from (batch norms
    calibrated, see `calibrate_batch_norm`), and the splits it is evaluated on, prepared for
    the encoder as `pretrain` prepares them."""
    recipe = api.resolve_run_recipe(recipe, overrides)
    splits = api.load_run_data(recipe, dataset)
    torch.manual_seed(recipe.seed)
    limited = replace(splits, train=api._limited(splits.train, recipe.data.limit))
    encoder, _ = api.build_encoder(recipe, limited)
    splits = prepare_for_encoder(splits, encoder)
    calibrate_batch_norm(encoder, api._limited(splits.train, recipe.data.limit),
                         recipe.train.batch_size)
    return encoder, splits


def calibrate_batch_norm(encoder: torch.nn.Module, data: Any, batch_size: int) -> None:
    """Set the running statistics of `encoder`'s batch norms to their average over the
    batches of `data` (an ArrayDataset), changing nothing else. Steps with a zero learning
    rate update them too, and that alone moves an untrained CNN's linear probe on digits by up
    to 0.1, so the fresh statistics (mean 0, variance 1) would be too easy to beat."""
    norms = [module for module in encoder.modules()
             if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average
    encoder.train()
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            batch = data.x[start:start + batch_size]
            if len(batch) > 1:
                encoder(batch)
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    encoder.eval()
