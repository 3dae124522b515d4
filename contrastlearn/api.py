"""The public Python API: pretrain, evaluate, embed."""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from contrastlearn.augment.curriculum import build_view_policy, training_strength
from contrastlearn.augment.views import Views
from contrastlearn.config import (
    FEW_LABEL_PROTOCOLS,
    PAIR_PROTOCOLS,
    PROTOCOLS,
    Recipe,
    apply_overrides,
    dump_recipe,
    load_recipe,
)
from contrastlearn.core.atomic import atomic_write
from contrastlearn.core.distributed import gather_no_grad, is_distributed, rank, world_size
from contrastlearn.core.registry import (
    AUGMENTATIONS,
    BATCH_SAMPLERS,
    DATASETS,
    ENCODERS,
    EVALUATORS,
    METHOD_OPTIONS,
    METHODS,
    MODALITIES,
    STRENGTH_SCHEDULES,
    VIEW_GENERATORS,
)
from contrastlearn.data.arrays import PAIR_KEYS, ArrayDataset, DataError, DatasetSplits
from contrastlearn.data.checks import check_run_data
from contrastlearn.data.inflation import inflated_training_data
from contrastlearn.data.resolve import (
    IN_MEMORY,
    accepts,
    dataset_modality,
    filled_encoder_kwargs,
    get_modality,
    options_of,
    prepare_for_encoder,
    resolve_dataset,
    sample_shape_of,
    samples_for_encoder,
    to_samples,
)
from contrastlearn.engine.class_incremental import ClassIncremental, stage_monitor
from contrastlearn.engine.launch import launch_fabric
from contrastlearn.engine.run_dir import checkpoint_of, default_run_dir, open_run_dir
from contrastlearn.engine.trainer import Trainer, TrainingDiverged, TrainSummary
from contrastlearn.ensemble import EnsembleEncoder, load_ensemble
from contrastlearn.evaluation import (
    Result,
    extract_embeddings,
    few_label,
    knn_classifier,
    save_results,
)
from contrastlearn.export import export_encoder, load_encoder
from contrastlearn.methods.base import Method
from contrastlearn.methods.learned_views import LearnedViews
from contrastlearn.objectives.alignment_uniformity import alignment, uniformity
from contrastlearn.report.html import EMBEDDINGS_NAME, PLOTS_DIR, PREVIEW_NAME, write_report
from contrastlearn.report.preview import preview_samples, write_views_preview

EMBEDDINGS_SAMPLE_SIZE = 2000
NOT_APPLICABLE = "not_applicable"


@dataclass
class RunResult:
    """What `pretrain` returns: where the run lives and what it achieved."""

    run_dir: Path
    encoder: nn.Module
    method: Method
    recipe: Recipe
    results: list[Result]
    training: TrainSummary

    def result(self, protocol: str, representation: str = "encoder") -> Result:
        for item in self.results:
            if item.protocol == protocol and item.settings.get("representation") == representation:
                return item
        raise KeyError(f"no {protocol!r} result for the {representation} representation")


def modality_of(encoder: nn.Module, given: str | None = None) -> str:
    """The kind of data `encoder` reads: `given`, else what its export recorded
    (`config["modality"]`), else its class's `modality` attribute. Never guessed from the
    module's shape: an encoder that records none needs `modality=`."""
    recorded = given or getattr(encoder, "config", {}).get("modality") or getattr(
        encoder, "modality", None)
    if recorded is None:
        raise DataError(f"cannot tell which kind of data {type(encoder).__name__} reads: pass "
                        f"modality=... (one of {', '.join(MODALITIES.names())})")
    get_modality(recorded)
    return recorded


def resolve_run_recipe(
    recipe: Recipe | str | Path | None, overrides: dict[str, Any] | None = None,
) -> Recipe:
    """A Recipe from a Recipe, a shipped name, a YAML path or None (the default recipe), with
    dotted-key `overrides` applied."""
    resolved = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    return apply_overrides(resolved, overrides or {})


def load_run_data(recipe: Recipe, dataset: Any = None) -> DatasetSplits:
    """The train/test splits of `dataset` (default: the recipe's), read as the recipe says."""
    return resolve_dataset(recipe.data.dataset if dataset is None else dataset,
                           modality=recipe.data.modality,
                           holdout_fraction=recipe.data.holdout_fraction, seed=recipe.seed,
                           reader_options=options_of(recipe.data.modality, recipe.data.options))


def _limited(data: Any, limit: int | None) -> Any:
    """The first `limit` training samples (all of them without a limit or for a Dataset)."""
    if limit is None or not hasattr(data, "subset"):
        return data
    return data.subset(torch.arange(min(limit, len(data))))


def _sampled(data: Any, limit: int, seed: int) -> Any:
    """A seeded random subset of `limit` items (the data itself when it is smaller, or cannot
    be subset)."""
    if data is None or not hasattr(data, "subset") or len(data) <= limit:
        return data
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    return data.subset(order[:limit].sort().values)


