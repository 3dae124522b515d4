"""Recipe schema (pydantic) and YAML loading. Unknown keys and wrong types are errors that
name the key and the file."""

from __future__ import annotations

import difflib
import inspect
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class RecipeError(ValueError):
    """A recipe that cannot be used: names the file and the key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class Component(Section):
    """A registered part named by `name` and built with `kwargs`."""

    name: str
    kwargs: dict[str, Any] = Field(default_factory=dict)


class MethodComponent(Component):
    """The method, with the options that compose with it (`METHOD_OPTIONS`: pair options such
    as hard-negative mixing, feature-space views such as positive extrapolation), applied in
    order."""

    options: list[Component] = Field(default_factory=list)


class InflationConfig(Section):
    """Data inflation balanced as AdaInf does (Wang, Zhang & Wang 2024, arXiv 2403.12448; see
    `contrastlearn.data.inflation`): the real training data replicated `real_weight` times plus
    generated samples, trained with views weakened by `strength_scale`. Generated samples never
    enter the evaluation splits."""

    generated: str = "mixup"
    """A file or folder of samples in the training data's format (a .npz with x, a .npy, a
    folder the modality reads), or `mixup`: convex mixes of two real samples, a seeded
    stand-in for a generative model (tests and benchmarks)."""
    count: int | None = Field(None, ge=1)
    """mixup only: how many samples to make (default: as many as real training samples)."""
    real_weight: int = Field(10, ge=1)
    """Copies of the real data (AdaInf's real:generated mixing ratio of about 10:1)."""
    strength_scale: float = Field(0.5, ge=0.0, le=1.0)
    """Multiplier of the view policy's strength while inflated (AdaInf: weaker augmentation;
    1: unchanged)."""

    @model_validator(mode="after")
    def _count_is_for_mixup(self) -> InflationConfig:
        if self.count is not None and self.generated != "mixup":
            raise ValueError("count is for generated: mixup only (a file brings its own samples)")
        return self


class DataConfig(Section):
    dataset: str = "digits"
    modality: str = "image"
    """A registered modality (`contrastlearn.core.registry.MODALITIES`): image, timeseries,
    text, or a third-party room."""
    holdout_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    """Fraction of the training data held out (stratified, seeded) as the test split when the
    dataset has no test split of its own. It is used neither for pre-training nor for probes."""
    limit: int | None = Field(None, gt=0)
    """Use only the first `limit` training samples (quick runs)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """The modality's own options, checked against its schema (image: image_size; text:
    encoding, columns, label_column, bucket_by_length)."""
    inflation: InflationConfig | None = None
    """Train on the real data plus generated data, balanced as AdaInf does; None: real only."""


class TrainConfig(Section):
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(256, ge=2)
    optimizer: Literal["sgd", "adamw", "lars"] = "adamw"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-6, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    warmup_epochs: float = Field(1.0, ge=0)
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    precision: Literal["32-true", "bf16-mixed"] = "32-true"
    gradient_clip: float | None = Field(None, gt=0)
    accelerator: str = "auto"
    devices: int = Field(1, ge=1)
    """Processes per node (GPUs, or CPU processes with the gloo backend). With more than one,
    `batch_size` stays the global batch: each process takes an equal share of it."""
    num_nodes: int = Field(1, ge=1)
    """Machines in a multi-node run (torchrun or SLURM start one launch per node)."""
    strategy: str = "auto"
    """Lightning Fabric strategy: auto, ddp, ddp_find_unused_parameters_true, fsdp, ..."""
    sync_batchnorm: bool = False
    """Under DDP, BatchNorm statistics over the global batch (SyncBatchNorm) instead of each
    process's share."""
    accumulate_batches: int = Field(1, ge=1)
    """Split each batch into this many micro-batches, one backward each, then one optimizer
    step: the same gradients in less memory where that is exact (objectives whose loss is a
    mean of per-sample terms, models without BatchNorm); a clear error elsewhere."""
    num_workers: int = Field(0, ge=0)
    log_every_steps: int = Field(10, ge=1)
    diagnostics: bool = True
    """Log embedding diagnostics (pos/neg similarity, rank, std, ...) at every logged step."""
    histograms: int = Field(8, ge=0)
    """Record pos/neg similarity histograms at this many evenly spaced steps."""
    average_weights: bool = False
    """Export the uniform average of the encoder's weights over all steps (stochastic weight
    averaging, as TS2Vec's reference code does) instead of the last step's weights."""
    checkpoint_every_steps: int | None = Field(None, ge=1)
    """Also checkpoint every N steps."""
    checkpoint_every_seconds: float = Field(30.0, ge=0.0)
    """Checkpoint at the end of an epoch when this many seconds have passed since the last
    checkpoint (0: every epoch), and always at the end of training. Tiny epochs (TS2Vec's 200
    steps over 50 series are 33 epochs) would otherwise spend seconds writing checkpoints."""
    knn_monitor: bool = False
    """Evaluate a kNN classifier on the held-out split at the end of every epoch."""
    max_steps: int | None = Field(None, ge=1)
    """Stop after this many optimizer steps (the schedule still spans `epochs`)."""
    gradient_cache_chunk: int | None = Field(None, ge=1)
    """Gradient caching (Gao et al. 2021): encode each batch in chunks of this many samples so
    memory grows with the chunk, not the batch, with the full batch's gradients. For methods
    whose loss depends on per-sample embeddings only (simclr, simcse) and models without
    BatchNorm."""
    steps: int | None = Field(None, ge=1)
    """Train for exactly this many steps instead of `epochs` (the schedule spans them), as
    iteration-based methods like TS2Vec count their budget."""
    batch_sampler: Component | None = None
    """Which items share a batch (`contrastlearn.core.registry.BATCH_SAMPLERS`), e.g.
    `cluster_spread` (G-SimCLR: k-means pseudo-labels, no two of a pseudo-label in a batch),
    kwargs {clusters: 10, features: raw | encoder}. None: a seeded shuffle."""
    strength_schedule: Component | None = None
    """An augmentation-strength curriculum (`STRENGTH_SCHEDULES`: `linear`, `cyclical` after
    MCCL): a multiplier in [0, 1] of the view policy's strength at every step, for any room's
    views that take `strength`. Here, not under `views`, because like the learning rate it is a
    function of the training step that the trainer applies. None: constant strength."""
    sam_rho: float | None = Field(None, gt=0.0)
    """Sharpness-aware minimisation around the optimizer (Foret et al. 2021, arXiv 2010.01412):
    each step's gradient is taken at the weights moved by this radius along the gradient
    (0.05 is SAM's usual value); a second forward and backward per step. None: off."""
    forgetting_guard: Component | None = None
    """A penalty keeping an adapted pretrained encoder near its start (`contrastlearn.engine.
    forgetting`): `l2_init` (weight * ||theta - theta_0||^2, L2-SP) or `distill` (weight *
    mean(1 - cos) to a frozen copy's embeddings), kwargs {weight: ...}; logged as the metric
    `forgetting_guard`. None: off."""


