"""Run directories: one writer at a time, never a user's folder deleted.

A run directory carries OWNER_MARK (written by the library when it makes the run) and a lock
file held with `fcntl.flock` by the one process writing it, for the whole pretrain or resume.
A second writer is refused with the PID of the first; a lock left by a crashed process is
released by the kernel, so it never blocks a resume. `--overwrite` replaces only a marked run
holding nothing but the files a run writes, and moves the old run aside (to a trash folder in
the run's parent, deleted once the new run has finished) instead of deleting it first.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from contrastlearn.core.atomic import (
    OWNER_MARK,
    fsync_folder,
    is_temporary,
    read_owner_mark,
    remove_stale_temporaries,
    write_owner_mark,
)

LOCK_NAME = ".contrastlearn.lock"
TRASH_NAME = ".contrastlearn-trash"
CHECKPOINTS_DIR = "checkpoints"
CHECKPOINT_FILES = ("last.ckpt", "previous.ckpt")
RUN_ENTRIES = frozenset({
    OWNER_MARK, LOCK_NAME, CHECKPOINTS_DIR, "encoder", "plots", "recipe.yaml", "data.json",
    "metrics.jsonl", "training.json", "results.json", "report.html", "embeddings_sample.npz",
})
"""Everything a run writes into its directory: `--overwrite` refuses a run holding more."""


class RunDirectoryExists(FileExistsError):
    """The run directory already holds a run and neither resume nor overwrite was asked, or
    it is not a run directory that may be replaced."""


class RunDirectoryInUse(RuntimeError):
    """Another process is writing the run directory."""


class NotARunDirectory(FileNotFoundError):
    """A path given as a run directory holds no run (or no checkpoint to resume)."""


def default_run_dir(recipe_name: str) -> Path:
    return Path("runs") / f"{recipe_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def is_run_dir(path: str | Path) -> bool:
    """A folder this library made for a run (or one written before runs were marked: it has
    a recipe.yaml and a checkpoints/ folder)."""
    path = Path(path)
    mark = read_owner_mark(path)
    if mark is not None:
        return mark.get("kind") == "run"
    return (path / "recipe.yaml").is_file() and (path / CHECKPOINTS_DIR).is_dir()


def require_run_dir(path: str | Path, who: str = "this") -> Path:
    """`path` if it is a run directory, else NotARunDirectory naming the fix."""
    path = Path(path)
    if not path.is_dir() or not (path / "recipe.yaml").is_file():
        reason = "does not exist" if not path.exists() else "is not a run directory"
        raise NotARunDirectory(
            f"{str(path)!r} {reason}: {who} needs a run directory, the --out folder of "
            "`contrastlearn pretrain` (it holds recipe.yaml and encoder/)")
    return path


def checkpoint_of(path: str | Path, which: str = "last") -> Path:
    """The checkpoint a resume reads: `last` (default) or `previous` (the one before it)."""
    name = {"last": "last.ckpt", "previous": "previous.ckpt"}.get(which)
    if name is None:
        raise ValueError(f"resume from 'last' or 'previous', not {which!r}")
    checkpoint = require_run_dir(path, "--resume") \
        / CHECKPOINTS_DIR / name
    if not checkpoint.is_file():
        raise NotARunDirectory(
            f"cannot resume {str(path)!r}: it has no {name} (the run stopped before its first "
            "checkpoint); start it again with --overwrite")
    return checkpoint


def run_status(path: str | Path) -> dict:
    """What a run directory holds: `status` is running (a live process holds its lock),
    crashed (it was training when its process died), completed, diverged, interrupted,
    stopped_early, or unstarted (no step was ever checkpointed), with `pid` and `step` where
    known."""
    path = Path(path)
    summary: dict = {}
    with suppress(OSError, ValueError):
        summary = json.loads((path / "training.json").read_text())
    holder = lock_holder(path)
    step = summary.get("steps")
    if holder is not None:
        return {"status": "running", "pid": holder, "step": step}
    trained = any((path / CHECKPOINTS_DIR / name).is_file() for name in CHECKPOINT_FILES)
    status = summary.get("status")
    exported = (path / "encoder" / "config.json").is_file()
    if status in (None, "running") or (status in ("completed", "stopped_early")
                                       and not exported):  # died while exporting
        status = "crashed" if trained else "unstarted"
    return {"status": status, "pid": summary.get("pid"), "step": step}


def lock_holder(path: str | Path) -> int | None:
    """The PID of the live process (other than this one) writing the run in `path`, or
    None."""
    lock_file = Path(path) / LOCK_NAME
    if not lock_file.is_file():
        return None
    try:
        handle = os.open(lock_file, os.O_RDWR)
    except OSError:
        return None
    try:
        if _try_lock(handle):
            _unlock(handle)
            return None
        pid = _pid_in(lock_file)
        return None if pid == os.getpid() else (pid or -1)
    finally:
        os.close(handle)


@contextmanager
def open_run_dir(path: str | Path, *, resume: bool = False, overwrite: bool = False
                 ) -> Iterator[Path]:
    """Make `path` ready and hold its lock while the caller writes the run.

    New: `path` must be absent, empty, or a run that never checkpointed a step. Resume: it
    must be a run directory with a checkpoint. Overwrite: it must be a run directory (marked)
    holding only what a run writes; the old run moves to the parent's trash, deleted when the
    caller finishes without error (kept, and named, otherwise)."""
    if resume and overwrite:
        raise ValueError("choose either --resume or --overwrite, not both")
    path = Path(path)
    check_writable(path)
    if resume:
        checkpoint_of(path)
    else:
        _check_replaceable(path, overwrite)
    trash = None
    if overwrite and not resume and _occupied(path) and run_status(path)["status"] != "unstarted":
        with _locked(path):
            trash = _move_to_trash(path)
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        if not resume:
            _check_replaceable(path, overwrite=False)  # again, now that no one else can write
            _clear_unstarted(path)
            write_owner_mark(path, "run", pid=os.getpid(), host=socket.gethostname())
        remove_stale_temporaries(path)
        remove_stale_temporaries(path / CHECKPOINTS_DIR)
        try:
            yield path
        except BaseException:
            if not resume:
                _clear_unstarted(path)  # failed before its first checkpoint: leave nothing
                if not _occupied(path):
                    (path / LOCK_NAME).unlink(missing_ok=True)
                    if created:
                        _remove_if_empty(path)
            if trash is not None and not path.exists():
                os.replace(trash, path)  # nothing was trained: the replaced run comes back
                _remove_if_empty(trash.parent)
            elif trash is not None:
                warnings.warn(f"the run this one was replacing is kept in {trash}",
                              RuntimeWarning, stacklevel=3)
            raise
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
        _remove_if_empty(trash.parent)


def check_writable(path: Path) -> None:
    """Refuse, before any work, an --out that is a file or lies on a read-only place."""
    if path.exists() and not path.is_dir():
        raise RunDirectoryExists(f"--out {str(path)!r} is a file, not a folder; choose a folder "
                                 "for the run directory")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise RunDirectoryExists(f"cannot make the run directory {str(path)!r}: "
                                 f"{str(existing)!r} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write the run directory {str(path)!r}: "
                              f"{str(existing)!r} is not writable; choose another --out")


def _occupied(path: Path) -> bool:
    return path.is_dir() and any(entry.name != LOCK_NAME for entry in path.iterdir())


def _foreign_entries(path: Path) -> list[str]:
    return sorted(entry.name for entry in path.iterdir()
                  if entry.name not in RUN_ENTRIES and not is_temporary(entry.name))


def _check_replaceable(path: Path, overwrite: bool) -> None:
    if not _occupied(path):
        return
    if not is_run_dir(path):
        raise RunDirectoryExists(
            f"{str(path)!r} is not empty and contrastlearn did not make it (no {OWNER_MARK} "
            "in it), so it is never written into or replaced; choose another --out")
    state = run_status(path)
    if state["status"] == "running":
        raise RunDirectoryInUse(_in_use_message(path, state["pid"]))
    if state["status"] == "unstarted":
        return  # a run that failed before its first checkpoint: nothing in it to lose
    if not overwrite:
        where = f" at step {state['step']}" if state.get("step") is not None else ""
        raise RunDirectoryExists(
            f"run directory {str(path)!r} already holds a run ({state['status']}{where}); "
            "pass --resume to continue it or --overwrite to replace it (or choose another --out)")
    foreign = _foreign_entries(path)
    if foreign:
        raise RunDirectoryExists(
            f"refusing to overwrite {str(path)!r}: it holds files a run does not write "
            f"({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}); move them out "
            "or choose another --out")


def _clear_unstarted(path: Path) -> None:
    """Remove what a run that never checkpointed left (only the files a run writes)."""
    if not _occupied(path) or run_status(path)["status"] != "unstarted":
        return
    for entry in path.iterdir():
        if entry.name in RUN_ENTRIES - {LOCK_NAME}:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def _move_to_trash(path: Path) -> Path:
    """Rename the run aside into `<parent>/.contrastlearn-trash/`, atomically."""
    trash_root = path.parent / TRASH_NAME
    trash_root.mkdir(exist_ok=True)
    target = trash_root / f"{path.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    os.replace(path, target)
    fsync_folder(path.parent)
    return target


def _remove_if_empty(folder: Path) -> None:
    with suppress(OSError):
        folder.rmdir()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the run's lock file (flock, exclusive, not waiting) with our PID written in it."""
    lock_file = path / LOCK_NAME
    handle = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(handle):
            raise RunDirectoryInUse(_in_use_message(path, _pid_in(lock_file)))
        os.ftruncate(handle, 0)
        os.write(handle, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            _unlock(handle)
    finally:
        os.close(handle)


def _in_use_message(path: Path, pid: int | None) -> str:
    who = f"process {pid}" if pid and pid > 0 else "another process"
    return (f"run directory {str(path)!r} is being written by {who}; wait for it to finish "
            "(or stop it), or choose another --out")


def _pid_in(lock_file: Path) -> int | None:
    try:
        return int(lock_file.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


if sys.platform == "win32":  # no flock: one writer is not enforced there
    def _try_lock(handle: int) -> bool:
        return True

    def _unlock(handle: int) -> None:
        return None
else:
    import fcntl

    def _try_lock(handle: int) -> bool:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(handle: int) -> None:
        fcntl.flock(handle, fcntl.LOCK_UN)
