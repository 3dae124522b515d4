"""Checkpoints: checked for NaN/Inf before writing, written atomically with a SHA-256 of their
content (checked on load, so a damaged file is refused instead of silently changing a moment
of the optimizer), the one before kept as `previous.ckpt`, and read with `weights_only=True`
so loading never runs code."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from contrastlearn.core.atomic import atomic_write, fsync_folder

CHECKPOINT_FORMAT = "contrastlearn-checkpoint-v1"
HEADER = b"contrastlearn-checkpoint-v2 sha256:"
"""A checkpoint file is HEADER, 64 hex digits of the payload's SHA-256, a newline, then the
payload (torch.save's zip). Files of format v1 (a bare zip, no digest) still load."""
PREVIOUS_NAME = "previous.ckpt"


class CheckpointError(ValueError):
    """A file that is not a usable contrastlearn checkpoint."""


class NonFiniteState(ValueError):
    """A training state holding NaN/Inf, which must never become a checkpoint."""


def _tensors(value: Any, where: str) -> Iterator[tuple[str, Tensor]]:
    if isinstance(value, Tensor):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _tensors(item, f"{where}[{index}]")


def non_finite_entries(state: dict[str, Any]) -> list[str]:
    """Names of the floating-point tensors in `state` (weights, buffers such as BatchNorm's
    running variance, optimizer moments, anything) that hold NaN or Inf."""
    return [name for name, tensor in _tensors(state, "")
            if (tensor.is_floating_point() or tensor.is_complex())
            and not bool(torch.isfinite(tensor).all())]


def save_checkpoint(path: Path, state: dict[str, Any], keep_previous: bool = True) -> None:
    """Save a training state atomically: a crash mid-write leaves the previous file intact.
    A state with NaN/Inf anywhere is refused (NonFiniteState); with `keep_previous` the file
    being replaced stays as `previous.ckpt` beside it."""
    bad = non_finite_entries(state)
    if bad:
        raise NonFiniteState(f"{len(bad)} tensor(s) of the training state hold NaN/Inf, e.g. "
                             f"{', '.join(bad[:3])}")
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **state}, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    path = Path(path)
    if keep_previous and path.is_file():
        _keep_as_previous(path)
    atomic_write(path, HEADER + digest + b"\n" + payload)


def _keep_as_previous(path: Path) -> None:
    """Make `previous.ckpt` the file now at `path` (a hard link where the file system allows
    it, renamed into place so `previous.ckpt` is never half-written)."""
    previous = path.with_name(PREVIOUS_NAME)
    temporary = path.with_name(f".{PREVIOUS_NAME}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    try:
        os.link(path, temporary)
    except OSError:
        atomic_write(temporary, path.read_bytes())
    os.replace(temporary, previous)
    fsync_folder(path.parent)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint of ours; anything else, a file whose content no longer matches its
    digest, or a pickle payload is refused unexecuted."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    content = path.read_bytes()
    if content.startswith(HEADER):
        digest, _, payload = content[len(HEADER):].partition(b"\n")
        if hashlib.sha256(payload).hexdigest().encode() != digest:
            raise CheckpointError(
                f"{str(path)!r} is damaged: its content no longer matches the SHA-256 written "
                f"with it; resume from {PREVIOUS_NAME} beside it (--resume previous)")
    else:
        payload = content  # format v1: no digest
    try:
        state = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, AttributeError,
            ValueError) as error:
        raise CheckpointError(
            f"refusing to load {str(path)!r}: it is not a plain-tensor contrastlearn checkpoint "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a contrastlearn checkpoint")
    return state
