"""Turn whatever a user hands over (a registered name, a .npz file, a file a modality can read,
a folder, arrays, a torch Dataset, ready splits) into train/test splits of the recipe's
modality."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from contrastlearn.core.registry import DATASETS, MODALITIES
from contrastlearn.data.arrays import DataError, DatasetSplits, read_npz
from contrastlearn.data.modality import Modality, call_with_accepted

IN_MEMORY = "in-memory"
"""What a run records as its dataset when it was given arrays or a Dataset object."""

def get_modality(name: str) -> Modality:
    """The registered modality `name`; a DataError that says how to install a room whose
    optional dependencies are missing, or lists the known ones."""
    try:
        return MODALITIES.get(name)
    except KeyError as error:
        raise DataError(error.args[0]) from None


def options_of(modality: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """The modality's options (defaults filled in, validated) as a dict for its readers."""
    return get_modality(modality).parse_options(options).model_dump()


def encoder_inputs(splits: DatasetSplits) -> dict[str, Any]:
    """Encoder kwargs that come from the data (empty for most modalities)."""
    hook = get_modality(splits.modality).encoder_inputs
    return {} if hook is None else hook(splits)


def accepts(factory: Any, name: str) -> bool:
    """Whether the callable `factory` takes a keyword argument `name`."""
    try:
        return name in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def sample_shape_of(data: Any) -> tuple[int, ...]:
    """The shape of one sample of an ArrayDataset or a torch Dataset."""
    if hasattr(data, "x") and hasattr(data.x, "shape"):
        return tuple(data.x.shape[1:])
    item = data[0]
    return tuple(torch.as_tensor(item[0] if isinstance(item, (tuple, list)) else item).shape)


def filled_encoder_kwargs(factory: Any, kwargs: dict[str, Any],
                          splits: DatasetSplits) -> dict[str, Any]:
    """`kwargs` with what the data decides filled in for a factory that takes it: the
    modality's own encoder inputs (a text corpus for a tokenizer), `in_channels` and `in_dim`
    from the sample shape. A given `in_channels` that disagrees with the data is an error."""
    kwargs = dict(kwargs)
    for key, value in encoder_inputs(splits).items():
        if accepts(factory, key):
            kwargs.setdefault(key, value)
    if accepts(factory, "in_channels"):
        shape = sample_shape_of(splits.train)
        channels = shape[0]
        if kwargs.setdefault("in_channels", channels) != channels:
            raise DataError(
                f"the data has {channels} channel(s) per sample (shape {shape}) but "
                f"encoder.kwargs.in_channels is {kwargs['in_channels']}"
            )
    if accepts(factory, "in_dim"):
        kwargs.setdefault("in_dim", int(torch.tensor(sample_shape_of(splits.train)).prod()))
    return kwargs


def prepare_for_encoder(splits: DatasetSplits, encoder: Any) -> DatasetSplits:
    """The splits as tensors the encoder reads (unchanged for most modalities)."""
    hook = get_modality(splits.modality).prepare_splits
    return splits if hook is None else hook(splits, encoder)


def samples_for_encoder(samples: Any, modality: str, encoder: Any) -> Any:
    """Samples to embed as the encoder reads them (unchanged for most modalities)."""
    hook = get_modality(modality).prepare_samples
    return samples if hook is None else hook(samples, encoder)


