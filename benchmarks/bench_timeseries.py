"""Time series: TS2Vec on the aeon-bundled classification sets with TS2Vec's protocol (frozen
representations, RBF-SVM with the C grid searched on the train split, accuracy on the official
test split). Prints a markdown table (mean ± std over seeds, train seconds) and appends one JSON
line per run to the output file.

    python benchmarks/bench_timeseries.py --datasets GunPoint UnitTest --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

import contrastlearn
from contrastlearn.modalities.timeseries.data import MULTIVARIATE, UNIVARIATE

REFERENCE = {"GunPoint": 0.993, "ArrowHead": 0.789, "ItalyPowerDemand": 0.960,
             "OSULeaf": 0.847, "UnitTest": 0.909, "Covid3Month_disc": 0.628,
             "PickupGestureWiimoteZ": 0.840, "BasicMotions": 0.975, "JapaneseVowels": 0.988}
"""Yue et al.'s TS2Vec code, default settings, 2 CPU cores (from the issue)."""


def run(recipe: str, dataset: str, seed: int, out: Path) -> dict:
    result = contrastlearn.pretrain(
        recipe, dataset=dataset, out=out / f"{recipe}-{dataset}-seed{seed}", overwrite=True,
        overrides={"seed": seed, "eval.protocols": ["svm"],
                   "eval.raw_baseline": False}, progress=False)
    return {"recipe": recipe, "dataset": dataset, "seed": seed,
            "svm_accuracy": result.result("svm").value,
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
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = []
    for dataset in args.datasets:
        rows = []
        for seed in args.seeds:
            row = run(args.recipe, dataset, seed, Path(args.runs))
            rows.append(row)
            with out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
        accuracies = [row["svm_accuracy"] for row in rows]
        spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        table.append((dataset, statistics.mean(accuracies), spread, rows[0]["train_seconds"]))
    print(f"\n| dataset | {args.recipe} SVM accuracy (seeds {args.seeds}) | reference TS2Vec "
          "| train s (seed 0) |\n|---|---|---|---|")
    for dataset, mean, spread, seconds in table:
        reference = REFERENCE.get(dataset)
        shown = "-" if reference is None else f"{reference:.3f}"
        print(f"| {dataset} | {mean:.3f} ± {spread:.3f} | {shown} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
