"""Time series: TS2Vec on the aeon-bundled classification sets with TS2Vec's protocol (frozen
representations, RBF-SVM with the C grid searched on the train split, accuracy on the official
test split). Prints a markdown table (mean ± std over seeds, train seconds) and appends one JSON
line per run to the output file.

Each row also carries `train_cv_accuracy`: the same SVM protocol cross-validated inside the train
split (stratified folds), a score that never sees test labels, for choosing between recipes or
view policies (`--set views.name=magnitude_views`).

    python benchmarks/bench_timeseries.py --datasets GunPoint UnitTest --seeds 0 1 2
    python benchmarks/bench_timeseries.py --smoke   # UnitTest, seed 0, 2 steps, temp rows
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from result_rows import add_smoke_option, smoke_folder, without_run_reports
from sklearn.model_selection import KFold, StratifiedKFold

import contrastlearn
from contrastlearn.api import embed_data, load_run_data
from contrastlearn.evaluation.sklearn_probes import svm
from contrastlearn.modalities.timeseries.data import MULTIVARIATE, UNIVARIATE

REFERENCE = {"GunPoint": 0.993, "ArrowHead": 0.789, "ItalyPowerDemand": 0.960,
             "OSULeaf": 0.847, "UnitTest": 0.909, "Covid3Month_disc": 0.628,
             "PickupGestureWiimoteZ": 0.840, "BasicMotions": 0.975, "JapaneseVowels": 0.988}
"""Yue et al.'s TS2Vec code, default settings, 2 CPU cores (from the issue)."""


def train_cv_accuracy(embeddings: np.ndarray, labels: np.ndarray, folds: int = 5) -> float:
    """Mean held-out accuracy of the SVM protocol over stratified folds of the train split
    (plain shuffled folds when a class has a single series)."""
    smallest = int(np.unique(labels, return_counts=True)[1].min())
    if smallest >= 2:
        splitter = StratifiedKFold(n_splits=min(folds, smallest), shuffle=True, random_state=0)
    else:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=0)
    scores = [svm(embeddings[fit], labels[fit], embeddings[held], labels[held]).value
              for fit, held in splitter.split(embeddings, labels)]
    return float(np.mean(scores))


def run_name(recipe: str, dataset: str, seed: int) -> str:
    """The run directory's name: a dataset file is named by its stem."""
    label = Path(dataset).stem if dataset.endswith(".npz") else dataset
    return f"{recipe}-{label}-seed{seed}"


def run(recipe: str, dataset: str, seed: int, out: Path,
        overrides: dict | None = None) -> dict:
    overrides = dict(overrides or {})
    result = contrastlearn.pretrain(
        recipe, dataset=dataset, out=out / run_name(recipe, dataset, seed), overwrite=True,
        overrides={**overrides, "seed": seed, "eval.protocols": ["svm"],
                   "eval.raw_baseline": False}, progress=False)
    train_x, train_y = embed_data(result.encoder, load_run_data(result.recipe, dataset).train)
    return {"recipe": recipe, "overrides": overrides, "dataset": dataset, "seed": seed,
            "svm_accuracy": result.result("svm").value,
            "train_cv_accuracy": train_cv_accuracy(train_x.numpy(), train_y.numpy()),
            "train_seconds": result.training.seconds, "steps": result.training.steps,
            "average_weights": result.recipe.train.average_weights,
            "threads": torch.get_num_threads(), "load_average": os.getloadavg()[0],
            "machine": platform.processor() or platform.machine(),
            "date": time.strftime("%Y-%m-%d")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="ts2vec")
    parser.add_argument("--datasets", nargs="+", default=[*UNIVARIATE, *MULTIVARIATE])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", default="runs/bench-timeseries")
    parser.add_argument("--out", default="benchmarks/results/timeseries.jsonl")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="recipe override, e.g. views.name=magnitude_views")
    add_smoke_option(parser)
    args = parser.parse_args()
    overrides = {key: yaml.safe_load(value)
                 for key, value in (item.split("=", 1) for item in args.set)}
    if args.smoke:
        args.datasets, args.seeds = ["UnitTest"], [0]
        overrides["train.steps"] = 2
        folder = smoke_folder()
        args.runs, args.out = str(folder / "runs"), str(folder / "timeseries.jsonl")
        without_run_reports()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = []
    for dataset in args.datasets:
        rows = []
        for seed in args.seeds:
            row = run(args.recipe, dataset, seed, Path(args.runs), overrides)
            rows.append(row)
            with out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
        accuracies = [row["svm_accuracy"] for row in rows]
        spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        cv = statistics.mean(row["train_cv_accuracy"] for row in rows)
        table.append((dataset, statistics.mean(accuracies), spread, cv, rows[0]["train_seconds"]))
    print(f"\n{args.recipe} {overrides or ''}\n| dataset | SVM test accuracy (seeds {args.seeds}) "
          "| train-split CV accuracy | reference TS2Vec | train s (first seed) |\n"
          "|---|---|---|---|---|")
    for dataset, mean, spread, cv, seconds in table:
        reference = REFERENCE.get(dataset)
        shown = "-" if reference is None else f"{reference:.3f}"
        print(f"| {dataset} | {mean:.3f} ± {spread:.3f} | {cv:.3f} | {shown} | {seconds:.0f} |")
    print(f"| mean | {statistics.mean(row[1] for row in table):.3f} "
          f"| {statistics.mean(row[3] for row in table):.3f} | | |")


if __name__ == "__main__":
    main()
