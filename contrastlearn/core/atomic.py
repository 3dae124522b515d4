"""Atomic file writes: a crash mid-write leaves the previous file intact, and a reader never
sees a half-written file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
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
