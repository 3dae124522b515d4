"""In-memory datasets of arrays: validation, held-out splits and `.npz` files."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor


class DataError(ValueError):
    """Data that cannot be used: says what is wrong and where."""


@dataclass
class ArrayDataset:
    """Samples `x` (N, ...) as a float tensor, optional integer labels `y` (N,), and item ids.

    Items with the same id are the same thing (duplicates): objectives never use them as
    negatives of each other.
    """

    x: Tensor
    y: Tensor | None = None
    ids: Tensor | None = None
    name: str = "data"

    variable_length: ClassVar[bool] = False
    """Whether samples differ in shape (token ids): then no fixed input shape is recorded."""

    def __post_init__(self) -> None:
        if self.ids is None:
            self.ids = torch.arange(len(self.x))

    def __len__(self) -> int:
        return len(self.x)

    def batch_x(self, indices: Tensor) -> Tensor:
        """The samples of one batch (subclasses may trim padding)."""
        return self.x[indices]

    def raw_inputs(self) -> Any:
        """What the modality's raw-input baseline (`Modality.raw_features`) reads: the
        samples (records of several modalities override it)."""
        return self.x

    def subset(self, indices: Tensor) -> ArrayDataset:
        return replace(self, x=self.x[indices], y=None if self.y is None else self.y[indices],
                       ids=self.ids[indices])


@dataclass
class DatasetSplits:
    """What a dataset loader returns: a train split, an optional test split, and a summary."""

    train: ArrayDataset
    test: ArrayDataset | None
    modality: str = "image"
    info: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    """Evaluation sets beyond train/test a dataset ships (e.g. text retrieval queries)."""


NUMERIC_KINDS = "fiub"
"""numpy dtype kinds of real numbers: float, signed and unsigned integer, bool."""


def _short_name(what: str) -> str:
    """The array's own name in a description such as "digits: x_test" (x_test), for fixes."""
    return what.rsplit(": ", 1)[-1].split()[0] if what.strip() else "x"


def _numpy_dtype(array: Any, what: str) -> np.dtype:
    """The dtype `array` has or would have as a numpy array; a ragged list is a DataError."""
    dtype = getattr(array, "dtype", None)
    if isinstance(dtype, np.dtype):
        return dtype
    try:
        return np.asarray(array).dtype
    except ValueError:
        raise DataError(f"{what} is a ragged sequence (samples of different shapes); give one "
                        "array of shape (N, ...) with every sample the same shape") from None


def not_real_reason(dtype: np.dtype | torch.dtype, what: str) -> str | None:
    """Why an array of `dtype` cannot be used as real-valued samples, with the fix; None when
    it can. Complex numbers would otherwise lose their imaginary part without a word."""
    name = _short_name(what)
    if isinstance(dtype, torch.dtype):  # a tensor is numeric; only complex is refused
        kind, shown = ("c" if dtype.is_complex else "f"), str(dtype).removeprefix("torch.")
    else:
        kind, shown = dtype.kind, str(dtype)
    if kind in NUMERIC_KINDS:
        return None
    if kind == "c":
        return (f"{what} has dtype {shown}; contrastlearn needs real numbers: pass {name}.real, "
                f"np.abs({name}), or both stacked as channels")
    if kind in "US":
        return (f"{what} has dtype {shown} (strings); contrastlearn needs numeric data here: "
                f"convert numbers written as text with {name}.astype(np.float32), or train on "
                "text with the text modality (data.modality=text)")
    if kind == "O":
        return (f"{what} has dtype object; contrastlearn needs numeric data: convert it with "
                f"np.asarray({name}, dtype=np.float32)")
    return (f"{what} has dtype {shown}; contrastlearn needs numeric data: convert it to a float "
            "array first")


def check_real_numbers(array: Any, what: str) -> None:
    """Refuse arrays of strings, Python objects, complex numbers or dates: a DataError that
    names the array, its dtype and the fix, where numpy or torch would fail with a raw error
    or drop imaginary parts silently."""
    dtype = array.dtype if isinstance(array, Tensor) else _numpy_dtype(array, what)
    reason = not_real_reason(dtype, what)
    if reason is not None:
        raise DataError(reason)


def to_tensor(array: Any, what: str) -> Tensor:
    """`array` (array-like or tensor) of real numbers as a tensor of torch's nearest dtype:
    unsigned integers wider than 8 bits become int64, as torch computes little on them."""
    check_real_numbers(array, what)
    if isinstance(array, Tensor):
        return array
    array = np.asarray(array)
    if array.dtype.kind == "u" and array.dtype.itemsize > 1:
        array = array.astype(np.int64 if array.dtype.itemsize < 8 else np.float64)
    return torch.as_tensor(array)