def build_encoder(recipe: Recipe, splits: DatasetSplits,
                  progress: bool = True) -> tuple[nn.Module, dict]:
    """The recipe's encoder, with what the data decides filled in: `in_channels` / `in_dim`
    from the sample shape, and the modality's own inputs (a text corpus for a tokenizer).
    `progress=False` reaches a factory that takes `progress` (a pretrained text model's
    loading bar); it is no setting of the encoder, so the returned kwargs leave it out."""
    factory = ENCODERS.get(recipe.encoder.name)
    kwargs = filled_encoder_kwargs(factory, recipe.encoder.kwargs, splits)
    quiet = ({"progress": False} if not progress and "progress" not in kwargs
             and accepts(factory, "progress") else {})
    return factory(**kwargs, **quiet), kwargs


def build_method(recipe: Recipe, encoder: nn.Module, sample_shape: tuple[int, ...]) -> Method:
    """The recipe's method around `encoder` with its options attached, wrapped with its learned
    view generator if any (`in_channels` filled in from the data, and what the modality offers
    view factories: a text `vocab_size` from the encoder)."""
    method = METHODS.build(recipe.method.name, encoder=encoder, **recipe.method.kwargs)
    for option in recipe.method.options:
        method.add_option(METHOD_OPTIONS.build(option.name, **option.kwargs), option.name,
                          recipe.method.name)
    if recipe.learned_views is None:
        return method
    factory = VIEW_GENERATORS.get(recipe.learned_views.name)
    kwargs = dict(recipe.learned_views.kwargs)
    offered = {"in_channels": sample_shape[0], **_view_inputs(recipe, sample_shape, encoder)}
    for key, value in offered.items():
        if accepts(factory, key):
            kwargs.setdefault(key, value)
    return LearnedViews(method, factory(**kwargs))


def _view_inputs(recipe: Recipe, sample_shape: tuple[int, ...],
                 encoder: nn.Module | None) -> dict[str, Any]:
    """What the recipe's modality offers view factories and view generators."""
    view_inputs = get_modality(recipe.data.modality).view_inputs
    return {} if view_inputs is None else view_inputs(sample_shape, encoder)


def build_views(recipe: Recipe, sample_shape: tuple[int, ...],
                encoder: nn.Module | None = None) -> Views:
    """The recipe's view policy (or the method's default one), with what the modality fills in
    (`Modality.view_inputs`: an image `size` from the data, a text `tokenizer` from the encoder)
    for factories that take it."""
    if recipe.views is None:
        name, kwargs = METHODS.get(recipe.method.name).default_views, {}
    else:
        name, kwargs = recipe.views.name, dict(recipe.views.kwargs)
    return build_view_policy(AUGMENTATIONS.get(name), kwargs,
                             _view_inputs(recipe, sample_shape, encoder))


def inflated(recipe: Recipe, train_data: Any, splits: DatasetSplits) -> Any:
    """The training data with the recipe's generated data (`data.inflation`, AdaInf), or as
    given; the evaluation `splits` are never changed."""
    inflation = recipe.data.inflation
    if inflation is None:
        return train_data
    return inflated_training_data(
        train_data, inflation.generated, real_weight=inflation.real_weight,
        count=inflation.count, seed=recipe.seed, modality=recipe.data.modality,
        scale=splits.info.get("input_scale"))


def batches_and_strength(recipe: Recipe) -> dict[str, Any]:
    """The trainer's batch sampler (`train.batch_sampler`) and the views' strength by step
    (`train.strength_schedule`, scaled by `data.inflation.strength_scale`)."""
    sampler, schedule = recipe.train.batch_sampler, recipe.train.strength_schedule
    scale = 1.0 if recipe.data.inflation is None else recipe.data.inflation.strength_scale
    return {
        "batch_sampler": (None if sampler is None
                          else BATCH_SAMPLERS.build(sampler.name, **sampler.kwargs)),
        "strength_schedule": training_strength(
            None if schedule is None else STRENGTH_SCHEDULES.build(schedule.name,
                                                                   **schedule.kwargs), scale),
    }


def _has_labels(data: ArrayDataset | Dataset) -> bool:
    if isinstance(data, ArrayDataset):
        return data.y is not None
    item = data[0]
    return isinstance(item, (tuple, list)) and len(item) > 1


