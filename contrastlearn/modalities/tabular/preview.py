"""The report's picture of table views, as text (plots/views.txt): for a few rows, each
view's changed columns with their values before and after, named by the encoder's schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from contrastlearn.core.atomic import atomic_write
from contrastlearn.modalities.tabular.augment import changed_features
from contrastlearn.modalities.tabular.matching.preview import write_tuple_preview
from contrastlearn.modalities.tabular.schema import TableLayout, TableSchema

MAX_ROWS = 8
MAX_CHANGES = 6
"""Changed features listed per view (the count is always given)."""


def _feature_names(schema: TableSchema | None, layout: TableLayout) -> list[str]:
    if schema is None:
        return [f"column {j}" for j in range(layout.num_features)]
    indicators = [c.name for c in schema.numeric if c.indicator]
    return ([c.name for c in schema.numeric] + [f"{name} (missing)" for name in indicators]
            + [c.name for c in schema.categorical])


def _value(row: Tensor, feature: int, layout: TableLayout, schema: TableSchema | None) -> str:
    """A feature's value in a samples row: the number (in the table's units when the schema
    says how), or the level of a one-hot block."""
    if feature < layout.num_continuous:
        value = float(row[feature])
        if schema is not None and feature < layout.num_numeric:
            column = schema.numeric[feature]
            value = value * column.std + column.mean
            if abs(value) < 1e-5 * (abs(column.mean) + column.std):  # float32 rounding
                value = 0.0
        return f"{value:.4g}"
    group = feature - layout.num_continuous
    start = layout.num_continuous + sum(layout.cardinalities[:group])
    block = row[start:start + layout.cardinalities[group]]
    if float(block.max()) <= 0:
        return "(unseen)"
    level = int(block.argmax())
    return schema.categorical[group].levels[level] if schema is not None else f"level {level}"


def write_table_preview(views: Any, samples: Tensor, plots_dir: str | Path, *,
                        encoder: Any = None, seed: int = 0) -> Path:
    """Write `plots_dir/views.txt` for up to `MAX_ROWS` rows (the Modality's `preview`); rows
    of characters (tuple matching) are written by the matching preview."""
    from contrastlearn.report.preview import TEXT_PREVIEW_NAME

    if samples.dim() == 3:
        return write_tuple_preview(views, samples, plots_dir, encoder=encoder, seed=seed)
    schema = getattr(encoder, "schema", None)
    layout = schema.layout if schema is not None else TableLayout.plain(samples.shape[1])
    made = views(samples, torch.Generator(device=samples.device).manual_seed(seed))
    names = _feature_names(schema, layout)
    lines = []
    for row in range(min(len(samples), MAX_ROWS)):
        lines.append(f"row {row}:")
        for number, view in enumerate(made, start=1):
            changed = torch.nonzero(changed_features(samples[row:row + 1], view[row:row + 1],
                                                     layout)[0]).flatten().tolist()
            shown = [f"{names[f]} {_value(samples[row], f, layout, schema)} -> "
                     f"{_value(view[row], f, layout, schema)}" for f in changed[:MAX_CHANGES]]
            more = ", ..." if len(changed) > MAX_CHANGES else ""
            lines.append(f"  view {number}: {len(changed)} of {layout.num_features} features "
                         f"changed" + (f": {', '.join(shown)}{more}" if shown else ""))
    path = Path(plots_dir) / TEXT_PREVIEW_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, ("\n".join(lines) + "\n").encode())
    return path
