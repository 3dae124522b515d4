"""Atomic file and folder writes: a crash mid-write leaves the previous file (or folder) intact,
and a reader never sees a half-written one."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | os.PathLike, content: bytes | Callable[[BinaryIO], None]) -> None:
    """Write `content` (bytes, or a function writing to a binary file) to a temporary file in
    the same folder, fsync it, then rename it over `path`. The file keeps `path`'s existing
    permissions, or gets 0644 (mkstemp alone would make it private)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, mode)
        with os.fdopen(handle, "wb") as file_object:
            if isinstance(content, bytes):
                file_object.write(content)
            else:
                content(file_object)
            file_object.flush()
            os.fsync(file_object.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


@contextmanager
def staged_folder(folder: str | Path, overwrite: bool) -> Iterator[Path]:
    """Yield an empty temporary folder beside `folder`; on success rename it to `folder`
    (replacing an existing one only when `overwrite`), on failure delete it."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{str(folder)!r} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise FileExistsError(f"{str(folder)!r} exists and is not empty; pass --overwrite "
                              "(overwrite=True) to replace it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        yield stage
        os.chmod(stage, 0o755)
        if not folder.exists():
            os.replace(stage, folder)
            return
        old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.",
                                    suffix=".old"))
        os.replace(folder, old)
        try:
            os.replace(stage, folder)
        except BaseException:
            os.replace(old, folder)
            raise
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
