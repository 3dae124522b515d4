"""Checkpoints: written atomically, read with `weights_only=True` so loading never runs code."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from contrastlearn.core.atomic import atomic_write

CHECKPOINT_FORMAT = "contrastlearn-checkpoint-v1"


class CheckpointError(ValueError):
    """A file that is not a usable contrastlearn checkpoint."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Save a training state atomically: a crash mid-write leaves the previous file intact."""
    payload = {"format": CHECKPOINT_FORMAT, **state}
    atomic_write(path, lambda handle: torch.save(payload, handle))


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint of ours; anything else (or a pickle payload) is refused unexecuted."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, AttributeError,
            ValueError) as error:
        raise CheckpointError(
            f"refusing to load {str(path)!r}: it is not a plain-tensor contrastlearn checkpoint "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a contrastlearn checkpoint")
    return state
