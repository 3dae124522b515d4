"""Time series: an ensemble of independently seeded runs of one recipe, TS2Vec's protocol.

Replicate s of a k-member ensemble concatenates the embeddings of the runs with seeds
k*s .. k*s + k - 1 (`contrastlearn evaluate RUN_1 .. RUN_k`), and is scored by the same
RBF-SVM protocol as a single run. Member runs are trained with `bench_timeseries.run` unless
a finished run of that recipe, dataset and seed already sits in `--runs` or one of
`--reuse` (for instance the single-run benchmark's run directories); a reused run must hold
the shipped recipe's settings. One JSON line per replicate goes to `--out`; the train
seconds are the sum over the members.

    python benchmarks/timeseries_ensemble.py --recipe ts2vec --members 3 --replicates 3 \\
        --reuse runs/bench-timeseries
    python benchmarks/timeseries_ensemble.py --smoke   # 2 members of 2 steps on UnitTest
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

import contrastlearn
from contrastlearn.api import resolve_run_recipe
from contrastlearn.config import load_recipe
from contrastlearn.modalities.timeseries.data import MULTIVARIATE, UNIVARIATE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_timeseries import REFERENCE, run, run_name  # noqa: E402
from result_rows import add_smoke_option, smoke_folder, without_run_reports  # noqa: E402

COMPARED = ("views", "encoder", "method", "train")
"""Recipe sections a reused run must share with the shipped recipe."""


def member_run(recipe: str, dataset: str, seed: int, runs: Path, reuse: list[Path],
               train: Callable[..., object] = run, overrides: dict | None = None) -> Path:
    """A finished run of `recipe` on `dataset` with `seed`: reused when one exists, else
    trained into `runs` by `train(recipe, dataset, seed, runs, overrides)`. `overrides` (none
    but for quick checks, `--smoke`) change the recipe that reused runs must hold and that
    new runs are trained with."""
    name = run_name(recipe, dataset, seed)
    shipped = resolve_run_recipe(recipe, overrides)
    for folder in [runs, *reuse]:
        candidate = folder / name
        training = candidate / "training.json"
        if not training.is_file():
            continue
        if json.loads(training.read_text())["status"] != "completed":
            continue
        held = load_recipe(candidate / "recipe.yaml")
        if held.seed != seed or held.data.dataset != dataset:
            continue
        differing = [section for section in COMPARED
                     if getattr(held, section) != getattr(shipped, section)]
        if differing:
            raise SystemExit(f"{candidate} differs from the {recipe!r} recipe in "
                             f"{differing}: train it again instead")
        return candidate
    train(recipe, dataset, seed, runs, overrides)
    return runs / name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="ts2vec")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--replicates", type=int, default=3)
    parser.add_argument("--datasets", nargs="+", default=[*UNIVARIATE, *MULTIVARIATE])
    parser.add_argument("--runs", default="runs/bench-timeseries")
    parser.add_argument("--reuse", nargs="*", default=[])
    parser.add_argument("--out", default="benchmarks/results/timeseries_ensemble.jsonl")
    add_smoke_option(parser)
    args = parser.parse_args()
    overrides = None
    if args.smoke:
        args.members, args.replicates, args.datasets, args.reuse = 2, 1, ["UnitTest"], []
        folder = smoke_folder()
        args.runs, args.out = str(folder / "runs"), str(folder / "timeseries_ensemble.jsonl")
        overrides = {"train.steps": 2}
        without_run_reports()
    runs, reuse = Path(args.runs), [Path(folder) for folder in args.reuse]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = []
    for dataset in args.datasets:
        accuracies, seconds = [], []
        for replicate in range(args.replicates):
            seeds = list(range(args.members * replicate, args.members * (replicate + 1)))
            members = [member_run(args.recipe, dataset, seed, runs, reuse, overrides=overrides)
                       for seed in seeds]
            svm = contrastlearn.evaluate([str(member) for member in members],
                                         protocols=["svm"], labels_per_class=())[0]
            train_seconds = sum(json.loads((member / "training.json").read_text())["seconds"]
                                for member in members)
            row = {"recipe": f"{args.recipe}-ensemble{args.members}", "dataset": dataset,
                   "seed": replicate, "member_seeds": seeds,
                   "members": [str(member) for member in members],
                   "svm_accuracy": svm.value, "train_seconds": train_seconds,
                   "threads": torch.get_num_threads(), "load_average": os.getloadavg()[0],
                   "machine": platform.processor() or platform.machine(),
                   "date": time.strftime("%Y-%m-%d")}
            with out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
            accuracies.append(svm.value)
            seconds.append(train_seconds)
        spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        table.append((dataset, statistics.mean(accuracies), spread, seconds[0]))
    print(f"\n{args.recipe}, {args.members}-member ensembles\n| dataset | SVM test accuracy "
          f"({args.replicates} replicates) | reference TS2Vec | train s (first replicate) |\n"
          "|---|---|---|---|")
    for dataset, mean, spread, seconds in table:
        reference = REFERENCE.get(dataset)
        shown = "-" if reference is None else f"{reference:.3f}"
        print(f"| {dataset} | {mean:.3f} ± {spread:.3f} | {shown} | {seconds:.0f} |")
    nine = [row[1] for row in table if row[0] in REFERENCE]
    if nine:
        print(f"| mean of the {len(nine)} reference sets | {statistics.mean(nine):.3f} | "
              f"{statistics.mean(REFERENCE[row[0]] for row in table if row[0] in REFERENCE):.3f}"
              " | |")


if __name__ == "__main__":
    main()