def embed_data(
    encoder: nn.Module, data: ArrayDataset | Dataset | Tensor, *, batch_size: int = 512,
    device: str | torch.device = "cpu", shard: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Embeddings of every sample (and their labels when the data has them). With `shard` in
    a multi-process run, each process embeds a contiguous share of an `ArrayDataset` and the
    shares are gathered once, so every process returns all embeddings."""
    if shard and is_distributed() and isinstance(data, ArrayDataset):
        return _embed_sharded(encoder, data, batch_size=batch_size, device=device)
    if isinstance(data, Tensor):
        return extract_embeddings(encoder, data, batch_size=batch_size, device=device), None
    if callable(getattr(data, "embed_with", None)):  # e.g. token ids: encoded by length
        return data.embed_with(encoder, batch_size=batch_size, device=device), data.y
    if isinstance(data, ArrayDataset):
        embeddings = extract_embeddings(encoder, data.x, batch_size=batch_size, device=device)
        return embeddings, data.y
    parts, labels = [], []
    for item in DataLoader(data, batch_size=batch_size):
        x = item[0] if isinstance(item, (tuple, list)) else item
        parts.append(extract_embeddings(encoder, torch.as_tensor(x).float(),
                                        batch_size=batch_size, device=device))
        if isinstance(item, (tuple, list)) and len(item) > 1:
            labels.append(torch.as_tensor(item[1]))
    return torch.cat(parts), (torch.cat(labels) if labels else None)


def _protocol_results(
    train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], protocols: Sequence[str],
    labels_per_class: Sequence[int], seeds: Sequence[int], representation: str, split: str,
    device: str | torch.device, strict: bool = True,
) -> list[Result]:
    """Every protocol (and its few-label variants). Without `strict`, a protocol that cannot
    run on this data (a ValueError: one class, too few samples, NaN embeddings) becomes a
    "not_applicable" Result that carries the reason, and the others still run."""
    _check_protocols(protocols)
    jobs = []
    for protocol in protocols:
        options = {"seeds": tuple(seeds)} if protocol == "label_fraction" else {}
        jobs.append((protocol, lambda p=protocol, o=options: EVALUATORS.get(p)(
            *train, *test, device=device, **o)))
        if protocol in FEW_LABEL_PROTOCOLS:
            jobs += [(f"few_label_{protocol}", lambda p=protocol, n=count: few_label(
                *train, *test, labels_per_class=n, seeds=tuple(seeds), classifier=p,
                device=device)) for count in labels_per_class]
    results = []
    for name, job in jobs:
        try:
            measured = job()
        except ValueError as error:
            if strict:
                raise
            measured = Result(name, NOT_APPLICABLE, math.nan, split, {"reason": str(error)})
        results.extend(measured if isinstance(measured, list) else [measured])
    for result in results:
        result.split = split
        result.settings["representation"] = representation
    return results


def _check_protocols(protocols: Sequence[str], allowed: Sequence[str] = PROTOCOLS) -> None:
    unknown = [protocol for protocol in protocols if protocol not in allowed]
    if unknown:
        raise ValueError(f"unknown protocol(s) {unknown}; choose from {', '.join(allowed)}")


def _is_pair_data(data: Any) -> bool:
    return isinstance(data, dict) and ({"a", "b", "scores"} <= set(data)
                                       or {"queries", "gallery"} <= set(data))


def evaluate_pairs(
    encoder: nn.Module, data: dict[str, Any], protocols: Sequence[str] | None = None, *,
    modality: str = "image", scale: float | None = None, device: str | torch.device = "cpu",
    batch_size: int = 512,
) -> list[Result]:
    """Protocols on explicit pairs. `data` holds inputs ``a``, ``b`` and human ``scores``
    (similarity: Spearman/Pearson of cosine vs score) and/or ``queries``, ``gallery``,
    ``query_ids``, ``gallery_ids`` (retrieval: a gallery item is positive when ids match).
    `protocols=None` runs every protocol whose arrays `data` holds."""
    from contrastlearn.evaluation import retrieval_metrics, similarity_correlation

    if protocols is None:
        protocols = pair_protocols(data)
    _check_protocols(protocols, PAIR_PROTOCOLS)
    for protocol in protocols:
        missing = sorted(PAIR_KEYS[PAIR_PROTOCOLS.index(protocol)] - set(data))
        if missing:
            raise DataError(f"the {protocol} protocol needs the arrays {missing} in the pair "
                            f"data; it has {sorted(data)}")

    def embed_inputs(key: str) -> Tensor:
        return _embed_samples(encoder, data[key], modality, scale=scale, batch_size=batch_size,
                              device=device)

    results: list[Result] = []
    for protocol in protocols:
        if protocol == "similarity":
            results += similarity_correlation(embed_inputs("a"), embed_inputs("b"),
                                              data["scores"])
        else:
            results += retrieval_metrics(embed_inputs("queries"), embed_inputs("gallery"),
                                         data["query_ids"], data["gallery_ids"], device=device)
    return results


def pair_protocols(data: dict[str, Any]) -> list[str]:
    """The pair protocols whose arrays `data` holds."""
    return [name for name, keys in zip(PAIR_PROTOCOLS, PAIR_KEYS) if keys <= set(data)]


def evaluate(
    encoder_or_run: nn.Module | str | Path | Sequence[str | Path], data: Any = None, *,
    protocols: Sequence[str] | None = None, labels_per_class: Sequence[int] = (10,),
    seeds: Sequence[int] = (0, 1, 2, 3, 4), raw_baseline: bool = False,
    device: str | torch.device = "cpu", batch_size: int = 512, save: bool = False,
    strict: bool = True, balance: bool = False, modality: str | None = None,
) -> list[Result]:
    """Frozen-encoder evaluation: each protocol (see `PROTOCOLS`; default: the run's recipe's,
    else the modality's own, e.g. svm and knn for series)
    with all training labels, and the classifiers also with n labels per class (mean ± std over
    seeds). `encoder_or_run` is an encoder or a run directory (whose recipe names the data when
    `data` is None), or several run directories: their encoders' embeddings side by side
    (`EnsembleEncoder`; the first run's recipe names the data; `save` is refused; with
    `balance`, every member is first rescaled to unit total variance on the unlabeled train
    split, `EnsembleEncoder.balance`). With
    `raw_baseline`, the same protocols run on the raw inputs. `data` may also be a dict of
    pairs for the "similarity" and "retrieval" protocols (see `evaluate_pairs`; default: those
    the arrays allow). Without `strict`, a protocol that cannot run on the data gives a
    "not_applicable" result instead of an error. `save=True` writes the results to the run
    directory's results.json. `modality` names the kind of data for an encoder module that
    does not record it (see `modality_of`)."""
    run_dir = Path(encoder_or_run) if isinstance(encoder_or_run, (str, Path)) else None
    if isinstance(encoder_or_run, Sequence) and not isinstance(encoder_or_run, str):
        if save:
            raise ValueError("save=True writes one run's results.json; an ensemble of runs has "
                             "none (write the returned results yourself)")
        encoder = load_ensemble(encoder_or_run, device=device)
        recipe = load_recipe(Path(encoder_or_run[0]) / "recipe.yaml")
        modality = recipe.data.modality
        names = {load_recipe(Path(run) / "recipe.yaml").name for run in encoder_or_run}
        if len(names) > 1 and not balance and not _is_pair_data(data):
            warnings.warn(f"an ensemble of runs of different recipes ({sorted(names)}) whose "
                          "embeddings may differ in scale by orders of magnitude: pass "
                          "balance=True (contrastlearn evaluate --balance)", UserWarning,
                          stacklevel=2)
    elif run_dir is not None:
        encoder = load_encoder(run_dir, device=device)
        recipe = load_recipe(run_dir / "recipe.yaml")
        modality = recipe.data.modality
    else:
        encoder, recipe = encoder_or_run, None
        if data is None:
            raise ValueError("evaluate needs data when given an encoder module")
        modality = (data.modality if modality is None and isinstance(data, DatasetSplits)
                    else modality_of(encoder, modality))
    if _is_pair_data(data):
        if balance:
            raise ValueError("balance=True measures the members' scales on a train split; "
                             "pair data has none")
        results = evaluate_pairs(encoder, data, protocols, modality=modality,
                                 scale=getattr(encoder, "config", {}).get("input_scale"),
                                 device=device, batch_size=batch_size)
    else:
        splits = (load_run_data(recipe, data) if recipe is not None
                  else resolve_dataset(data, modality=modality))
        splits = prepare_for_encoder(splits, encoder)
        if balance:
            if not isinstance(encoder, EnsembleEncoder):
                raise ValueError("balance=True rescales the members of an ensemble; give "
                                 "several run directories")
            encoder.balance(lambda module: embed_data(module, splits.train,
                                                      batch_size=batch_size, device=device)[0])
        results = []
        if splits.test is not None or not _has_extra_protocols(splits):
            results = evaluate_splits(
                encoder, splits,
                protocols=protocols or (recipe.eval.protocols if recipe is not None
                                        else get_modality(modality).protocols),
                labels_per_class=labels_per_class, seeds=seeds, raw_baseline=raw_baseline,
                device=device, batch_size=batch_size, strict=strict)
        results += extra_results(encoder, splits, device=device, batch_size=batch_size)
    if save and run_dir is not None:
        save_results(results, run_dir / "results.json")
    return results


def geometry_results(
    encoder: nn.Module, test: ArrayDataset, views: Views, *, split: str,
    device: str | torch.device, max_samples: int = 2048, seed: int = 0,
) -> list[Result]:
    """Wang & Isola's (2020, arXiv 2005.10242) alignment of two views of the same test items
    and uniformity of the test embeddings, on up to `max_samples` items (uniformity is
    quadratic in their number). Views that give the very same input twice (dropout-only
    text views) get no alignment, which the frozen encoder would make 0 by construction;
    the uniformity result's `note` says so."""
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(test), generator=generator)[:max_samples]
    x = test.batch_x(chosen).to(device)
    first, second = views(x, torch.Generator(device=x.device).manual_seed(seed))[:2]
    if isinstance(x, Tensor) and not (isinstance(first, Tensor) and isinstance(second, Tensor)):
        return []  # views that carry more than a tensor (text feature cutoff)
    plain = _embed_batch(encoder, x, device)
    settings = {"num_samples": len(chosen), "representation": "encoder", "normalized": True}
    spread = Result("uniformity", "uniformity", float(uniformity(plain, t=2)), split,
                    {**settings, "t": 2})
    if isinstance(first, Tensor) and torch.equal(first, second):
        spread.settings["note"] = ("alignment left out: both views of each test item are the "
                                   "same input (dropout-only views), so it would be 0")
        return [spread]
    embed_views = [_embed_batch(encoder, view, device) for view in (first, second)]
    return [
        Result("alignment", "alignment", float(alignment(*embed_views, alpha=2)), split,
               {**settings, "alpha": 2, "views": "; ".join(views.describe())}),
        spread,
    ]


def _embed_batch(encoder: nn.Module, batch: Any, device: str | torch.device) -> Tensor:
    """Embeddings of one batch of inputs: a tensor in chunks, a structured batch (a graph
    batch, whose samples share one graph) in one pass of the frozen encoder."""
    if isinstance(batch, Tensor):
        return extract_embeddings(encoder, batch, device=device)
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            return encoder(batch.to(device)).float().cpu()
    finally:
        encoder.train(was_training)


def _embed_sharded(encoder: nn.Module, data: ArrayDataset, *, batch_size: int,
                      device: str | torch.device) -> tuple[Tensor, Tensor | None]:
    """`embed_data` split over the ranks: rank r embeds the r-th block, blocks padded to one
    size for the all-gather and trimmed after it."""
    block = math.ceil(len(data) / world_size())
    start = min(rank() * block, len(data))
    indices = torch.arange(start, min(start + block, len(data)))
    part, _ = embed_data(encoder, data.subset(indices), batch_size=batch_size, device=device)
    padded = torch.zeros(block, *part.shape[1:], dtype=part.dtype, device=device)
    padded[:len(part)] = part.to(device)
    return gather_no_grad(padded)[:len(data)].cpu(), data.y


def evaluate_splits(
    encoder: nn.Module, splits: DatasetSplits, *, protocols: Sequence[str],
    labels_per_class: Sequence[int], seeds: Sequence[int], raw_baseline: bool,
    device: str | torch.device, batch_size: int, embeddings_sample: Path | None = None,
    strict: bool = True, shard: bool = False,
) -> list[Result]:
    """All protocols on the splits' test split; with `embeddings_sample`, also save up to
    `EMBEDDINGS_SAMPLE_SIZE` test embeddings and labels there (for the report's map). See
    `_protocol_results` for `strict`, `embed_data` for `shard`."""
    if splits.test is None:
        raise DataError("evaluation needs a test split (give x_test/y_test or a holdout fraction)")
    split = splits.info.get("test_split", "test")
    train = embed_data(encoder, splits.train, batch_size=batch_size, device=device, shard=shard)
    test = embed_data(encoder, splits.test, batch_size=batch_size, device=device, shard=shard)
    if train[1] is None or test[1] is None:
        raise DataError("evaluation needs labels for the train and test splits")
    if embeddings_sample is not None:
        save_embeddings_sample(embeddings_sample, *test)
    results = _protocol_results(train, test, protocols, labels_per_class, seeds, "encoder",
                                split, device, strict)
    if (raw_baseline and isinstance(splits.train, ArrayDataset)
            and not splits.train.variable_length):  # token ids are no features
        features = get_modality(splits.modality).raw_features or _flattened
        (train_x, note), (test_x, _) = (features(splits.train.raw_inputs()),
                                       features(splits.test.raw_inputs()))
        raw = _protocol_results((train_x, splits.train.y), (test_x, splits.test.y), protocols,
                                labels_per_class, seeds, "raw", split, device, strict)
        for result in raw:
            result.settings["raw_features"] = note
        results += raw
    return results


def _flattened(x: Tensor) -> tuple[Tensor, str]:
    """The default raw-input baseline: each sample's values as one vector."""
    return x.flatten(1), "flattened"


def _has_extra_protocols(splits: DatasetSplits) -> bool:
    """Whether the dataset ships its own evaluation (`splits.extras` that can `evaluate` an
    encoder), which then stands in for the train/test protocols when there is no test split
    (recommendation data: full-sort ranking)."""
    return any(callable(getattr(extra, "evaluate", None)) for extra in splits.extras.values())


def recommend(run: str | Path, user: str, *, k: int = 10, dataset: Any = None,
              device: str | torch.device = "cpu") -> list[dict[str, Any]]:
    """The `k` best items for `user` (a raw user id of the run's data) that the user has not
    interacted with, from a recommendation run: `[{rank, item, title, score}]`. `dataset`:
    the run's data again when it was trained on in-memory data (default: the recipe's)."""
    run_dir = Path(run)
    recipe = load_recipe(run_dir / "recipe.yaml")
    splits = load_run_data(recipe, dataset)
    recommender = splits.extras.get("recommender")
    if recommender is None:
        raise DataError(f"{run_dir} is a {recipe.data.modality} run; recommend needs a "
                        "recommendation run (data.modality: recsys)")
    encoder = load_encoder(run_dir, device=device)
    return recommender.top_items(encoder, user, k=k, device=device)


def extra_results(encoder: nn.Module, splits: DatasetSplits, *, device: str | torch.device,
                  batch_size: int) -> list[Result]:
    """Scores on the evaluation sets a dataset ships beyond train/test (`splits.extras` that
    can `evaluate` an encoder, e.g. text retrieval)."""
    results: list[Result] = []
    for extra in splits.extras.values():
        if callable(getattr(extra, "evaluate", None)):
            results += extra.evaluate(encoder, device=device, batch_size=batch_size,
                                      split=splits.info.get("test_split", "test"))
    for result in results:
        result.settings.setdefault("representation", "encoder")
    return results


def save_embeddings_sample(path: Path, embeddings: Tensor, labels: Tensor | None,
                           seed: int = 0) -> None:
    """Up to `EMBEDDINGS_SAMPLE_SIZE` rows (seeded random choice), written atomically."""
    import io

    import numpy as np

    count = min(EMBEDDINGS_SAMPLE_SIZE, len(embeddings))
    chosen = torch.randperm(len(embeddings), generator=torch.Generator().manual_seed(seed))[:count]
    arrays = {"embeddings": embeddings[chosen].cpu().numpy()}
    if labels is not None:
        arrays["labels"] = torch.as_tensor(labels)[chosen].cpu().numpy()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write(path, buffer.getvalue())


def _knn_monitor(splits: DatasetSplits, device: torch.device):
    """kNN top-1 on the held-out split, logged at the end of every epoch."""
    if not (_has_labels(splits.train) and _has_labels(splits.test)):
        raise DataError("train.knn_monitor needs labelled train and test splits")

    def monitor(encoder: nn.Module) -> dict[str, float]:
        train = embed_data(encoder, splits.train, device=device)
        test = embed_data(encoder, splits.test, device=device)
        return {"knn_monitor_top1": knn_classifier(*train, *test, device=device).value}

    return monitor


def _epoch_monitors(recipe: Recipe, splits: DatasetSplits, trainer: Trainer):
    """What the trainer measures at the end of epochs: kNN top-1 (`train.knn_monitor`) and a
    class-incremental sampler's per-stage accuracies; None when nothing is asked."""
    monitors = []
    if recipe.train.knn_monitor and splits.test is not None:
        monitors.append(_knn_monitor(splits, trainer.device))
    if isinstance(trainer.batch_sampler, ClassIncremental):
        monitors.append(stage_monitor(
            trainer.batch_sampler, splits, recipe.seed, lambda: trainer.state.epoch,
            recipe.train.epochs, trainer.device, lambda encoder, data: embed_data(encoder, data,
                                                             device=trainer.device)[0]))
    if not monitors:
        return None
    return lambda encoder: {key: value for monitor in monitors
                            for key, value in monitor(encoder).items()}


def pretrain(
    recipe: Recipe | str | Path | None = None, *, dataset: Any = None,
    encoder: nn.Module | None = None, out: str | Path | None = None,
    resume: bool | str = False, overwrite: bool = False,
    overrides: dict[str, Any] | None = None, progress: bool = True, evaluate_after: bool = True,
) -> RunResult:
    """Pre-train an encoder by the recipe (a shipped name, a YAML path, a Recipe, or the
    default recipe of the dataset's room: digits SimCLR for images, TS2Vec for series, SimCSE
    for text), export it, and evaluate it next to a raw-input baseline.

    `dataset` overrides the recipe's data: a registered name, a .npz path (x, y, x_test,
    y_test, groups), a folder of images, a time-series file (.ts, .arff, .csv; a `_TRAIN` file
    pairs with its `_TEST` sibling), arrays, `(x, y)`, a dict of arrays, or a torch Dataset.
    `encoder` replaces the recipe's encoder with your own module (it must have `out_dim`).
    `overrides` are dotted recipe keys, e.g. {"train.epochs": 5}. With `resume` (True or
    "last"; "previous" for the checkpoint before the last), the run directory's own recipe is
    used.

    The run directory is locked for the whole call (a second writer is refused), `overwrite`
    replaces only a run this library wrote, and a run that fails before its first checkpoint
    leaves nothing that blocks a rerun. See docs/guarantees.md.

    With `train.devices` > 1 (or under torchrun / SLURM) Lightning Fabric runs this function
    in every process; rank 0 alone writes the run directory, and the other ranks return
    results only when `eval.ranks` is "all"."""
    resume_from = ("last" if resume is True else resume) or None
    if resume_from:
        if out is None:
            raise ValueError("resume needs the run directory: pass --out RUN_DIR "
                             "(out=... in Python)")
        checkpoint_of(out, resume_from)
        recipe = load_recipe(Path(out) / "recipe.yaml")
    elif recipe is None and dataset is not None:
        room = dataset_modality(dataset)
        if room is not None:
            recipe = get_modality(room).default_recipe or recipe
    recipe = resolve_run_recipe(recipe, overrides)
    fabric = launch_fabric(recipe.train)
    run_dir = Path(fabric.broadcast(str(out or default_run_dir(recipe.name)), src=0))
    with contextlib.ExitStack() as run_lock:
        _on_rank_zero(fabric, lambda: run_lock.enter_context(
            open_run_dir(run_dir, resume=bool(resume_from), overwrite=overwrite)))
        return _pretrain_locked(recipe, fabric, run_dir, dataset=dataset, encoder=encoder,
                                resume_from=resume_from, progress=progress,
                                evaluate_after=evaluate_after)


def _pretrain_locked(recipe: Recipe, fabric: Any, run_dir: Path, *, dataset: Any,
                     encoder: nn.Module | None, resume_from: str | None, progress: bool,
                     evaluate_after: bool) -> RunResult:
    """`pretrain` once rank 0 holds the run directory."""
    writer = fabric.is_global_zero
    if dataset is not None:
        # what the run directory records, so that `evaluate RUN_DIR` finds the same data
        if not isinstance(dataset, (str, Path)):
            recorded = IN_MEMORY
        elif str(dataset) in DATASETS or not Path(dataset).exists():
            recorded = str(dataset)
        else:
            recorded = str(Path(dataset).resolve())
        recipe = apply_overrides(recipe, {"data.dataset": recorded})
    splits = load_run_data(recipe, dataset)
    torch.manual_seed(recipe.seed)
    if encoder is None:
        limited = replace(splits, train=_limited(splits.train, recipe.data.limit))
        encoder, encoder_kwargs = build_encoder(recipe, limited, progress=progress)
        encoder_name = recipe.encoder.name
    else:
        encoder_name, encoder_kwargs = "custom", {}
    splits = prepare_for_encoder(splits, encoder)
    train_data = _limited(splits.train, recipe.data.limit)
    modality = get_modality(recipe.data.modality)
    if modality.training_data is not None:
        train_data = modality.training_data(
            train_data, modality.parse_options(recipe.data.options))
    real_train_data, train_data = train_data, inflated(recipe, train_data, splits)
    sample_shape = sample_shape_of(train_data)
    check_run_data(train_data, splits, recipe.train.batch_size, needs_test=evaluate_after,
                   limit=recipe.data.limit)
    views = build_views(recipe, sample_shape, encoder)
    method = build_method(recipe, encoder, sample_shape)
    if method.needs_labels and not _has_labels(train_data):
        raise DataError(f"method {recipe.method.name!r} is supervised: the data needs labels")
    _on_rank_zero(fabric, _write_run_files, run_dir, recipe, splits)
    trainer = Trainer(
        method, views, recipe.train, seed=recipe.seed, run_dir=run_dir, progress=progress,
        fabric=fabric, **batches_and_strength(recipe),
    )
    trainer.epoch_callback = _epoch_monitors(recipe, splits, trainer)
    if resume_from:
        trainer.resume(resume_from)
    elif writer:
        _best_effort("the augmentation preview", _write_preview, views, real_train_data,
                     run_dir, recipe, encoder)
    try:
        summary = trainer.fit(train_data)
    except TrainingDiverged:
        if writer:
            _best_effort("the report", write_report, run_dir)
        raise
    method = trainer.method  # after fsdp, an ordinary module with the whole weights
    encoder = method.encoder
    if writer:
        export_encoder(encoder, run_dir / "encoder", name=encoder_name, kwargs=encoder_kwargs,
                       modality=recipe.data.modality,
                       input_shape=(None if getattr(train_data, "variable_length", False)
                                    else list(sample_shape)),
                       extra={"input_scale": splits.info.get("input_scale")}, overwrite=True)
    results = (_evaluate_run(encoder, splits, views, recipe, run_dir, trainer.device)
               if evaluate_after and (writer or recipe.eval.ranks == "all") else [])
    if writer:
        save_results(results, run_dir / "results.json")
        _best_effort("the report", write_report, run_dir)
    fabric.barrier()
    return RunResult(run_dir, encoder, method, recipe, results, summary)


def _write_run_files(run_dir: Path, recipe: Recipe, splits: DatasetSplits) -> None:
    dump_recipe(recipe, run_dir / "recipe.yaml")
    atomic_write(run_dir / "data.json", json.dumps(splits.info, indent=2).encode())


def _on_rank_zero(fabric: Any, function, *args) -> None:
    """Run `function` on rank 0 only; when it fails, every rank raises (rank 0 its own error,
    the others one that names it) instead of the others waiting forever."""
    error = None
    if fabric.is_global_zero:
        try:
            function(*args)
        except Exception as raised:  # noqa: BLE001 - re-raised below, on every rank
            error = raised
    failure = fabric.broadcast(None if error is None else f"{type(error).__name__}: {error}",
                               src=0)
    if error is not None:
        raise error
    if failure is not None:
        raise RuntimeError(f"rank 0 failed, so this process stops too: {failure}")


def _evaluate_run(encoder: nn.Module, splits: DatasetSplits, views: Views, recipe: Recipe,
                  run_dir: Path, device: torch.device) -> list[Result]:
    """The recipe's evaluation of a freshly trained encoder (`pretrain`'s last step), on at
    most `eval.limit` train and test items."""
    if recipe.eval.limit is not None:
        splits = replace(splits, train=_sampled(splits.train, recipe.eval.limit, recipe.seed),
                         test=_sampled(splits.test, recipe.eval.limit, recipe.seed))
    shard = recipe.eval.ranks == "all"
    results: list[Result] = []
    if splits.test is not None and _has_labels(splits.train):
        results = evaluate_splits(
            encoder, splits, protocols=recipe.eval.protocols,
            labels_per_class=recipe.eval.labels_per_class, seeds=recipe.eval.few_label_seeds,
            raw_baseline=recipe.eval.raw_baseline, device=device,
            batch_size=recipe.eval.batch_size,
            embeddings_sample=run_dir / EMBEDDINGS_NAME if rank() == 0 else None,
            strict=False, shard=shard,
        )
    results += extra_results(encoder, splits, device=device, batch_size=recipe.eval.batch_size)
    if isinstance(splits.test, ArrayDataset) and len(splits.test) >= 2 and views.num_views >= 2:
        results += geometry_results(encoder, splits.test, views, device=device,
                                    split=splits.info.get("test_split", "test"))
    return results


def _best_effort(what: str, function, *args) -> None:
    """Pictures and reports must never cost a user their trained encoder: a failure here is a
    warning, not an error."""
    try:
        function(*args)
    except Exception as error:  # noqa: BLE001 - anything, by design
        warnings.warn(f"could not write {what}: {type(error).__name__}: {error}", RuntimeWarning,
                      stacklevel=2)


def _write_preview(views: Views, data: ArrayDataset | Dataset, run_dir: Path,
                   recipe: Recipe, encoder: nn.Module) -> None:
    """What the views look like, drawn before training starts: plots/views.png in the
    modality's picture style, or what the modality's own preview writes (text: views.txt)."""
    samples = preview_samples(data, seed=recipe.seed)
    preview = get_modality(recipe.data.modality).preview
    if callable(preview):
        preview(views, samples, run_dir / PLOTS_DIR, encoder=encoder, seed=recipe.seed)
        return
    write_views_preview(views, samples, run_dir / PLOTS_DIR / PREVIEW_NAME, style=preview,
                        seed=recipe.seed)


def embed(
    encoder_or_run: nn.Module | str | Path, inputs: Any, *, batch_size: int = 512,
    device: str | torch.device = "cpu", modality: str | None = None,
    encoding: str | None = None,
) -> Tensor:
    """Embeddings (N, D) of `inputs`: arrays, a .npz with `x`, a torch Dataset, a file the
    modality reads, or (text) a list of strings or a .txt file. The modality is `modality`,
    or the run's, or the one the encoder records (`modality_of`). A text file is read with
    `encoding` (default: the run's `data.options.encoding`, else UTF-8)."""
    encoder = (load_encoder(encoder_or_run, device=device)
               if isinstance(encoder_or_run, (str, Path)) else encoder_or_run)
    recipe_file = (Path(encoder_or_run) / "recipe.yaml"
                   if isinstance(encoder_or_run, (str, Path)) else None)
    recipe = load_recipe(recipe_file) if recipe_file is not None and recipe_file.exists() else None
    if modality is None:
        modality = recipe.data.modality if recipe is not None else modality_of(encoder)
    if encoding is None and recipe is not None:
        encoding = options_of(recipe.data.modality, recipe.data.options).get("encoding")
    if isinstance(inputs, Dataset):
        return embed_data(encoder, inputs, batch_size=batch_size, device=device)[0]
    config = getattr(encoder, "config", {})
    return _embed_samples(encoder, inputs, modality, scale=config.get("input_scale"),
                          batch_size=batch_size, device=device,
                          expected_shape=config.get("input_shape"),
                          reader_options={"encoding": encoding})


def _embed_samples(
    encoder: nn.Module, inputs: Any, modality: str, *, scale: float | None, batch_size: int,
    device: str | torch.device, expected_shape: list[int] | None = None,
    reader_options: dict[str, Any] | None = None,
) -> Tensor:
    """Embeddings of raw inputs read as the modality's samples (text: tokenized by the
    encoder's tokenizer); a fixed-shape encoder checks the sample shape first, except on the
    modality's free axes (a series may be longer or shorter than the training data)."""
    samples = samples_for_encoder(
        to_samples(inputs, modality, scale=scale, reader_options=reader_options), modality,
        encoder)
    if not isinstance(samples, Tensor):
        return embed_data(encoder, samples, batch_size=batch_size, device=device)[0]
    free = {axis - 1 for axis in get_modality(modality).free_axes}  # sample axes
    if expected_shape and (len(samples.shape[1:]) != len(expected_shape) or any(
            size != want for axis, (size, want) in enumerate(zip(samples.shape[1:],
                                                                 expected_shape))
            if axis not in free)):
        raise DataError(
            f"inputs have sample shape {list(samples.shape[1:])}; the encoder was trained on "
            f"{expected_shape}"
        )
    return extract_embeddings(encoder, samples, batch_size=batch_size, device=device)
