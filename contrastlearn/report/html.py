"""`report.html`: one self-contained page that shows what a run learned.

Everything the page needs is inside it (PNG plots as base64 data URIs, inline CSS, no scripts),
so it opens in any browser without a network. Each section is built from the files of the run
directory; a missing or unusable input becomes a "not applicable" note in its section instead
of an error, and the page is written to a temporary file and renamed, so a failure can never
leave a half-written report.
"""

from __future__ import annotations

import base64
import html
import json
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from contrastlearn.core.atomic import atomic_write
from contrastlearn.evaluation.result import load_results

REPORT_NAME = "report.html"
PLOTS_DIR = "plots"
PREVIEW_NAME = "views.png"
TEXT_PREVIEW_NAME = "views.txt"
"""What a room that draws no picture of its views writes instead (text: decoded views)."""
TEXT_PREVIEW_LIMIT = 50_000
"""Characters of a text preview shown; a longer one is cut there, and the page says so."""
EMBEDDINGS_NAME = "embeddings_sample.npz"
SWEEP_DIR = "sweep"
SWEEP_NAME = "sweep.json"
"""An augmentation strength sweep of the run (`contrastlearn augment --sweep --encoder RUN --out
RUN/sweep`) writes here; the report shows it when it exists."""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222;
       background: #fff; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
