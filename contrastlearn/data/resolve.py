"""Turn whatever a user hands over (a registered name, a .npz file, a folder, arrays, a torch
Dataset, ready splits) into train/test splits of the recipe's modality."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from contrastlearn.data.arrays import DataError, DatasetSplits, read_npz
from contrastlearn.registry import DATASETS

IN_MEMORY = "in-memory"
"""What a run records as its dataset when it was given arrays or a Dataset object."""

ArraySplitter = Callable[..., DatasetSplits]
FolderLoader = Callable[..., DatasetSplits]

_ARRAY_SPLITTERS: dict[str, ArraySplitter] = {}
_FOLDER_LOADERS: dict[str, FolderLoader] = {}
_SAMPLE_CONVERTERS: dict[str, Callable[..., torch.Tensor]] = {}


def register_modality(
    modality: str, arrays: ArraySplitter, samples: Callable[..., torch.Tensor],
    folder: FolderLoader | None = None,
) -> None:
    """A modality says how its arrays become splits, how raw inputs become a validated sample
    tensor (for embedding), and optionally how a folder is read."""
    _ARRAY_SPLITTERS[modality] = arrays
    _SAMPLE_CONVERTERS[modality] = samples
    if folder is not None:
        _FOLDER_LOADERS[modality] = folder


def to_samples(inputs: Any, modality: str = "image", scale: float | None = None) -> torch.Tensor:
    """Raw inputs (an array, a .npy file, or a .npz file with `x`) as the modality's validated
    sample tensor, scaled as the training data was (`scale`, the run's `input_scale`)."""
    _ensure_modality(modality)
    if isinstance(inputs, (str, Path)):
        path = Path(inputs)
        if path.suffix == ".npy":
            if not path.is_file():
                raise DataError(f"input file {str(path)!r} does not exist")
            try:
                inputs = np.load(path, allow_pickle=False)
            except ValueError as error:
                raise DataError(f"cannot read {str(path)!r} as a .npy array: {error}") from None
        else:
            inputs = read_npz(path)["x"]
    return _SAMPLE_CONVERTERS[modality](inputs, scale=scale)


def _ensure_modality(modality: str) -> None:
    _splitter(modality)


def _splitter(modality: str) -> ArraySplitter:
    import contrastlearn.plugins  # noqa: F401  (registers the modalities)

    if modality not in _ARRAY_SPLITTERS:
        raise DataError(f"unknown modality {modality!r}; known: {sorted(_ARRAY_SPLITTERS)}")
    return _ARRAY_SPLITTERS[modality]


def _dataset_splits(dataset: Dataset, holdout_fraction: float, seed: int) -> DatasetSplits:
    size = len(dataset)
    if size < 2:
        raise DataError(f"the dataset has {size} samples; need at least 2")
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
    cut = max(1, round(holdout_fraction * size))
    test, train = Subset(dataset, order[:cut].tolist()), Subset(dataset, order[cut:].tolist())
    info = {"name": type(dataset).__name__, "num_train": len(train), "num_test": len(test),
            "test_split": f"holdout_{holdout_fraction:g}_seed{seed}"}
    return DatasetSplits(train, test, "custom", info)


def resolve_dataset(
    spec: Any, *, modality: str = "image", holdout_fraction: float = 0.2, seed: int = 0,
    image_size: int | None = None,
) -> DatasetSplits:
    """Splits from: DatasetSplits; a registered dataset name; a `.npz` path; a folder; an array
    `x`; a tuple `(x, y)`; a dict with x/y/x_test/y_test; or a `torch.utils.data.Dataset`
    (which is split at random, unstratified, `holdout_fraction` held out)."""
    import contrastlearn.plugins  # noqa: F401  (registers the built-in datasets)

    if isinstance(spec, DatasetSplits):
        return spec
    if isinstance(spec, (str, Path)):
        name = str(spec)
        if name == IN_MEMORY:
            raise DataError("this run was trained on in-memory data (arrays or a Dataset "
                            "object): pass the data again (dataset=... or --dataset)")
        if name in DATASETS:
            return DATASETS.build(name, holdout_fraction=holdout_fraction, seed=seed)
        path = Path(name)
        if path.suffix == ".npz":
            arrays = read_npz(path)
            return _splitter(modality)(**arrays, name=path.stem,
                                       holdout_fraction=holdout_fraction, seed=seed)
        if path.is_dir():
            _ensure_modality(modality)
            if modality not in _FOLDER_LOADERS:
                raise DataError(f"the {modality} modality cannot read folders")
            return _FOLDER_LOADERS[modality](path, image_size=image_size,
                                             holdout_fraction=holdout_fraction, seed=seed)
        raise DataError(
            f"dataset {name!r} is neither a registered dataset ({', '.join(DATASETS.names())}), "
            "a .npz file, nor a folder"
        )
    if isinstance(spec, dict):
        return _splitter(modality)(**spec, name="arrays", holdout_fraction=holdout_fraction,
                                   seed=seed)
    if isinstance(spec, tuple) and len(spec) in (2, 4):
        keys = ("x", "y", "x_test", "y_test")[: len(spec)]
        return _splitter(modality)(**dict(zip(keys, spec)), name="arrays",
                                   holdout_fraction=holdout_fraction, seed=seed)
    if isinstance(spec, (np.ndarray, torch.Tensor)):
        return _splitter(modality)(spec, name="arrays", holdout_fraction=holdout_fraction,
                                   seed=seed)
    if isinstance(spec, Dataset):
        return _dataset_splits(spec, holdout_fraction, seed)
    raise DataError(f"cannot use {type(spec).__name__} as a dataset")
