"""The report's picture of recsys views, as text (plots/views.txt): for a few samples, the
user, the target item and what each view holds — the history a sequence view made, or how
many training interactions a graph view kept (per layer for random walks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from contrastlearn.core.atomic import atomic_write
from contrastlearn.modalities.recsys.batch import PAD, RecBatch, check_rec_batch

MAX_SAMPLES = 8


def _describe(view: RecBatch, row: int) -> str:
    if view.sequences is not None:
        items = [int(item) for item in view.sequences[row] if int(item) != PAD]
        return "history " + " ".join("[mask]" if item < 0 else str(item) for item in items)
    if view.graph_view is not None:
        graphs = view.graph_view if isinstance(view.graph_view, tuple) else (view.graph_view,)
        total = len(view.graph) if view.graph is not None else 0
        kept = ", ".join(f"{len(graph):,}" for graph in graphs)
        return f"graph view: {kept} of {total:,} training interactions kept"
    return "the batch as it is"


def write_recsys_preview(views: Any, samples: RecBatch, plots_dir: str | Path, *,
                         encoder: Any = None, seed: int = 0) -> Path:
    """Write `plots_dir/views.txt` for up to `MAX_SAMPLES` samples (the Modality's `preview`
    hook; `encoder` is not used)."""
    from contrastlearn.report.html import TEXT_PREVIEW_NAME

    batch = check_rec_batch(samples, "the recsys preview")
    made = views(batch, torch.Generator(device=batch.device).manual_seed(seed))
    lines = []
    for row in range(min(len(batch), MAX_SAMPLES)):
        lines.append(f"sample {row}: user {int(batch.users[row])}, item "
                     f"{int(batch.items[row])}")
        lines.append(f"  original: {_describe(batch, row)}")
        lines += [f"  view {number}: {_describe(view, row)}"
                  for number, view in enumerate(made, start=1)]
    path = Path(plots_dir) / TEXT_PREVIEW_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, ("\n".join(lines) + "\n").encode())
    return path
