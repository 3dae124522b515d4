"""Input checks shared by every evaluator: turn whatever the caller has (numpy arrays, torch
tensors, lists) into float32 embeddings and int64 labels, and fail early with a message that
says what is wrong, instead of a shape error deep inside a matmul or a silent NaN accuracy."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from contrastlearn.data.arrays import regression_target_reason


def _as_tensor(value: Any, name: str) -> Tensor:
    if isinstance(value, Tensor):
        return value.detach()
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind in "USV":
        raise ValueError(
            f"{name} must be numeric, got an array of dtype {array.dtype}; map class names to "
            f"integers first, e.g. numpy.unique(labels, return_inverse=True)"
        )
    return torch.from_numpy(np.ascontiguousarray(array))


def _check_matrix(value: Any, name: str) -> Tensor:
    matrix = _as_tensor(value, name)
    if matrix.dim() != 2:
        raise ValueError(
            f"{name} must be 2-D (num_samples, dim), got shape {tuple(matrix.shape)}; "
            f"flatten or pool per-position features into one vector per sample first"
        )
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(matrix.shape)}")
    if matrix.dtype.is_complex:
        raise ValueError(f"{name} must be real, got dtype {matrix.dtype}")
    matrix = matrix.to(torch.float32)
    finite_rows = torch.isfinite(matrix).all(dim=1)
    if not bool(finite_rows.all()):
        bad = (~finite_rows).nonzero().flatten()
        raise ValueError(
            f"{name} contain NaN or Inf in {bad.numel()} of {matrix.shape[0]} rows "
            f"(first bad rows: {bad[:5].tolist()}); check the encoder output (diverged "
            f"training?) or drop those samples"
        )
    return matrix


def _check_labels(value: Any, name: str, num_samples: int, embeddings_name: str) -> Tensor:
    labels = _as_tensor(value, name)
    if labels.dim() != 1:
        raise ValueError(
            f"{name} must be 1-D (num_samples,), got shape {tuple(labels.shape)}"
            + ("; use labels.reshape(-1)" if labels.numel() == num_samples else "")
        )
    if labels.shape[0] != num_samples:
        raise ValueError(
            f"{name} has length {labels.shape[0]} but {embeddings_name} has {num_samples} rows; "
            f"there must be one label per embedding"
        )
    if labels.dtype == torch.bool:
        labels = labels.long()
    if labels.dtype.is_floating_point:
        if not bool(torch.isfinite(labels).all()):
            raise ValueError(f"{name} must be integer class ids, got NaN or Inf")
        if not bool((labels == labels.round()).all()):
            raise ValueError(f"{name} must be integer class ids, but they "
                             f"{regression_target_reason(labels.cpu().numpy())}")
    elif labels.dtype.is_complex:
        raise ValueError(f"{name} must be integer class ids, got dtype {labels.dtype}")
    return labels.to(torch.int64)


def check_train_embeddings(
    train_x: Any, train_y: Any, *, device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """The train half of `check_embeddings`, for fitting a classifier without a test set."""
    train_x = _check_matrix(train_x, "train embeddings")
    train_y = _check_labels(train_y, "train labels", train_x.shape[0], "train embeddings")
    classes = torch.unique(train_y)
    if classes.numel() < 2:
        raise ValueError(
            f"train labels hold only {classes.numel()} distinct class {classes.tolist()}; a "
            f"classifier needs at least 2 classes in train"
        )
    if device is not None:
        train_x, train_y = train_x.to(device), train_y.to(device)
    return train_x, train_y


def check_embeddings(
    train_x: Any, train_y: Any, test_x: Any, test_y: Any | None, *,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """Validate an evaluation problem and return ``(train_x, train_y, test_x, test_y)`` as
    float32 (N, D) embeddings and int64 (N,) labels, on `device` (default: where they are,
    CPU for numpy input).

    Raises ValueError when embeddings are not 2-D, are empty, contain NaN/Inf (saying how many
    rows), have different dims in train and test; when labels are not 1-D integers with one per
    embedding (saying both lengths); or when the train labels hold fewer than 2 classes.
    Test labels may contain classes absent from train: classifiers count those as errors.
    `test_y=None` (predicting without labels) returns None in its place.
    """
    train_x, train_y = check_train_embeddings(train_x, train_y, device=device)
    test_x = _check_matrix(test_x, "test embeddings")
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(
            f"train embeddings have dim {train_x.shape[1]} but test embeddings have dim "
            f"{test_x.shape[1]}; both must come from the same encoder"
        )
    if test_y is not None:
        test_y = _check_labels(test_y, "test labels", test_x.shape[0], "test embeddings")
    if device is not None:
        test_x = test_x.to(device)
        test_y = None if test_y is None else test_y.to(device)
    return train_x, train_y, test_x, test_y


def encode_labels(train_y: Tensor, test_y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Map labels to contiguous class indices 0..C-1 (sorted train classes).

    Returns ``(classes, train_index, test_index)``; a test label whose class never occurs in
    train gets index -1, which no classifier predicts, so it counts as an error.
    """
    classes = torch.unique(train_y)  # sorted
    train_index = torch.searchsorted(classes, train_y)
    position = torch.searchsorted(classes, test_y).clamp(max=classes.numel() - 1)
    test_index = torch.where(classes[position] == test_y, position, torch.full_like(position, -1))
    return classes, train_index, test_index


def resolve_device(device: torch.device | str | None) -> torch.device:
    """`None` means CPU; strings like ``"cuda:0"`` become `torch.device`."""
    return torch.device("cpu") if device is None else torch.device(device)
