"""The README's time-series table from the JSON lines that `bench_timeseries.py`,
`timeseries_ensemble.py` and `bench_ts2vec_reference.py` append: per dataset and recipe, SVM
test accuracy as mean ± std over the seeds found, and the train seconds of seed 0; the
side-by-side reference run next to it.

    python benchmarks/timeseries_table.py benchmarks/results/timeseries_*_2026-11-28.jsonl \
        benchmarks/results/ts2vec_side_by_side_2026-11-28.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from bench_timeseries import REFERENCE

from contrastlearn.modalities.timeseries.data import MULTIVARIATE, UNIVARIATE

SIDE_BY_SIDE = "reference (side by side)"
LAST_WEIGHTS = "ts2vec, last weights"
RECIPES = ("ts2vec", LAST_WEIGHTS, "ts-learned-aug", "ts-tcc", "ts-instance", "ts-softclt",
           "ts2vec-ensemble3", "ts2vec-recon")


def load_rows(paths: list[Path]) -> list[dict]:
    """Every run, labelled by recipe; side-by-side rows become `ts2vec` or the reference, and
    TS2Vec runs that exported the last step's weights are told apart. Rows of other scripts
    that a glob may pick up (the candidates of `timeseries_cross_dataset.py` and
    `timeseries_readout.py`: no recipe) are left out."""
    rows = []
    for path in paths:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if "implementation" in row:
                ours = row["implementation"] == "contrastlearn"
                row["recipe"] = "ts2vec" if ours else SIDE_BY_SIDE
            elif "recipe" not in row:
                continue
            if row["recipe"] == "ts2vec" and row.get("average_weights") is False:
                row["recipe"] = LAST_WEIGHTS
            rows.append(row)
    return rows


def cell(values: list[float]) -> str:
    if not values:
        return "-"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f} ({len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args()
    rows = load_rows(args.files)
    recipes = [r for r in RECIPES if any(row["recipe"] == r for row in rows)]
    accuracy = defaultdict(list)
    seconds = {}
    for row in rows:
        key = (row["recipe"], row["dataset"])
        accuracy[key].append(row["svm_accuracy"])
        if row["seed"] == 0:
            seconds[key] = row["train_seconds"]
    datasets = [d for d in (*UNIVARIATE, *MULTIVARIATE)
                if any(row["dataset"] == d for row in rows)]
    header = " | ".join(f"{r} acc (seeds) | {r} s" for r in recipes)
    print(f"| dataset | {header} | reference acc (issue) | reference acc, s (side by side) |")
    print("|---|" + "---|---|" * len(recipes) + "---|---|")
    for dataset in datasets:
        ours = " | ".join(
            f"{cell(accuracy[(r, dataset)])} | {seconds.get((r, dataset), float('nan')):.0f}"
            for r in recipes)
        issue = REFERENCE.get(dataset)
        side = accuracy[(SIDE_BY_SIDE, dataset)]
        side_text = (f"{side[0]:.3f}, {seconds[(SIDE_BY_SIDE, dataset)]:.0f}" if side else "-")
        print(f"| {dataset} | {ours} | {'-' if issue is None else f'{issue:.3f}'} | "
              f"{side_text} |")
    for label, chosen in (("mean of the nine", [d for d in datasets if d in REFERENCE]),
                          ("mean of all", datasets)):
        parts = []
        for recipe in recipes:
            means = [statistics.mean(accuracy[(recipe, d)]) for d in chosen
                     if accuracy[(recipe, d)]]
            total = sum(seconds.get((recipe, d), 0.0) for d in chosen)
            complete = len(means) == len(chosen)
            parts.append(f"**{statistics.mean(means):.3f}**{'' if complete else ' (partial)'}"
                         f" | {total:.0f}" if means else "- | -")
        issue = [REFERENCE[d] for d in chosen if d in REFERENCE]
        side = [accuracy[(SIDE_BY_SIDE, d)][0] for d in chosen if accuracy[(SIDE_BY_SIDE, d)]]
        side_total = sum(seconds.get((SIDE_BY_SIDE, d), 0.0) for d in chosen)
        issue_text = f"{statistics.mean(issue):.3f}" if len(issue) == len(chosen) else "-"
        side_text = f"{statistics.mean(side):.3f}, {side_total:.0f}" if side else "-"
        print(f"| {label} | {' | '.join(parts)} | {issue_text} | {side_text} |")


if __name__ == "__main__":
    main()
