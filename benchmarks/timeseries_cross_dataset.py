"""Time series: candidates scored per dataset, to choose on one pool of sets and test on another.

A candidate is one run, or a balanced ensemble of runs (`contrastlearn evaluate RUN_1 RUN_2
--balance`: each member rescaled to unit total variance on the unlabeled train split, then
concatenated), named by its recipes joined with "+":

- `ts2vec`: one TS2Vec run with seed s (replicate s);
- `ts2vec+ts-instance`: a TS2Vec run and an instance-contrast run, both with seed s;
- `ts2vec+ts2vec`: two TS2Vec runs with seeds 2s and 2s + 1 (a recipe named k times in a
  candidate uses seeds k*s .. k*s + k - 1).

Every candidate is scored by TS2Vec's SVM protocol on every dataset for each replicate, one
JSON line each. The table ends with each candidate's mean over the datasets, and the rule used
to choose on a validation pool (`timeseries_validation_sets.py`): the highest mean wins, ties go
to the candidate named first. Runs are reused from `--runs` and `--reuse` when a finished run of
the shipped recipe exists, else trained.

    python benchmarks/timeseries_cross_dataset.py --candidates ts2vec ts2vec+ts-instance \\
        --datasets data/validation/{Coffee,Trace,PLAID,MNIST1D}.npz
    python benchmarks/timeseries_cross_dataset.py --smoke   # two candidates, UnitTest, 2 steps
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import contrastlearn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_timeseries import REFERENCE, run_name  # noqa: E402
from result_rows import (  # noqa: E402
    add_smoke_option,
    keep_row,
    smoke_folder,
    without_run_reports,
)
from timeseries_ensemble import member_run  # noqa: E402


def train_run(recipe: str, dataset: str, seed: int, runs: Path,
              overrides: dict | None = None) -> None:
    """Train one member with its shipped recipe (scored later, with the SVM protocol only);
    `overrides` only for quick checks (`--smoke`)."""
    contrastlearn.pretrain(recipe, dataset=dataset, out=runs / run_name(recipe, dataset, seed),
                           overwrite=True, progress=False,
                           overrides={**(overrides or {}), "seed": seed,
                                      "eval.protocols": ["svm"], "eval.raw_baseline": False})


def member_seeds(candidate: str, replicate: int) -> list[tuple[str, int]]:
    """(recipe, seed) of every member of `candidate` in `replicate`."""
    recipes = candidate.split("+")
    seen: dict[str, int] = {}
    members = []
    for recipe in recipes:
        repeats = recipes.count(recipe)
        members.append((recipe, repeats * replicate + seen.get(recipe, 0)))
        seen[recipe] = seen.get(recipe, 0) + 1
    return members


def score(candidate: str, dataset: str, replicate: int, runs: Path, reuse: list[Path],
          overrides: dict | None = None) -> dict:
    seeded = member_seeds(candidate, replicate)
    members = [member_run(recipe, dataset, seed, runs, reuse, train=train_run,
                          overrides=overrides) for recipe, seed in seeded]
    target = [str(member) for member in members]
    result = contrastlearn.evaluate(target[0] if len(target) == 1 else target, protocols=["svm"],
                                    labels_per_class=(), balance=len(target) > 1)[0]
    return {"candidate": candidate, "dataset": Path(dataset).stem, "replicate": replicate,
            "member_seeds": [seed for _, seed in seeded],
            "members": target, "balanced": len(target) > 1, "svm_accuracy": result.value,
            "train_seconds": sum(json.loads((member / "training.json").read_text())["seconds"]
                                 for member in members)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+")
    parser.add_argument("--datasets", nargs="+")
    parser.add_argument("--replicates", type=int, default=3)
    parser.add_argument("--runs", default="runs/bench-timeseries")
    parser.add_argument("--reuse", nargs="*", default=[])
    parser.add_argument("--out", default="benchmarks/results/timeseries_cross_dataset.jsonl")
    add_smoke_option(parser)
    args = parser.parse_args()
    overrides = None
    if args.smoke:
        args.candidates, args.datasets = ["ts2vec", "ts2vec+ts-instance"], ["UnitTest"]
        args.replicates, args.reuse = 1, []
        folder = smoke_folder()
        args.runs, args.out = str(folder / "runs"), str(folder / "timeseries_cross_dataset.jsonl")
        overrides = {"train.steps": 2}
        without_run_reports()
    elif not (args.candidates and args.datasets):
        parser.error("--candidates and --datasets are required (or --smoke)")
    runs, reuse, out = Path(args.runs), [Path(folder) for folder in args.reuse], Path(args.out)
    means: dict[tuple[str, str], list[float]] = {}
    for dataset in args.datasets:
        for candidate in args.candidates:
            for replicate in range(args.replicates):
                row = keep_row(out, score(candidate, dataset, replicate, runs, reuse, overrides))
                means.setdefault((Path(dataset).stem, candidate), []).append(row["svm_accuracy"])
    names = [Path(dataset).stem for dataset in args.datasets]
    print(f"\n| dataset | {' | '.join(args.candidates)} | reference TS2Vec |\n"
          f"|---|{'---|' * len(args.candidates)}---|")
    for name in names:
        cells = [f"{statistics.mean(means[name, c]):.3f} ± "
                 f"{statistics.stdev(means[name, c]) if args.replicates > 1 else 0.0:.3f}"
                 for c in args.candidates]
        reference = REFERENCE.get(name)
        print(f"| {name} | {' | '.join(cells)} | {'-' if reference is None else reference} |")
    overall = {c: statistics.mean(statistics.mean(means[name, c]) for name in names)
               for c in args.candidates}
    print(f"| mean of the {len(names)} | "
          f"{' | '.join(f'{overall[c]:.4f}' for c in args.candidates)} | |")
    reference = [name for name in names if name in REFERENCE]
    if reference and len(reference) < len(names):
        print(f"| mean of the {len(reference)} reference sets | " + " | ".join(
            f"{statistics.mean(statistics.mean(means[name, c]) for name in reference):.4f}"
            for c in args.candidates)
            + f" | {statistics.mean(REFERENCE[name] for name in reference):.4f} |")
    for replicate in range(args.replicates):
        per = [f"{c} {statistics.mean(means[name, c][replicate] for name in names):.4f}"
               for c in args.candidates]
        print(f"replicate {replicate}: {', '.join(per)}")
    best = max(args.candidates, key=lambda c: (overall[c], -args.candidates.index(c)))
    print(f"highest mean (ties to the earlier candidate): {best}")


if __name__ == "__main__":
    main()
