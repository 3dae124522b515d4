"""Atomic file and folder writes: a crash mid-write leaves the previous file (or folder) intact,
and a reader never sees a half-written one. Renames are made durable by fsyncing the folder
that holds them, so that after a power cut the new name (not the old one) survives."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

TEMPORARY_SUFFIXES = (".tmp", ".old")
"""Suffixes of the hidden temporaries these writers make (`.NAME.random.tmp`), which a kill
can leave behind."""


def fsync_folder(folder: str | os.PathLike) -> None:
    """Flush a folder's entries (new names, renames) to disk; a no-op where folders cannot be
    opened (Windows)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some file systems refuse fsync on folders; the rename itself is still atomic
    finally:
        os.close(handle)


def is_temporary(name: str) -> bool:
    """Whether `name` is one of the hidden temporaries these writers make."""
    return name.startswith(".") and name.endswith(TEMPORARY_SUFFIXES)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the hidden temporaries (`.NAME.*.tmp` files and folders, `.NAME.*.old` folders)
    that a killed writer left in `folder`; only call it on a folder this library owns and
    writes alone (a run directory under its lock). Returns what was removed."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if is_temporary(entry.name):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


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
        fsync_folder(path.parent)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


OWNER_MARK = ".contrastlearn"
"""The file this library writes into every folder it makes (run directories, exports): only a
folder holding it may ever be replaced or reused, so a user's own folder is never deleted."""


def write_owner_mark(folder: str | Path, kind: str, **fields: object) -> None:
    """Mark `folder` as made by contrastlearn (`kind`: "run", "export", ...)."""
    record = {"kind": kind, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **fields}
    atomic_write(Path(folder) / OWNER_MARK, (json.dumps(record, indent=2) + "\n").encode())


def read_owner_mark(folder: str | Path) -> dict | None:
    """The mark of a folder this library made, or None (no mark, or not one of ours)."""
    try:
        record = json.loads((Path(folder) / OWNER_MARK).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "kind" in record else None


@contextmanager
def staged_folder(folder: str | Path, overwrite: bool, kind: str = "export") -> Iterator[Path]:
    """Yield an empty temporary folder beside `folder`; on success mark it as ours and rename
    it to `folder`, on failure delete it. An existing non-empty `folder` is replaced only when
    `overwrite` and only when this library made it (it holds OWNER_MARK): a folder of the
    user's is refused, never deleted."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{str(folder)!r} exists and is not a folder; choose another "
                              "output folder")
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{str(folder)!r} exists and is not empty; pass --overwrite "
                                  "(overwrite=True) to replace it")
        if read_owner_mark(folder) is None:
            raise FileExistsError(
                f"refusing to replace {str(folder)!r}: contrastlearn did not make it (no "
                f"{OWNER_MARK} file in it), so it may hold your own files; choose another "
                "output folder or empty it yourself")
    folder.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        yield stage
        write_owner_mark(stage, kind)
        _fsync_files(stage)
        os.chmod(stage, 0o755)
        if not folder.exists():
            os.replace(stage, folder)
            fsync_folder(folder.parent)
            return
        old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.",
                                    suffix=".old"))
        os.replace(folder, old)
        try:
            os.replace(stage, folder)
        except BaseException:
            os.replace(old, folder)
            raise
        fsync_folder(folder.parent)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _fsync_files(folder: Path) -> None:
    """Flush every file of a staged folder to disk before it is renamed into place, so the
    renamed folder never holds files a power cut could leave empty."""
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
