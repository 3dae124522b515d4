"""Augmentation strength sweep: how positive-pair similarity and probe accuracy change with the
strength of the views, measured either with a given (frozen) encoder or by training briefly at
each strength. Too weak views give near-1 similarity and no learning signal; too strong views
destroy the class information a probe needs."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.config import Recipe, apply_overrides
from contrastlearn.core.atomic import atomic_write
from contrastlearn.data.arrays import ArrayDataset, DataError, DatasetSplits
from contrastlearn.evaluation import extract_embeddings, linear_probe

DEFAULT_STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _subset(data: ArrayDataset, limit: int, seed: int) -> ArrayDataset:
    if len(data) <= limit:
        return data
    chosen = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:limit]
    return data.subset(chosen.sort().values)


def positive_similarity(encoder: nn.Module, views, x: Tensor, *, seed: int = 0,
                        device: str | torch.device = "cpu") -> float:
    """Mean cosine similarity of the encoder's embeddings of two views of the same inputs."""
    first, second = views(x, torch.Generator(device=x.device).manual_seed(seed))[:2]
    a = extract_embeddings(encoder, first, device=device)
    b = extract_embeddings(encoder, second, device=device)
    return float(F.cosine_similarity(a, b, dim=1).mean())


def _probe(encoder: nn.Module, train: ArrayDataset, test_inputs: Tensor, test: ArrayDataset,
           device) -> float:
    if train.y is None or test.y is None:
        return math.nan
    train_embeddings = extract_embeddings(encoder, train.x, device=device)
    test_embeddings = extract_embeddings(encoder, test_inputs, device=device)
    return linear_probe(train_embeddings, train.y, test_embeddings, test.y, device=device).value


def strength_sweep(
    recipe: Recipe, splits: DatasetSplits, *, strengths: Sequence[float] = DEFAULT_STRENGTHS,
    encoder: nn.Module | None = None, steps: int = 100, out: str | Path,
    max_train: int = 5000, max_eval: int = 2000, device: str | torch.device = "cpu",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """One row per strength: positive similarity on held-out inputs and linear-probe top-1.

    With `encoder`, it stays frozen: the probe is fit on clean train embeddings and tested on
    one augmented view of the held-out inputs (how much class information survives the views).
    Without it, a fresh encoder trains for `steps` steps at each strength (run directories under
    `out`) and the probe is the usual clean one. Writes `out/sweep.json` and `out/sweep.png`.
    """
    from contrastlearn.api import build_views, pretrain
    from contrastlearn.report.plots import plot_strength_sweep

    if not strengths:
        raise ValueError("give at least one strength")
    if any(s < 0 for s in strengths):
        raise ValueError(f"strengths must be >= 0, got {list(strengths)}")
    if not isinstance(splits.train, ArrayDataset):
        raise DataError("the strength sweep needs array data (a registered dataset or arrays)")
    held_out = splits.test if splits.test is not None else splits.train
    train = _subset(splits.train, max_train, recipe.seed)
    evaluation = _subset(held_out, max_eval, recipe.seed + 1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for strength in strengths:
        kwargs = dict(recipe.views.kwargs) if recipe.views is not None else {}
        name = recipe.views.name if recipe.views is not None else None
        if name is None:
            raise ValueError("the sweep needs a recipe with explicit `views` (name and kwargs)")
        varied = apply_overrides(recipe, {"views.kwargs": {**kwargs, "strength": strength}})
        views = build_views(varied, tuple(train.x.shape[1:]))
        x = evaluation.x.to(device)
        if encoder is not None:
            model, trained = encoder, "frozen encoder"
            first_view = views(x, torch.Generator(device=x.device).manual_seed(0))[0]
            accuracy = _probe(model, train, first_view, evaluation, device)
        else:
            run = pretrain(varied, dataset=_as_arrays(splits), out=out / f"strength-{strength:g}",
                           overwrite=True, overrides=brief_schedule(recipe, len(splits.train),
                                                                    steps),
                           progress=progress, evaluate_after=False)
            model, trained = run.encoder, f"trained {steps} steps"
            accuracy = _probe(model, train, evaluation.x, evaluation, device)
        similarity = positive_similarity(model, views, x, device=device)
        rows.append({"strength": float(strength), "positive_similarity": similarity,
                     "linear_probe_top1": accuracy, "encoder": trained,
                     "num_train": len(train), "num_eval": len(evaluation)})
    atomic_write(out / "sweep.json", json.dumps(rows, indent=2).encode())
    plot_strength_sweep([r["strength"] for r in rows], [r["positive_similarity"] for r in rows],
                        [r["linear_probe_top1"] for r in rows], out / "sweep.png")
    return rows


def brief_schedule(recipe: Recipe, num_train: int, steps: int) -> dict[str, Any]:
    """Overrides that fit the whole warmup + cosine schedule into about `steps` steps, so a
    brief run still reaches its peak learning rate and anneals."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    steps_per_epoch = max(1, num_train // min(recipe.train.batch_size, num_train))
    epochs = max(1, math.ceil(steps / steps_per_epoch))
    return {"train.epochs": epochs, "train.max_steps": steps,
            "train.warmup_epochs": min(recipe.train.warmup_epochs, 0.1 * epochs)}


def _as_arrays(splits: DatasetSplits) -> dict[str, Tensor]:
    arrays = {"x": splits.train.x}
    if splits.train.y is not None:
        arrays["y"] = splits.train.y
    if splits.test is not None:
        arrays["x_test"] = splits.test.x
        if splits.test.y is not None:
            arrays["y_test"] = splits.test.y
    return arrays
