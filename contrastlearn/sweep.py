"""Augmentation strength sweep: how positive-pair similarity, probe accuracy and the
augmentation complexity kappa (Zhai et al. 2023, arXiv 2306.00788) change with the strength of
the views, measured either with a given (frozen) encoder or by training briefly at each
strength. Too weak views give near-1 similarity and no learning signal; too strong views
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
from contrastlearn.evaluation.augmentation_complexity import augmentation_complexity

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
    progress: bool = True, complexity_samples: int = 512, complexity_views: int = 8,
) -> list[dict[str, Any]]:
    """One row per strength: positive similarity on held-out inputs, linear-probe top-1 and the
    augmentation complexity of the views.

    With `encoder`, it stays frozen: the probe is fit on clean train embeddings and tested on
    one augmented view of the held-out inputs (how much class information survives the views).
    Without it, a fresh encoder trains for `steps` steps at each strength (run directories under
    `out`) and the probe is the usual clean one. The complexity (`augmentation_complexity`:
    kappa, its steadier mean form and the kernel's top eigenvalues) is estimated on one fixed
    sample of `complexity_samples` held-out inputs with `complexity_views` views each and the
    same seed at every strength, in the frozen encoder's feature space, or on the raw inputs
    when encoders are trained (one fixed feature map, so the strengths compare). Writes
    `out/sweep.json` and `out/sweep.png`.
    """
    from contrastlearn.api import build_views, pretrain
    from contrastlearn.report.plots import plot_strength_sweep

    if not strengths:
        raise ValueError("give at least one strength")
    if any(s < 0 for s in strengths):
        raise ValueError(f"strengths must be >= 0, got {list(strengths)}")
    if complexity_samples < 2 or complexity_views < 2:
        raise ValueError("complexity_samples and complexity_views must be >= 2, got "
                         f"{complexity_samples} and {complexity_views}")
    if not isinstance(splits.train, ArrayDataset):
        raise DataError("the strength sweep needs array data (a registered dataset or arrays)")
    held_out = splits.test if splits.test is not None else splits.train
    train = _subset(splits.train, max_train, recipe.seed)
    evaluation = _subset(held_out, max_eval, recipe.seed + 1)
    complexity_inputs = _subset(evaluation, complexity_samples, recipe.seed + 2).x.to(device)
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
        complexity = _complexity(views, complexity_inputs, complexity_views, encoder,
                                 recipe.seed, device)
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
                     "linear_probe_top1": accuracy,
                     **complexity, "encoder": trained, "num_train": len(train),
                     "num_eval": len(evaluation)})
    atomic_write(out / "sweep.json", json.dumps(rows, indent=2).encode())
    plot_strength_sweep([r["strength"] for r in rows], [r["positive_similarity"] for r in rows],
                        [r["linear_probe_top1"] for r in rows], out / "sweep.png",
                        augmentation_complexity=[r["augmentation_complexity"] for r in rows],
                        augmentation_complexity_mean=[r["augmentation_complexity_mean"]
                                                      for r in rows])
    return rows


def _complexity(views, inputs: Tensor, num_views: int, encoder: nn.Module | None, seed: int,
                device) -> dict[str, Any]:
    """The sweep row's augmentation-complexity columns. Raw inputs cannot compare views of
    several shapes (multi-crop): those columns are then NaN and the note says why, rather than
    a diagnostic stopping the sweep."""
    features = "frozen encoder" if encoder is not None else "raw inputs"
    try:
        result = augmentation_complexity(views, inputs, num_views=num_views, feature_map=encoder,
                                         seed=seed, device=device)
    except ValueError as error:
        if encoder is not None:
            raise
        return {"augmentation_complexity": math.nan, "augmentation_complexity_mean": math.nan,
                "augmentation_kernel_eigenvalues": [], "augmentation_complexity_features":
                features, "augmentation_complexity_note": str(error), "num_complexity": 0}
    return {"augmentation_complexity": result.kappa,
            "augmentation_complexity_mean": result.kappa_mean,
            "augmentation_kernel_eigenvalues": list(result.eigenvalues),
            "augmentation_complexity_features": features, "num_complexity": result.num_samples}


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