def as_float_tensor(array: Any, what: str) -> Tensor:
    """Convert to a float32 tensor; reject empty data, data that is not real numbers, and
    NaN/Inf with a clear message."""
    tensor = to_tensor(array, what)
    if tensor.numel() == 0 or tensor.shape[0] == 0:
        raise DataError(f"{what} is empty (shape {tuple(tensor.shape)})")
    tensor = tensor.float()
    finite = torch.isfinite(tensor.reshape(len(tensor), -1)).all(dim=1)
    if not bool(finite.all()):
        bad = (~finite).nonzero().flatten()
        raise DataError(
            f"{what} contains NaN or Inf in {len(bad)} sample(s), first at index "
            f"{bad[:5].tolist()}; clean or impute the data first"
        )
    return tensor


def _padded_float_tensor(array: Any, what: str) -> Tensor:
    tensor = to_tensor(array, what)
    if tensor.numel() == 0 or tensor.shape[0] == 0:
        raise DataError(f"{what} is empty (shape {tuple(tensor.shape)})")
    return tensor.float()


def regression_target_reason(values: Any) -> str:
    """Why finite targets with non-integer values cannot be class labels. Shared by the
    data loaders and the evaluators, so a regression target meets one message wherever it
    is handed over. Only non-integer values count: many distinct integers may well be classes."""
    array = np.asarray(values, dtype=np.float64)
    fractional = np.unique(array[array != np.round(array)])
    examples = ", ".join(f"{value:g}" for value in fractional[:3])
    return (f"look like a regression target ({fractional.size} distinct non-integer values, "
            f"e.g. {examples}); classification protocols (svm, linear_probe, knn, ...) need "
            "class labels")


def check_ids_kind(array: np.ndarray, what: str, kind: str) -> None:
    """Labels and group ids may be numbers or strings, but not complex numbers: those would
    become classes by their complex value without a word."""
    if array.dtype.kind == "c":
        name = _short_name(what)
        raise DataError(f"{what} has dtype {array.dtype}; {kind} must be integers or strings: "
                        f"pass {name}.real.astype(int) if the imaginary parts are zero")


def as_labels(labels: Any, num_samples: int, what: str) -> Tensor | None:
    """Integer class labels (N,), remapped to 0..C-1 only if they are not integers already."""
    if labels is None:
        return None
    array = np.asarray(labels)
    check_ids_kind(array, what, "class labels")
    if array.ndim != 1:
        raise DataError(f"{what} must be 1-D (one label per sample), got shape {array.shape}")
    if len(array) != num_samples:
        raise DataError(
            f"{what} has {len(array)} labels but there are {num_samples} samples; "
            "give exactly one label per sample"
        )
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise DataError(f"{what} contains NaN or Inf labels")
        if not np.all(array == np.round(array)):
            raise DataError(f"{what} must be class labels, but they "
                            f"{regression_target_reason(array)}")
        array = array.astype(np.int64)
    if np.issubdtype(array.dtype, np.integer) and array.min() < 0:
        raise DataError(
            f"{what} contains negative labels (e.g. {int(array.min())}); class labels must be "
            ">= 0 (leave out y for unlabelled data)"
        )
    if not np.issubdtype(array.dtype, np.integer):
        _, array = np.unique(array, return_inverse=True)  # strings and other class names
    return torch.as_tensor(array.astype(np.int64))


def as_group_ids(groups: Any, num_samples: int, what: str) -> Tensor | None:
    """Group ids of any kind (integers, strings) as int64 codes 0..G-1, one per sample."""
    if groups is None:
        return None
    array = np.asarray(groups)
    check_ids_kind(array, what, "group ids")
    if array.ndim != 1 or len(array) != num_samples:
        raise DataError(f"{what} must be 1-D with one group id per sample ({num_samples}), got "
                        f"shape {array.shape}")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise DataError(f"{what} contains NaN or Inf")
    _, codes = np.unique(array, return_inverse=True)
    return torch.as_tensor(codes.reshape(-1).astype(np.int64))


