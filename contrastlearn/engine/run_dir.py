"""Run directories: created fresh, resumed, or replaced only when asked."""

from __future__ import annotations

import shutil
import time
from pathlib import Path


class RunDirectoryExists(FileExistsError):
    """The run directory already holds a run and neither resume nor overwrite was asked."""


def default_run_dir(recipe_name: str) -> Path:
    return Path("runs") / f"{recipe_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare_run_dir(path: str | Path, *, resume: bool = False, overwrite: bool = False) -> Path:
    """Make `path` ready: refuse a non-empty one unless `resume` (keep it) or `overwrite`."""
    if resume and overwrite:
        raise ValueError("choose either resume or overwrite, not both")
    path = Path(path)
    occupied = path.exists() and any(path.iterdir())
    if path.exists() and not path.is_dir():
        raise RunDirectoryExists(f"{str(path)!r} exists and is not a directory")
    if resume:
        if not (path / "checkpoints" / "last.ckpt").is_file():
            raise FileNotFoundError(f"cannot resume: no checkpoint in {str(path)!r}")
        return path
    if occupied and not overwrite:
        raise RunDirectoryExists(
            f"run directory {str(path)!r} already exists; pass --resume to continue it or "
            "--overwrite to replace it (or choose another --out)"
        )
    if occupied:
        if not ((path / "recipe.yaml").is_file() or (path / "checkpoints").is_dir()):
            raise RunDirectoryExists(
                f"refusing to overwrite {str(path)!r}: it is not a contrastlearn run directory "
                "(no recipe.yaml or checkpoints/ in it)"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path
