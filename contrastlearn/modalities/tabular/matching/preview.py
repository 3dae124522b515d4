"""The report's picture of tuple-matching views, as text (plots/views.txt): a few rows and
their corrupted copies, read back as text, fields separated by " | "."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor

from contrastlearn.modalities.tabular.matching.chars import decode_rows
from contrastlearn.report.preview import TEXT_PREVIEW_NAME, write_decoded_views_preview

MAX_ROWS = 8


def _row_text(row: Tensor) -> str:
    return decode_rows(row[None], separator=" | ")[0]


def write_tuple_preview(views: Any, samples: Tensor, plots_dir: str | Path, *,
                        encoder: Any = None, seed: int = 0) -> Path:
    """Write `plots_dir/views.txt` for up to `MAX_ROWS` rows of character codes (a Modality
    `preview` function; `encoder` is not needed)."""
    path = Path(plots_dir) / TEXT_PREVIEW_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    write_decoded_views_preview(views, samples[:MAX_ROWS], _row_text, path, seed=seed)
    return path