def stratified_holdout(
    labels: Tensor | None, num_samples: int, fraction: float, seed: int
) -> tuple[Tensor, Tensor]:
    """Seeded split of indices into (kept, held_out); stratified by label when labels exist."""
    generator = torch.Generator().manual_seed(seed)
    if labels is None:
        order = torch.randperm(num_samples, generator=generator)
        cut = max(1, round(fraction * num_samples))
        return order[cut:].sort().values, order[:cut].sort().values
    held_out = []
    for value in labels.unique():
        members = (labels == value).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        held_out.append(members[: round(fraction * len(members))])
    held = torch.cat(held_out).sort().values
    keep = torch.ones(num_samples, dtype=torch.bool)
    keep[held] = False
    return keep.nonzero().flatten(), held


def arrays_to_splits(
    x: Any, y: Any = None, x_test: Any = None, y_test: Any = None, *, name: str = "arrays",
    modality: str = "image", holdout_fraction: float = 0.2, seed: int = 0,
    allow_padding: bool = False, groups: Any = None,
) -> DatasetSplits:
    """Validate arrays and make the splits; without a test split, hold out a stratified part.
    `allow_padding` accepts NaN (the caller has checked that NaN only pads series ends).
    `groups` (one id per training sample: subject, device, session) become the item ids, so
    samples of one group are positives of each other and never negatives."""
    to_tensor = _padded_float_tensor if allow_padding else as_float_tensor
    train_x = to_tensor(x, f"{name}: x")
    train_y = as_labels(y, len(train_x), f"{name}: y")
    train_ids = as_group_ids(groups, len(train_x), f"{name}: groups")
    if x_test is not None:
        test_x = to_tensor(x_test, f"{name}: x_test")
        if test_x.shape[1:] != train_x.shape[1:]:
            raise DataError(
                f"{name}: x_test samples have shape {tuple(test_x.shape[1:])} but x samples have "
                f"{tuple(train_x.shape[1:])}"
            )
        test_y = as_labels(y_test, len(test_x), f"{name}: y_test")
        if (test_y is None) != (train_y is None):
            raise DataError(f"{name}: give labels for both splits (y and y_test) or for neither")
        train = ArrayDataset(train_x, train_y, train_ids, name=name)
        test = ArrayDataset(test_x, test_y, torch.arange(len(test_x)) + len(train_x), name=name)
        split = "test"
    else:
        if y_test is not None:
            raise DataError(f"{name}: y_test given without x_test")
        full = ArrayDataset(train_x, train_y, train_ids, name=name)
        kept, held = stratified_holdout(train_y, len(full), holdout_fraction, seed)
        train, test = full.subset(kept), full.subset(held)
        split = f"holdout_{holdout_fraction:g}_seed{seed}"
    info = {
        "name": name, "num_train": len(train), "num_test": len(test),
        "sample_shape": list(train_x.shape[1:]), "test_split": split,
        "num_classes": None if train_y is None else int(train_y.max()) + 1,
    }
    if train_ids is not None:
        info["num_groups"] = int(torch.unique(train.ids).numel())
    return DatasetSplits(train, test, modality, info)


def _load_npz(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """Every array of a `.npz` file, never unpickling anything."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except Exception as error:  # zip, header and pickle errors all mean the same to a user
        raise DataError(f"cannot read {str(path)!r} as a .npz archive: {error}") from None


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays `x` and optional `y`, `x_test`, `y_test`, `groups` from a `.npz` file (no
    pickles)."""
    arrays = _load_npz(path, "dataset")
    unknown = set(arrays) - {"x", "y", "x_test", "y_test", "groups"}
    if "x" not in arrays:
        raise DataError(f"{str(path)!r} has no array 'x' (found: {sorted(arrays)})")
    if unknown:
        raise DataError(
            f"{str(path)!r} has unknown arrays {sorted(unknown)}; expected x, y, x_test, "
            "y_test, groups"
        )
    return arrays


PAIR_KEYS = ({"a", "b", "scores"}, {"queries", "gallery", "query_ids", "gallery_ids"})


def read_pairs_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Evaluation pairs from a `.npz` file (no pickles): arrays `a`, `b`, `scores` (similarity)
    and/or `queries`, `gallery`, `query_ids`, `gallery_ids` (retrieval)."""
    arrays = _load_npz(path, "pairs")
    if not any(keys <= set(arrays) for keys in PAIR_KEYS):
        raise DataError(
            f"{str(path)!r} has arrays {sorted(arrays)}; pairs need a, b, scores (similarity) "
            "or queries, gallery, query_ids, gallery_ids (retrieval)"
        )
    return arrays
