"""What every benchmark row records about where it ran, and how rows are kept: one JSON line
per measurement, appended as soon as it is measured (a killed benchmark keeps what it did).

Every benchmark also takes `--smoke` (`add_smoke_option`): its smallest settings (tiny data,
one or two steps, one repeat), with rows and run directories sent to a temporary folder that is
removed at exit, so `tests/test_benchmarks_smoke.py` can check that the script still runs
without touching `benchmarks/results/`. Smoke numbers measure nothing."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch


def machine_context() -> dict:
    """Threads, load average, processor and date of the measurement."""
    return {"threads": torch.get_num_threads(), "load_average": os.getloadavg()[0],
            "machine": platform.processor() or platform.machine(),
            "date": time.strftime("%Y-%m-%d")}


def keep_row(out: Path, row: dict) -> dict:
    """Append `row` with the machine context to the JSON-lines file `out` and print it."""
    row = {**row, **machine_context()}
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)
    return row


SMOKE_HELP = ("smallest settings (tiny data, 1-2 steps, 1 repeat), rows and runs written to a "
              "temporary folder: checks that the script runs; its numbers mean nothing")


def add_smoke_option(parser: argparse.ArgumentParser) -> None:
    """The `--smoke` flag every benchmark takes."""
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)


def smoke_folder() -> Path:
    """A fresh temporary folder for a smoke run's rows and run directories, removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="contrastlearn-bench-smoke-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def without_run_reports() -> None:
    """Smoke runs only: `contrastlearn.pretrain` writes no HTML report and no augmentation
    preview (seconds of plotting per run that a smoke run does not need; the library's own tests
    cover both). Does nothing for a hook the library no longer has."""
    import contrastlearn.api as api

    for name in ("write_report", "_write_preview"):
        if hasattr(api, name):
            setattr(api, name, lambda *args, **kwargs: None)
