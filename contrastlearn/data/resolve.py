"""Turn whatever a user hands over (a registered name, a .npz file, a file a modality can read,
a folder, arrays, a torch Dataset, ready splits) into train/test splits of the recipe's
modality."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
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
FileReader = Callable[[Path], dict[str, Any]]

_ARRAY_SPLITTERS: dict[str, ArraySplitter] = {}
_FOLDER_LOADERS: dict[str, FolderLoader] = {}
_SAMPLE_CONVERTERS: dict[str, Callable[..., Any]] = {}
_OBJECT_MODALITIES: set[str] = set()
_FILE_READERS: dict[str, dict[str, FileReader]] = {}
"""modality -> lower-case suffix (".ts") -> reader."""
_ENCODER_PREPARATION: dict[str, tuple[Callable[..., dict], Callable[..., DatasetSplits],
                                       Callable[..., Any]]] = {}
"""modality -> (encoder inputs from the splits, splits made ready for the built encoder,
samples made ready for it)."""


def register_modality(
    modality: str, arrays: ArraySplitter, samples: Callable[..., Any],
    folder: FolderLoader | None = None, objects: bool = False,
) -> None:
    """A modality says how its arrays become splits, how raw inputs become validated samples
    (for embedding), and optionally how a folder is read. With `objects`, its splitter also
    takes data objects `resolve_dataset` does not know (lists of texts, dataset objects)."""
    _ARRAY_SPLITTERS[modality] = arrays
    if objects:
        _OBJECT_MODALITIES.add(modality)
    _SAMPLE_CONVERTERS[modality] = samples
    if folder is not None:
        _FOLDER_LOADERS[modality] = folder


def register_encoder_preparation(
    modality: str, encoder_inputs: Callable[[DatasetSplits], dict[str, Any]],
    prepare: Callable[[DatasetSplits, Any], DatasetSplits],
    prepare_samples: Callable[[Any, Any], Any],
) -> None:
    """For modalities whose data becomes tensors only through the encoder (text: its
    tokenizer). `encoder_inputs(splits)` gives extra encoder kwargs the data decides (a corpus
    to train a tokenizer on; passed only to factories that accept them),
    `prepare(splits, encoder)` returns the splits as tensors for that encoder, and
    `prepare_samples(samples, encoder)` does the same for inputs to embed (what `to_samples`
    returned), as a tensor or a dataset `embed_data` takes."""
    _ENCODER_PREPARATION[modality] = (encoder_inputs, prepare, prepare_samples)


def encoder_inputs(splits: DatasetSplits) -> dict[str, Any]:
    """Encoder kwargs that come from the data (empty for most modalities)."""
    entry = _ENCODER_PREPARATION.get(splits.modality)
    return {} if entry is None else entry[0](splits)


def prepare_for_encoder(splits: DatasetSplits, encoder: Any) -> DatasetSplits:
    """The splits as tensors the encoder reads (unchanged for most modalities)."""
    entry = _ENCODER_PREPARATION.get(splits.modality)
    return splits if entry is None else entry[1](splits, encoder)


def samples_for_encoder(samples: Any, modality: str, encoder: Any) -> Any:
    """Samples to embed as the encoder reads them (unchanged for most modalities)."""
    entry = _ENCODER_PREPARATION.get(modality)
    return samples if entry is None else entry[2](samples, encoder)


def register_file_reader(suffixes: Iterable[str], reader: FileReader, *, modality: str) -> None:
    """Let `resolve_dataset` read files with these suffixes (matched case-insensitively) for
    `modality`. `reader(path)` gets an existing file and returns the arrays the modality's
    splitter takes, as `read_npz` does (x, y, x_test, y_test, ...); it raises DataError, naming
    the file, when the contents cannot be read. Readers are per modality because one suffix
    (.csv) means different data to different modalities."""
    readers = _FILE_READERS.setdefault(modality, {})
    for suffix in suffixes:
        readers[suffix.lower()] = reader


def _read_file(path: Path, modality: str,
               options: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The arrays of a file the modality has a reader for; None when it has none. Reader
    `options` that are set (not None) go to readers that take them (e.g. text `encoding`)."""
    reader = _FILE_READERS.get(modality, {}).get(path.suffix.lower())
    if reader is None:
        return None
    if not path.is_file():
        raise DataError(f"dataset file {str(path)!r} does not exist")
    accepted = inspect.signature(reader).parameters
    given = {key: value for key, value in (options or {}).items()
             if value is not None and key in accepted}
    return reader(path, **given)


def _not_a_dataset(name: str, path: Path, modality: str) -> DataError:
    """The error for a path that is no dataset: it lists what the modality reads, and names
    the modality that reads this suffix when it is another one (a .ts file, an image recipe)."""
    readable = ", ".join([".npz", *sorted(_FILE_READERS.get(modality, {}))])
    others = sorted(other for other, readers in _FILE_READERS.items()
                    if other != modality and path.suffix.lower() in readers)
    hint = (f"; {path.suffix} files are read by the {' and '.join(others)} modality "
            "(set data.modality)" if others else "")
    return DataError(
        f"dataset {name!r} is neither a registered dataset ({', '.join(DATASETS.names())}), "
        f"a file the {modality} modality reads ({readable}), nor a folder{hint}"
    )


def to_samples(inputs: Any, modality: str = "image", scale: float | None = None,
               reader_options: dict[str, Any] | None = None) -> Any:
    """Raw inputs (an array, a .npy file, a .npz file with `x`, or a file the modality reads)
    as the modality's validated samples, scaled as the training data was (`scale`, the run's
    `input_scale`; a file is read with the `reader_options` its reader takes, e.g. a text
    `encoding`). Text stays a list of strings: its encoder's tokenizer makes the ids."""
    _ensure_modality(modality)
    if isinstance(inputs, (str, Path)):
        path = Path(inputs)
        read = _read_file(path, modality, reader_options)
        if read is not None:
            return _SAMPLE_CONVERTERS[modality](read["x"], scale=scale)
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
    image_size: int | None = None, reader_options: dict[str, Any] | None = None,
) -> DatasetSplits:
    """Splits from: DatasetSplits; a registered dataset name; a `.npz` path; a path with a
    suffix the modality reads (`register_file_reader`, given the `reader_options` it takes,
    e.g. a text file's `encoding`); a folder; an array
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
        arrays = _read_file(path, modality, reader_options)
        if arrays is None:
            raise _not_a_dataset(name, path, modality)
        return _splitter(modality)(**arrays, name=path.stem,
                                   holdout_fraction=holdout_fraction, seed=seed)
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
    if modality in _OBJECT_MODALITIES:  # e.g. text: a list of strings, a TextDataset
        return _splitter(modality)(spec, name=type(spec).__name__,
                                   holdout_fraction=holdout_fraction, seed=seed)
    raise DataError(f"cannot use {type(spec).__name__} as a dataset")
