"""A plain-text table of results: the encoder next to the raw-input baseline."""

from __future__ import annotations

from collections.abc import Sequence

from contrastlearn.evaluation.result import Result


def _cell(result: Result | None) -> str:
    if result is None:
        return "-"
    if result.std is not None:
        return f"{100 * result.value:.2f} ± {100 * result.std:.2f}%"
    return f"{100 * result.value:.2f}%"


LOWER_IS_BETTER = frozenset({"alignment", "uniformity"})


def _other_line(result: Result) -> str:
    """One line for a metric that is not a top-1 accuracy (retrieval, clustering, geometry)."""
    if result.metric == "not_applicable":
        return f"{result.protocol}: not applicable ({result.settings.get('reason')})"
    name = result.protocol if result.metric == result.protocol else (
        f"{result.protocol} {result.metric}")
    if result.settings.get("representation", "encoder") != "encoder":
        name += f" ({result.settings['representation']})"
    text = f"{name} = {result.formatted_value()}"
    if result.metric in LOWER_IS_BETTER:
        text += f" ({result.settings.get('num_samples')} test items; lower is better)"
    return text


def comparison_table(results: Sequence[Result], encoder_label: str = "encoder") -> str:
    """Rows: protocol and labels used; columns: encoder and raw baseline (top-1 accuracy)."""
    rows: dict[tuple[str, str], dict[str, Result]] = {}
    others = [r for r in results if r.metric != "top1"]
    results = [r for r in results if r.metric == "top1"]
    for result in results:
        labels = result.settings.get("labels_per_class")
        fraction = result.settings.get("fraction")
        if labels:
            used = f"{labels}/class"
        elif fraction is not None and fraction < 1:
            used = f"{100 * fraction:g}%"
        else:
            used = "all"
        key = (result.protocol, used)
        rows.setdefault(key, {})[result.settings.get("representation", "encoder")] = result
    split = results[0].split if results else ""
    header = ["protocol", "labels", encoder_label, "raw input"]
    lines = [[protocol, labels, _cell(cells.get("encoder")), _cell(cells.get("raw"))]
             for (protocol, labels), cells in rows.items()]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(4)]

    def fmt(row):
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths))

    extra = [_other_line(r) for r in others]
    return "\n".join([f"top-1 accuracy on split {split!r}", fmt(header),
                      fmt(["-" * w for w in widths]), *map(fmt, lines), *extra])