def _read_file(path: Path, modality: str,
               options: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The arrays of a file the modality has a reader for; None when it has none. Reader
    `options` that are set (not None) go to readers that take them (e.g. text `encoding`)."""
    reader = get_modality(modality).file_reader(path)
    if reader is None:
        return None
    if not path.is_file():
        raise DataError(f"dataset file {str(path)!r} does not exist")
    return call_with_accepted(reader, path, options=options)


def _not_a_dataset(name: str, path: Path, modality: str) -> DataError:
    """The error for a path that is no dataset: it lists what the modality reads, and names
    the modality that reads this suffix when it is another one (a .ts file, an image recipe)."""
    readable = ", ".join([".npz", *sorted(get_modality(modality).file_readers)])
    others = sorted(other for other in MODALITIES.names()
                    if other != modality and MODALITIES.get(other).file_reader(path))
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
    convert = get_modality(modality).to_samples
    if isinstance(inputs, (str, Path)):
        path = Path(inputs)
        read = _read_file(path, modality, reader_options)
        if read is not None:
            return convert(read["x"], scale=scale)
        if path.suffix == ".npy":
            if not path.is_file():
                raise DataError(f"input file {str(path)!r} does not exist")
            try:
                inputs = np.load(path, allow_pickle=False)
            except ValueError as error:
                raise DataError(f"cannot read {str(path)!r} as a .npy array: {error}") from None
        else:
            inputs = read_npz(path)["x"]
    return convert(inputs, scale=scale)


def _splitter(modality: str):
    return get_modality(modality).split_arrays


def _dataset_splits(dataset: Dataset, modality: str, holdout_fraction: float,
                    seed: int) -> DatasetSplits:
    size = len(dataset)
    if size < 2:
        raise DataError(f"the dataset has {size} samples; need at least 2")
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
    cut = max(1, round(holdout_fraction * size))
    test, train = Subset(dataset, order[:cut].tolist()), Subset(dataset, order[cut:].tolist())
    info = {"name": type(dataset).__name__, "num_train": len(train), "num_test": len(test),
            "test_split": f"holdout_{holdout_fraction:g}_seed{seed}"}
    return DatasetSplits(train, test, modality, info)


def resolve_dataset(
    spec: Any, *, modality: str = "image", holdout_fraction: float = 0.2, seed: int = 0,
    reader_options: dict[str, Any] | None = None,
) -> DatasetSplits:
    """Splits from: DatasetSplits; a registered dataset name; a `.npz` path; a path with a
    suffix the modality reads (its `file_readers`, given the `reader_options` (the recipe's
    `data.options`) they take, e.g. a text file's `encoding`); a folder; an array
    `x`; a tuple `(x, y)`; a dict with x/y/x_test/y_test; or a `torch.utils.data.Dataset`
    (which is split at random, unstratified, `holdout_fraction` held out)."""
    if isinstance(spec, DatasetSplits):
        return spec
    if isinstance(spec, (str, Path)):
        name = str(spec)
        if name == IN_MEMORY:
            raise DataError("this run was trained on in-memory data (arrays or a Dataset "
                            "object): pass the data again (dataset=... or --dataset)")
        if name in DATASETS:  # a built-in takes the recipe options it accepts (a graph's size)
            return call_with_accepted(DATASETS.get(name), options=reader_options,
                                      holdout_fraction=holdout_fraction, seed=seed)
        path = Path(name)
        if path.suffix == ".npz":
            arrays = read_npz(path)
            return _splitter(modality)(**arrays, name=path.stem,
                                       holdout_fraction=holdout_fraction, seed=seed)
        if path.is_dir():
            read_folder = get_modality(modality).read_folder
            if read_folder is None:
                raise DataError(f"the {modality} modality cannot read folders")
            return call_with_accepted(read_folder, path, options=reader_options,
                                      holdout_fraction=holdout_fraction, seed=seed)
        arrays = _read_file(path, modality, reader_options)
        if arrays is None:
            raise _not_a_dataset(name, path, modality)
        return _splitter(modality)(**arrays, name=path.stem,
                                   holdout_fraction=holdout_fraction, seed=seed)
    # in-memory data: the splitter takes the recipe options it names (a recsys split's kind)
    split_options = {key: value for key, value in (reader_options or {}).items()
                     if key not in ("x", "y", "x_test", "y_test")}
    if isinstance(spec, dict):
        return call_with_accepted(_splitter(modality), options=split_options, **spec,
                                  name="arrays", holdout_fraction=holdout_fraction, seed=seed)
    if isinstance(spec, tuple) and len(spec) in (2, 4):
        keys = ("x", "y", "x_test", "y_test")[: len(spec)]
        return call_with_accepted(_splitter(modality), options=split_options,
                                  **dict(zip(keys, spec)), name="arrays",
                                  holdout_fraction=holdout_fraction, seed=seed)
    if isinstance(spec, (np.ndarray, torch.Tensor)):
        return call_with_accepted(_splitter(modality), spec, options=split_options,
                                  name="arrays", holdout_fraction=holdout_fraction, seed=seed)
    if isinstance(spec, Dataset):
        return _dataset_splits(spec, get_modality(modality).name, holdout_fraction, seed)
    if get_modality(modality).accepts_objects:  # e.g. text: a list of strings, a TextDataset
        return call_with_accepted(_splitter(modality), spec, options=split_options,
                                  name=type(spec).__name__, holdout_fraction=holdout_fraction,
                                  seed=seed)
    raise DataError(f"cannot use {type(spec).__name__} as a dataset")


def dataset_modality(spec: Any) -> str | None:
    """The modality whose data `spec` is, when it can be told without reading it: a registered
    dataset's room, or the one room that reads a file's suffix (a folder or arrays: None)."""
    if not isinstance(spec, (str, Path)):
        return None
    name = str(spec)
    if name in DATASETS:
        return DATASETS.tags(name).get("modality")
    path = Path(name)
    if path.suffix in ("", ".npz") or path.is_dir():
        return None
    readers = [room for room in MODALITIES.names() if MODALITIES.get(room).file_reader(path)]
    return readers[0] if len(readers) == 1 else None
