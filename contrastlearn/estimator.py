"""One scikit-learn transformer for every room: pre-train an encoder on X, then embed X.

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    model = make_pipeline(ContrastiveEncoder("digits-simclr", steps=200), LogisticRegression())
    model.fit(images, labels)                                   # labels only reach the probe
    ContrastiveEncoder(modality="text").fit(sentences).transform(["a new sentence"])
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from contrastlearn.config import Recipe
from contrastlearn.data.arrays import DataError, DatasetSplits


class EncoderNotFittedError(NotFittedError, RuntimeError):
    """`transform` before `fit`: scikit-learn's NotFittedError, and a RuntimeError as the
    time-series transformer raised before it was built on this class."""


class ContrastiveEncoder(TransformerMixin, BaseEstimator):
    """Pre-train an encoder on X by a recipe (labels are ignored: the training is
    self-supervised), then map X to (n, out_dim) embeddings.

    `recipe` is a shipped recipe name, a YAML path or a Recipe; None uses the `modality`'s
    default recipe (`Modality.default_recipe`), or the library's default recipe when no
    modality is given either. `modality` defaults to the recipe's, and must match it when
    both are given. X is what `pretrain(dataset=...)` takes for that modality: image arrays
    (n, C, H, W) / (n, H, W), series (n, C, T) / (n, T) or a list of series, a list of
    strings for text; a file, folder or registered dataset name is read as `pretrain` reads
    it. `fit` trains on all of X for `steps` steps (`batch_size`, capped to the number of
    samples, and `lr` default to the recipe's; any other recipe key as `recipe_overrides`,
    dotted keys, which win). The run directory is `run_dir`, or a temporary one.
    Fitted attributes: `encoder_` (in eval mode), `run_dir_`, `modality_`, `recipe_`.
    """

    def __init__(self, recipe: str | Path | Recipe | None = None, modality: str | None = None,
                 steps: int = 200, batch_size: int | None = None, lr: float | None = None,
                 seed: int = 0, device: str = "cpu", run_dir: str | None = None,
                 recipe_overrides: dict[str, Any] | None = None,
                 progress: bool = False) -> None:
        self.recipe = recipe
        self.modality = modality
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.device = device
        self.run_dir = run_dir
        self.recipe_overrides = recipe_overrides
        self.progress = progress

    # Hooks a room's own transformer overrides (TimeSeriesEncoder: `method=`, `out_dim=`).
    def _recipe_source(self) -> str | Path | Recipe | None:
        """The recipe to train with, as the user named it (None: the modality's default)."""
        return self.recipe

    def _wanted_modality(self) -> str | None:
        """The modality the user asked for, if any."""
        return self.modality

    def _own_overrides(self) -> dict[str, Any]:
        """Recipe keys this estimator's own parameters set (before `recipe_overrides`)."""
        return {}

    def _resolve_recipe(self) -> Recipe:
        from contrastlearn.api import resolve_run_recipe
        from contrastlearn.data.resolve import get_modality

        source, wanted = self._recipe_source(), self._wanted_modality()
        if source is None and wanted is not None:
            source = get_modality(wanted).default_recipe
            if source is None:
                raise ValueError(f"the {wanted} modality has no default recipe; pass recipe=")
        recipe = resolve_run_recipe(source)
        if wanted is not None and recipe.data.modality != wanted:
            raise ValueError(f"recipe {recipe.name!r} trains on {recipe.data.modality} data, "
                             f"but modality={wanted!r}; pass a {wanted} recipe")
        return recipe

    def _training_splits(self, X: Any, recipe: Recipe) -> DatasetSplits:
        """All of X as the training split (no held-out part), validated by the modality's
        `split_arrays`. A two-sample test split is asked for and then dropped, because
        splitters hold data out only when no test split is given. A file, folder, registered
        name, dict or DatasetSplits is read as `pretrain(dataset=X)` reads it (a held-out part
        it makes is not trained on)."""
        from contrastlearn.api import load_run_data
        from contrastlearn.data.resolve import get_modality

        if isinstance(X, (str, Path, dict, DatasetSplits)):
            return load_run_data(recipe, X)
        modality = recipe.data.modality
        try:
            head = X[:2]
        except (TypeError, KeyError, IndexError):
            head = X
        splits = get_modality(modality).split_arrays(X, None, head, None, name="X",
                                                     seed=self.seed)
        info = {**splits.info, "num_train": len(splits.train), "num_test": 0,
                "test_split": "none"}
        return replace(splits, test=None, info=info)

    def fit(self, X: Any, y: Any = None) -> ContrastiveEncoder:
        """Pre-train on X; `y` is ignored (present for Pipeline compatibility)."""
        from contrastlearn.api import pretrain, resolve_run_recipe
        from contrastlearn.export import read_encoder_config

        recipe = self._resolve_recipe()
        splits = self._training_splits(X, recipe)
        count = len(splits.train)
        if count < 2:
            raise DataError(f"fit needs at least 2 samples; X has {count}")
        chosen = {"train.batch_size": self.batch_size, "train.lr": self.lr}
        overrides = {
            "train.steps": self.steps, "seed": self.seed, "eval.raw_baseline": False,
            "train.accelerator": "cuda" if str(self.device).startswith("cuda") else "cpu",
            **self._own_overrides(),
            **{key: value for key, value in chosen.items() if value is not None},
            **(self.recipe_overrides or {}),
        }
        if resolve_run_recipe(recipe, overrides).train.batch_size > count:
            overrides["train.batch_size"] = count
        out = Path(self.run_dir) if self.run_dir else Path(tempfile.mkdtemp(prefix="clenc-"))
        run = pretrain(recipe, dataset=splits, out=out, overwrite=True, overrides=overrides,
                       progress=self.progress, evaluate_after=False)
        encoder = run.encoder.eval()
        encoder.config = read_encoder_config(run.run_dir)  # input_scale etc., as load_encoder
        self.encoder_ = encoder
        self.run_dir_ = Path(run.run_dir)
        self.modality_ = run.recipe.data.modality
        self.recipe_ = run.recipe
        return self

    def _check_fitted(self) -> None:
        try:
            check_is_fitted(self, "encoder_")
        except NotFittedError as error:
            raise EncoderNotFittedError(str(error)) from None

    def transform(self, X: Any) -> np.ndarray:
        """(n, out_dim) float32 embeddings of X, read as the training data was."""
        from contrastlearn.api import embed

        self._check_fitted()
        return embed(self.encoder_, X, modality=self.modality_, device=self.device).numpy()


class TimeSeriesEncoder(ContrastiveEncoder):
    """`ContrastiveEncoder` for series, with the recipe named by `method` (see
    `contrastlearn.modalities.timeseries.sklearn_api.RECIPES`), the embedding width `out_dim`,
    and TS2Vec's poolings. Labels are ignored: the training is self-supervised.

    `fit` trains on all of X for `steps` steps with the method's shipped recipe (`batch_size`
    and `lr` default to the recipe's; other hyper-parameters as `recipe_overrides`, dotted
    keys). The run directory is `run_dir`, or a temporary one.
    `transform(X, pooling=...)` returns "max": (n, out_dim) instance embeddings; "timestamps":
    (n, length, out_dim) per-timestamp features (NaN where the series is padding); "sliding":
    (n, windows, out_dim) max-pooled embeddings of windows of `window` steps every `stride` steps;
    "pyramid": (n, out_dim * sum(levels)) maxima over the whole series, then over each of k
    equal parts for every k in `levels` (`pyramid_max_over_valid`). "max" and "pyramid"
    embeddings have unit norm when the encoder was built with `unit_norm` (ts2vec_recon_unit).
    `layers` (TS2Vec's encoder only) appends the outputs of those hidden blocks to the
    per-timestamp features before pooling (out_dim grows by hidden_dim per layer); None uses
    the encoder's own `readout_layers` (none unless the recipe sets them).
    `chunk` encodes long series `chunk` timestamps at a time (with enough context on both sides
    to give the same features for convolutional encoders), so memory stays bounded.
    The series parts live in the room (`timeseries.sklearn_api`), imported when used.
    """

    def __init__(self, method: str = "ts2vec", steps: int = 200, batch_size: int | None = None,
                 lr: float | None = None, out_dim: int = 320, seed: int = 0, device: str = "cpu",
                 run_dir: str | None = None, recipe_overrides: dict[str, Any] | None = None,
                 progress: bool = False) -> None:
        self.method = method
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.out_dim = out_dim
        self.seed = seed
        self.device = device
        self.run_dir = run_dir
        self.recipe_overrides = recipe_overrides
        self.progress = progress

    def _recipe_source(self) -> str:
        from contrastlearn.modalities.timeseries.sklearn_api import method_recipe

        return method_recipe(self.method)

    def _wanted_modality(self) -> str:
        return "timeseries"

    def _own_overrides(self) -> dict[str, Any]:
        return {"encoder.kwargs.out_dim": self.out_dim}

    def fit(self, X: Any, y: Any = None) -> TimeSeriesEncoder:
        """Pre-train on the series X (n, channels, length), (n, length) or a list of series."""
        from contrastlearn.modalities.timeseries.data import to_series_batch

        series = to_series_batch(X, "X")
        super().fit(series, y)
        self.n_channels_ = int(series.shape[1])
        return self

    def transform(self, X: Any, pooling: str = "max", window: int | None = None,
                  stride: int | None = None, chunk: int | None = None,
                  levels: Sequence[int] = (1, 2),
                  layers: Sequence[int] | None = None) -> np.ndarray:
        """Embeddings of the series X (see the class docstring for `pooling`)."""
        from contrastlearn.modalities.timeseries.sklearn_api import series_embeddings

        self._check_fitted()
        return series_embeddings(self.encoder_, X, self.n_channels_, pooling=pooling,
                                 window=window, stride=stride, chunk=chunk, levels=levels,
                                 layers=layers)


class TabularEncoder(ContrastiveEncoder):
    """`ContrastiveEncoder` for tables (DataFrames, 2-d arrays): the recipe named by `method`
    ("scarf" or "vime", `contrastlearn.modalities.tabular.sklearn_api.RECIPES`), the `encoder`
    (tabular_mlp or ft_transformer) with its `out_dim`, and the columns' kinds
    (`numeric_columns`, `categorical_columns`; the others inferred). Labels are ignored: the
    training is self-supervised, so in a Pipeline they only reach the classifier after it."""

    def __init__(self, method: str = "scarf", encoder: str = "tabular_mlp", out_dim: int = 256,
                 numeric_columns: list[str] | None = None,
                 categorical_columns: list[str] | None = None, steps: int = 200,
                 batch_size: int | None = None, lr: float | None = None, seed: int = 0,
                 device: str = "cpu", run_dir: str | None = None,
                 recipe_overrides: dict[str, Any] | None = None, progress: bool = False) -> None:
        self.method = method
        self.encoder = encoder
        self.out_dim = out_dim
        self.numeric_columns = numeric_columns
        self.categorical_columns = categorical_columns
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.device = device
        self.run_dir = run_dir
        self.recipe_overrides = recipe_overrides
        self.progress = progress

    def _recipe_source(self) -> str:
        from contrastlearn.modalities.tabular.sklearn_api import method_recipe

        return method_recipe(self.method)

    def _wanted_modality(self) -> str:
        return "tabular"

    def _column_options(self) -> dict[str, Any]:
        return {f"data.options.{key}": list(value) for key, value in (
            ("numeric_columns", self.numeric_columns),
            ("categorical_columns", self.categorical_columns)) if value is not None}

    def _own_overrides(self) -> dict[str, Any]:
        return {"encoder.name": self.encoder, "encoder.kwargs": {"out_dim": self.out_dim},
                **self._column_options()}

    def _training_splits(self, X: Any, recipe: Recipe) -> DatasetSplits:
        """All of X as training rows, read with the declared column kinds (the recipe's
        `data.options`, which the generic splitter call does not pass)."""
        from contrastlearn.api import load_run_data, resolve_run_recipe

        recipe = resolve_run_recipe(recipe, self._column_options())
        splits = load_run_data(recipe, {"x": X, "x_test": X[:2]})
        info = {**splits.info, "num_train": len(splits.train), "num_test": 0,
                "test_split": "none"}
        return replace(splits, test=None, info=info)
