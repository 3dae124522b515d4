"""What every benchmark row records about where it ran, and how rows are kept: one JSON line
per measurement, appended as soon as it is measured (a killed benchmark keeps what it did)."""

from __future__ import annotations

import json
import os
import platform
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