PROTOCOLS = ("linear_probe", "knn", "logistic_regression", "svm", "label_fraction", "retrieval",
             "clustering", "anomaly", "query_by_example")
"""Evaluation protocols on labelled train and test embeddings (see `contrastlearn.evaluation`)."""
FEW_LABEL_PROTOCOLS = ("linear_probe", "knn", "logistic_regression", "svm")
"""Classifiers that are also run with n labels per class."""
PAIR_PROTOCOLS = ("similarity", "retrieval")
"""Protocols on explicit pairs: a/b/scores (similarity) or queries/gallery with ids."""


class EvalConfig(Section):
    protocols: list[Literal[PROTOCOLS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["linear_probe", "knn"]
    )
    labels_per_class: list[int] = Field(default_factory=lambda: [10])
    few_label_seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    raw_baseline: bool = True
    batch_size: int = Field(512, ge=1)
    limit: int | None = Field(None, ge=2)
    """At most this many train and this many test items in the evaluation after pretraining
    (a seeded random subset of each); None: all of them. For quick runs (`--quick`)."""
    ranks: Literal["zero", "all"] = "zero"
    """In a multi-process run the encoder is evaluated by rank 0 alone ("zero") or by every
    process ("all": each embeds its share, the embeddings are gathered once, and every rank
    scores the protocols and returns the results; rank 0 still writes the files)."""


class Recipe(Section):
    name: str = "custom"
    description: str = ""
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    views: Component | None = None
    """The view policy; None uses the method's own default (e.g. byol_views for BYOL)."""
    learned_views: Component | None = None
    """A trainable view generator (e.g. `autotcl`) applied on top of the view policy and
    trained with the encoder; None: views are the policy's alone."""
    encoder: Component = Field(default_factory=lambda: Component(name="small_cnn"))
    method: MethodComponent = Field(default_factory=lambda: MethodComponent(name="simclr"))
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @model_validator(mode="after")
    def _check_names(self) -> Recipe:
        for section in ("encoder", "method"):
            if not getattr(self, section).name:
                raise ValueError(f"{section}.name must not be empty")
        return self


def shipped_recipes() -> list[str]:
    """Names of the recipes that ship inside the package."""
    folder = resources.files("contrastlearn") / "recipes"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _recipe_source(name_or_path: str | Path) -> tuple[str, str]:
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise RecipeError(f"recipe file {str(path)!r} does not exist")
        return path.read_text(encoding="utf-8"), str(path)
    resource = resources.files("contrastlearn") / "recipes" / f"{name_or_path}.yaml"
    if not resource.is_file():
        known = ", ".join(shipped_recipes())
        raise RecipeError(f"unknown recipe {str(name_or_path)!r}; shipped recipes: {known}")
    return resource.read_text(encoding="utf-8"), f"recipe {name_or_path!r}"


MOVED_TO_OPTIONS = {f"data.{key}" for key in ("image_size", "encoding", "columns",
                                               "label_column", "bucket_by_length")}


def recipe_keys(model: type[BaseModel] | None = None, prefix: str = "") -> list[str]:
    """Every dotted key a recipe has (`train.lr`, `data.options`, ...), for "did you mean"."""
    keys = []
    for name, field_info in (model or Recipe).model_fields.items():
        keys.append(prefix + name)
        annotation = field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += recipe_keys(annotation, f"{prefix}{name}.")
    return keys


def did_you_mean(key: str, known: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest known key, or ''."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _format_validation_error(error: ValidationError, source: str) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            hint = (" (a modality's own keys go under data.options)"
                    if key in MOVED_TO_OPTIONS else did_you_mean(key, recipe_keys()))
            problems.append(f"unknown key {key!r}{hint}")
        else:
            problems.append(f"{key}: {item['msg']} (got {item.get('input')!r})")
    return f"invalid recipe in {source}: " + "; ".join(problems)


def _check_component(section: str, component: Component, registry, source: str,
                     passed_by_engine: set[str]) -> None:
    """The named part exists and accepts every key of its kwargs."""
    if component.name not in registry:
        known = ", ".join(registry.names())
        raise RecipeError(f"invalid recipe in {source}: {section}.name {component.name!r} is not "
                          f"a known {registry.kind}; known: {known}")
    factory = registry.get(component.name)
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = set(parameters) - passed_by_engine
    for key in component.kwargs:
        if key not in accepted:
            raise RecipeError(
                f"invalid recipe in {source}: unknown key '{section}.kwargs.{key}' for "
                f"{registry.kind} {component.name!r}; accepted: {', '.join(sorted(accepted))}"
            )


def check_components(recipe: Recipe, source: str) -> None:
    """Every named part is registered and every kwargs key is one its factory accepts."""
    from contrastlearn.core.registry import (
        AUGMENTATIONS,
        ENCODERS,
        METHOD_OPTIONS,
        METHODS,
        MODALITIES,
    )

    try:
        modality = MODALITIES.get(recipe.data.modality)
    except KeyError as error:
        raise RecipeError(f"invalid recipe in {source}: data.modality: {error.args[0]}") from None
    try:
        modality.parse_options(recipe.data.options)
    except ValueError as error:
        raise RecipeError(f"invalid recipe in {source}: {error}") from None
    _check_component("encoder", recipe.encoder, ENCODERS, source, set())
    _check_component("method", recipe.method, METHODS, source, {"encoder"})
    for index, option in enumerate(recipe.method.options):
        _check_component(f"method.options[{index}]", option, METHOD_OPTIONS, source, set())
    if recipe.views is not None:
        _check_component("views", recipe.views, AUGMENTATIONS, source, set())
    _check_schedule_parts(recipe, source)


def _check_schedule_parts(recipe: Recipe, source: str) -> None:
    """The batch sampler and strength schedule build (so bad values, such as a strength outside
    [0, 1], are refused at load), and views whose strength must change can change it."""
    from contrastlearn.core.registry import (
        AUGMENTATIONS,
        BATCH_SAMPLERS,
        METHODS,
        STRENGTH_SCHEDULES,
    )

    parts = (("train.batch_sampler", recipe.train.batch_sampler, BATCH_SAMPLERS),
             ("train.strength_schedule", recipe.train.strength_schedule, STRENGTH_SCHEDULES))
    for section, component, registry in parts:
        if component is None:
            continue
        _check_component(section, component, registry, source, set())
        try:
            registry.build(component.name, **component.kwargs)
        except (TypeError, ValueError) as error:
            raise RecipeError(f"invalid recipe in {source}: {section}: {error}") from None
    inflation = recipe.data.inflation
    needs = ("train.strength_schedule" if recipe.train.strength_schedule is not None else
             "data.inflation.strength_scale" if inflation and inflation.strength_scale != 1
             else None)
    if needs is None:
        return
    def takes_strength(name: str) -> bool:
        try:
            return "strength" in inspect.signature(AUGMENTATIONS.get(name)).parameters
        except (TypeError, ValueError):
            return False

    views = (recipe.views.name if recipe.views is not None
             else METHODS.get(recipe.method.name).default_views)
    if not takes_strength(views):
        known = ", ".join(name for name in AUGMENTATIONS.names() if takes_strength(name))
        fallback = "" if needs == "train.strength_schedule" else (
            "; or set data.inflation.strength_scale: 1")
        raise RecipeError(f"invalid recipe in {source}: {needs} changes the views' strength, but "
                          f"the view policy {views!r} has no strength setting; use one that "
                          f"has: {known}{fallback}")


def recipe_from_dict(data: dict[str, Any], source: str = "<dict>") -> Recipe:
    """Validate a recipe given as a dict; errors name every bad key and the source."""
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: a recipe must be a mapping, got {type(data).__name__}")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as error:
        raise RecipeError(_format_validation_error(error, source)) from None
    check_components(recipe, source)
    return recipe


def load_recipe(name_or_path: str | Path | None = None) -> Recipe:
    """A shipped recipe by name, a user's YAML file by path, or the default recipe (None)."""
    if name_or_path is None:
        name_or_path = "digits-simclr"
    text, source = _recipe_source(name_or_path)
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise RecipeError(f"{source} is not valid YAML: {error}") from None
    return recipe_from_dict(data, source)


def apply_overrides(recipe: Recipe, overrides: dict[str, Any]) -> Recipe:
    """Return a copy with dotted-key overrides applied (`{"train.epochs": 5}`), validated."""
    data = recipe.model_dump()
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise RecipeError(f"override {dotted!r}: {part!r} is not a recipe section"
                                  f"{did_you_mean(dotted, recipe_keys())}")
            node = node[part]
        node[leaf] = value
    return recipe_from_dict(data, "command-line overrides")


def dump_recipe(recipe: Recipe, path: Path) -> None:
    """Write the resolved recipe as YAML (atomically: resume reads it back)."""
    from contrastlearn.core.atomic import atomic_write

    atomic_write(path, yaml.safe_dump(recipe.model_dump(), sort_keys=False).encode("utf-8"))