th { background: #f2f2f2; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; }
img { max-width: 100%; border: 1px solid #eee; }
.warning { background: #fff3cd; border: 1px solid #e0c36c; padding: .5em .8em; margin: .4em 0; }
.na { color: #777; font-style: italic; }
"""


class NotApplicable(Exception):
    """A section cannot be shown for this run; the message says why."""


class MissingDependencyWarning(UserWarning):
    """A section could not be drawn because an optional package is not installed; the
    message names the package and how to install it (the page shows the same)."""


def read_metrics(path: Path) -> list[dict]:
    """The JSON lines of metrics.jsonl; a line cut short by a crash is skipped."""
    if not path.is_file():
        raise NotApplicable(f"{path.name} is missing (the run logged no metrics)")
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    if not records:
        raise NotApplicable(f"{path.name} holds no metrics")
    return records


def _image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _settings_text(settings: dict) -> str:
    """Every setting but the per-seed values, whole (the table cell wraps; a cut would stop
    mid-word in a description of the views)."""
    shown = {key: value for key, value in settings.items()
             if key not in ("values_per_seed", "representation")}
    return ", ".join(f"{key}={value}" for key, value in shown.items())


# -- sections ---------------------------------------------------------------------------------
def _section_summary(run_dir: Path) -> str:
    rows = [["run directory", str(run_dir.resolve())],
            ["report written", time.strftime("%Y-%m-%d %H:%M:%S")]]
    summary = _read_json_object(run_dir / "training.json")
    if summary is not None:
        rows += [["status", summary.get("status", "?")],
                 ["steps", f"{summary.get('steps')} of {summary.get('planned_steps')} planned"]]
        if "seconds" in summary:
            rows.append(["training time", f"{summary['seconds']:.1f} s "
                         f"({summary.get('samples_per_second', 0):.0f} samples/s)"])
        if "final_loss" in summary:
            rows.append(["final loss", f"{summary['final_loss']:.4f}"])
    return _table(["", ""], rows)


def _read_json_object(path: Path) -> dict | None:
    """A JSON object file, or None when it is missing or not a readable JSON object."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def run_warnings(run_dir: Path) -> list[str]:
    """Everything a reader must not miss: divergence, collapse, an early stop, missing parts."""
    found: list[str] = []
    training = run_dir / "training.json"
    summary = _read_json_object(training)
    if summary is not None:
        status = summary.get("status")
        if status == "diverged":
            found.append("training diverged (NaN/Inf); no encoder was exported, the last good "
                         "state is checkpoints/last.ckpt")
        elif status == "stopped_early":
            found.append(f"training stopped early: {summary.get('steps')} of "
                         f"{summary.get('planned_steps')} planned steps (train.max_steps)")
        listed = summary.get("warnings")
        found += [str(w) for w in (listed if isinstance(listed, list) else []) if w not in found]
    else:
        found.append("no training.json: the run did not finish training")
    try:
        records = read_metrics(run_dir / "metrics.jsonl")
    except NotApplicable:
        records = []
    collapsed = [r["step"] for r in records if r.get("collapse_warning")]
    if collapsed:
        found.append(f"collapse warnings at {len(collapsed)} logged step(s), first at step "
                     f"{collapsed[0]}, last at step {collapsed[-1]}")
    return found


def _section_warnings(run_dir: Path) -> str:
    found = run_warnings(run_dir)
    if not found:
        return "<p>No warnings: training completed, no collapse detected.</p>"
    return "".join(f'<div class="warning">{html.escape(text)}</div>' for text in found)


def _section_recipe(run_dir: Path) -> str:
    path = run_dir / "recipe.yaml"
    if not path.is_file():
        raise NotApplicable("recipe.yaml is missing")
    return f"<pre>{html.escape(path.read_text())}</pre>"


def _section_data(run_dir: Path) -> str:
    path = run_dir / "data.json"
    if not path.is_file():
        raise NotApplicable("data.json is missing")
    info = json.loads(path.read_text())
    return _table(["key", "value"], [[key, json.dumps(value)] for key, value in info.items()])


def _section_preview(run_dir: Path) -> str:
    path = run_dir / PLOTS_DIR / PREVIEW_NAME
    if path.is_file():
        return ("<p>Rows are training samples; the first column is the input, the others are "
                "the augmented views the method compares.</p>"
                + _image(path.read_bytes(), "views"))
    text_path = run_dir / PLOTS_DIR / TEXT_PREVIEW_NAME
    if text_path.is_file():
        return _text_preview(text_path)
    raise NotApplicable(f"neither {PLOTS_DIR}/{PREVIEW_NAME} nor {PLOTS_DIR}/"
                        f"{TEXT_PREVIEW_NAME} exists (the run wrote no preview of its views)")


def _text_preview(path: Path) -> str:
    """A room's text preview of its views (text: each sample and its views decoded back to
    text), escaped in a <pre> block, cut at `TEXT_PREVIEW_LIMIT` characters."""
    text = path.read_text(encoding="utf-8", errors="replace")
    note = ""
    if len(text) > TEXT_PREVIEW_LIMIT:
        text = text[:TEXT_PREVIEW_LIMIT]
        note = (f'<p class="na">The first {TEXT_PREVIEW_LIMIT:,} characters of '
                f"{html.escape(path.name)} are shown.</p>")
    return ("<p>Each block is a training sample (input) and the views the method compares, "
            f"decoded back to text ({PLOTS_DIR}/{html.escape(path.name)}).</p>"
            f"<pre>{html.escape(text)}</pre>{note}")


def _section_curves(run_dir: Path) -> str:
    from contrastlearn.report.plots import plot_similarity_histograms, plot_training_curves

    records = read_metrics(run_dir / "metrics.jsonl")
    plots = run_dir / PLOTS_DIR
    parts = [_image(plot_training_curves(records, plots / "curves.png"), "training curves")]
    if any("similarity_histogram" in record for record in records):
        png = plot_similarity_histograms(records, plots / "similarity_histograms.png")
        parts.append("<h3>Positive and negative pair similarity over training</h3>"
                     + _image(png, "similarity histograms"))
    return "".join(parts)


def _section_results(run_dir: Path) -> str:
    path = run_dir / "results.json"
    if not path.is_file():
        raise NotApplicable("results.json is missing (the run was not evaluated)")
    results = load_results(path)
    if not results:
        raise NotApplicable("no evaluation: the data has no labels or no test split")
    rows = [[r.protocol, r.settings.get("representation", "encoder"), r.metric,
             "not applicable" if r.metric == "not_applicable" else r.formatted_value(), r.split,
             _settings_text(r.settings)] for r in results]
    return _table(["protocol", "representation", "metric", "value", "split", "settings"], rows)


def _cell(value: object, digits: int = 4) -> str:
    return f"{value:.{digits}g}" if isinstance(value, (int, float)) else "-"


def _section_sweep(run_dir: Path) -> str:
    """The strength sweep of `sweep/sweep.json`: a table and the plot (with the augmentation
    complexity panel when the sweep measured it)."""
    from contrastlearn.report.plots import plot_strength_sweep

    rows = json.loads((run_dir / SWEEP_DIR / SWEEP_NAME).read_text())
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise NotApplicable(f"{SWEEP_DIR}/{SWEEP_NAME} holds no sweep rows")
    measured = all("augmentation_complexity" in row for row in rows)
    png = plot_strength_sweep(
        [r["strength"] for r in rows], [r["positive_similarity"] for r in rows],
        [r["linear_probe_top1"] for r in rows], run_dir / PLOTS_DIR / "sweep.png",
        augmentation_complexity=([r["augmentation_complexity"] for r in rows] if measured
                                 else None),
        augmentation_complexity_mean=([r.get("augmentation_complexity_mean", math.nan)
                                       for r in rows] if measured else None))
    table = _table(
        ["strength", "positive similarity", "linear probe top-1", "kappa (sup)", "kappa (mean)",
         "top kernel eigenvalues"],
        [[_cell(r.get("strength")), _cell(r.get("positive_similarity")),
          _cell(r.get("linear_probe_top1")), _cell(r.get("augmentation_complexity")),
          _cell(r.get("augmentation_complexity_mean")),
          ", ".join(_cell(v, 3) for v in r.get("augmentation_kernel_eigenvalues", [])[:5]) or "-"]
         for r in rows])
    features = rows[0].get("augmentation_complexity_features", "")
    explanation = (
        "<p>kappa is the augmentation complexity of Zhai et al. (2023, arXiv 2306.00788), "
        "estimated on a fixed sample of "
        f"{html.escape(str(rows[0].get('num_complexity', '?')))} inputs "
        f"({html.escape(str(features))} as features): kappa<sup>2</sup> is the largest "
        "K(x, x) of the kernel the views induce between inputs, from 1 (views forget their "
        "input) to the sample size (each view names its input). Stronger augmentation gives a "
        "smaller kappa, so a linear probe needs fewer labels (smaller estimation error), until "
        "the views erase what the task needs (larger approximation error): the paper's "
        "trade-off puts the best strength in between.</p>") if measured else (
        "<p>This sweep predates the augmentation complexity; rerun it to add kappa.</p>")
    return explanation + table + _image(png, "augmentation strength sweep")


def _section_embedding_map(run_dir: Path, method: str = "tsne") -> str:
    from contrastlearn.report.plots import plot_embedding_map

    path = run_dir / EMBEDDINGS_NAME
    if not path.is_file():
        raise NotApplicable(f"{EMBEDDINGS_NAME} is missing (the run was not evaluated)")
    with np.load(path) as stored:
        embeddings = stored["embeddings"]
        labels = stored["labels"] if "labels" in stored.files else None
    png = plot_embedding_map(embeddings, labels, run_dir / PLOTS_DIR / "embedding_map.png",
                             method=method)
    return _image(png, "embedding map")


SECTIONS: list[tuple[str, Callable[[Path], str]]] = [
    ("Summary", _section_summary),
    ("Warnings", _section_warnings),
    ("Evaluation", _section_results),
    ("Training curves", _section_curves),
    ("Augmentation preview", _section_preview),
    ("Augmentation strength sweep", _section_sweep),
    ("Embedding map", _section_embedding_map),
    ("Data", _section_data),
    ("Recipe", _section_recipe),
]


def _section(heading: str, build: Callable[..., str], run_dir: Path,
             embedding_map: str) -> str:
    """One section's HTML; a section that cannot be built says why instead. A missing
    optional package is also a `MissingDependencyWarning`, so a console user learns it."""
    try:
        return (build(run_dir, embedding_map) if build is _section_embedding_map
                else build(run_dir))
    except NotApplicable as reason:
        return f'<p class="na">Not applicable: {html.escape(str(reason))}</p>'
    except ImportError as error:
        warnings.warn(f"the report's {heading.lower()} is not shown: {error}",
                      MissingDependencyWarning, stacklevel=3)
        return f'<p class="na">Not applicable: {html.escape(str(error))}</p>'
    except Exception as error:  # noqa: BLE001 - one bad input must not lose the page
        return (f'<p class="na">Not applicable: {html.escape(type(error).__name__)}: '
                f"{html.escape(str(error))}</p>")


def render_report(run_dir: str | Path, *, embedding_map: str = "tsne") -> str:
    """The report page of `run_dir` as an HTML string; `embedding_map` is "tsne", "umap" (needs
    umap-learn) or "pca"."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {str(run_dir)!r} does not exist")
    title = run_dir.name
    body = []
    for heading, build in SECTIONS:
        if build is _section_sweep and not (run_dir / SWEEP_DIR / SWEEP_NAME).is_file():
            continue  # shown only for a run that has a sweep
        content = _section(heading, build, run_dir, embedding_map)
        body.append(f"<h2>{html.escape(heading)}</h2>\n{content}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>contrastlearn run {html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>"
            f"<h1>contrastlearn run: {html.escape(title)}</h1>\n" + "\n".join(body)
            + "\n</body></html>\n")


def write_report(run_dir: str | Path, *, embedding_map: str = "tsne") -> Path:
    """Write `run_dir/report.html` atomically and return its path."""
    run_dir = Path(run_dir)
    page = render_report(run_dir, embedding_map=embedding_map)
    path = run_dir / REPORT_NAME
    atomic_write(path, page.encode("utf-8"))
    return path
