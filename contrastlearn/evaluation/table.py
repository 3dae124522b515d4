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
    if result.settings.get("note"):
        text += f"\n  note: {result.settings['note']}"
    return text


def _columns(header: list[str], rows: list[list[str]]) -> list[str]:
    """`header`, a rule and `rows` as lines of left-aligned columns two spaces apart."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()

    return [fmt(header), fmt(["-" * width for width in widths]), *map(fmt, rows)]


def _labels_used(result: Result) -> str:
    labels = result.settings.get("labels_per_class")
    fraction = result.settings.get("fraction")
    if labels:
        return f"{labels}/class"
    if fraction is not None and fraction < 1:
        return f"{100 * fraction:g}%"
    return "all"


def _top1_table(results: Sequence[Result], encoder_label: str) -> list[str]:
    """Rows: protocol and labels used; columns: encoder and raw baseline (top-1 accuracy)."""
    rows: dict[tuple[str, str], dict[str, Result]] = {}
    for result in results:
        key = (result.protocol, _labels_used(result))
        rows.setdefault(key, {})[result.settings.get("representation", "encoder")] = result
    lines = [[protocol, labels, _cell(cells.get("encoder")), _cell(cells.get("raw"))]
             for (protocol, labels), cells in rows.items()]
    header = ["protocol", "labels", encoder_label, "raw input"]
    return [f"top-1 accuracy on split {results[0].split!r}", *_columns(header, lines)]


def _metric_name(result: Result) -> str:
    """"similarity spearman", "retrieval recall@1"; a metric named as its protocol once."""
    if result.metric == result.protocol:
        return result.protocol
    return f"{result.protocol} {result.metric}"


def _evaluated_on(result: Result) -> str:
    """What the number was measured on: the evaluation set and how many pairs or queries."""
    settings = result.settings
    if "num_pairs" in settings:
        size = f"{settings['num_pairs']} pairs"
    elif "num_queries_evaluated" in settings:
        size = (f"{settings['num_queries_evaluated']} queries, "
                f"{settings.get('num_gallery', '?')} gallery")
    elif "num_samples" in settings:
        size = f"{settings['num_samples']} items"
    else:
        size = ""
    name = settings.get("evaluation_set")
    return ": ".join(part for part in (name, size) if part)


def _metric_cell(result: Result | None) -> str:
    if result is None:
        return "-"
    if result.settings.get("constant_similarity"):
        return "undefined (constant similarity)"
    return result.formatted_value()


def _baseline_label(representation: str) -> str:
    """Column header of a baseline representation ("raw" is the raw input)."""
    return "raw input" if representation == "raw" else representation


def _metrics_table(results: Sequence[Result], encoder_label: str) -> list[str]:
    """Scores that are not top-1 accuracies (similarity, retrieval, clustering, ranking, ...):
    one table per split, one row per metric, the encoder's value next to each baseline's
    (the raw input, most-popular ranking) when there is one."""
    lines_out: list[str] = []
    for split in dict.fromkeys(result.split for result in results):
        chosen = [result for result in results if result.split == split]
        rows: dict[tuple[str, str], dict[str, Result]] = {}
        for result in chosen:
            key = (_metric_name(result), _evaluated_on(result))
            rows.setdefault(key, {})[result.settings.get("representation", "encoder")] = result
        baselines = list(dict.fromkeys(name for cells in rows.values() for name in cells
                                       if name != "encoder"))
        has_size = any(on for _, on in rows)
        header = ["metric", encoder_label, *map(_baseline_label, baselines),
                  *(["evaluated on"] if has_size else [])]
        lines = [[name, _metric_cell(cells.get("encoder")),
                  *[_metric_cell(cells.get(baseline)) for baseline in baselines],
                  *([on or "-"] if has_size else [])]
                 for (name, on), cells in rows.items()]
        protocols = ", ".join(dict.fromkeys(result.protocol for result in chosen))
        lines_out += ([""] if lines_out else []) + [
            f"{protocols} scores on split {split!r}", *_columns(header, lines)]
    return lines_out


def _is_line(result: Result) -> bool:
    """Results printed as a sentence of their own rather than a table row."""
    return result.metric == "not_applicable" or result.metric in LOWER_IS_BETTER


def comparison_table(results: Sequence[Result], encoder_label: str = "encoder") -> str:
    """The results as people read them: a table of top-1 accuracies (protocol and labels used
    by encoder and raw baseline), a table of every other score (pair similarity, retrieval,
    clustering, ...), then one line per geometry score or protocol that did not apply. A
    table without rows is left out."""
    top1 = [r for r in results if r.metric == "top1"]
    others = [r for r in results if r.metric != "top1" and not _is_line(r)]
    parts: list[str] = []
    if top1:
        parts += _top1_table(top1, encoder_label)
    if others:
        parts += ([""] if parts else []) + _metrics_table(others, encoder_label)
    parts += [_other_line(r) for r in results if r.metric != "top1" and _is_line(r)]
    return "\n".join(parts)
