"""The options of issue 24 as an ablation: each base method alone, then with one option, same
encoder, data, budget and seeds. Prints a markdown table (mean ± std over seeds, and the
difference to the base row) and appends one JSON line per run.

    python benchmarks/bench_options.py --room image --seeds 0 1 2     # Fashion-MNIST table
    python benchmarks/bench_options.py --room timeseries              # the modality-free options
    python benchmarks/bench_options.py --room text
    python benchmarks/bench_options.py --rows simclr simclr+mochi --seeds 0   # a few rows

Protocol (image): Fashion-MNIST, the first `--train` images of the official training split
for pre-training and for the probes' labels, the official 10,000 test images for the score;
every row trains for the same number of steps, `--epochs` passes over those images at batch
256 (an inflated data set, AdaInf, sees more distinct samples in as many steps);
frozen encoder; linear probe (L-BFGS softmax regression on standardised features) and
weighted kNN (k=200). Every row uses the shipped recipe named in the table with
`train.epochs` = `--epochs`, nothing tuned on the test split: each option keeps its paper's
default setting. Time series: the ts2vec and ts-instance recipes on GunPoint (official split,
TS2Vec's SVM protocol); ts2vec's own cropping views have no strength, so the curriculum runs on
ts-instance. Text: the simcse-scratch recipe on WordNet. A row whose gain is inside the seeds'
spread did not beat its base method.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from result_rows import add_smoke_option, keep_row, smoke_folder, without_run_reports

import contrastlearn
from contrastlearn.data.resolve import resolve_dataset


def option(name: str, **kwargs: Any) -> dict:
    return {"name": name, "kwargs": kwargs}


IMAGE_ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    # label: (recipe, overrides); options keep their paper defaults
    "simclr": ("fashion-mnist-simclr", {}),
    "simclr + mochi": ("fashion-mnist-simclr-mochi", {}),
    "simclr + false-negative cancellation": ("fashion-mnist-simclr-fnc", {}),
    "simclr + debiased weights": ("fashion-mnist-simclr-debiased", {}),
    "simclr + cluster negatives (MCL)": ("fashion-mnist-simclr-mcl", {}),
    "simclr + extrapolation/interpolation": ("fashion-mnist-simclr-extrapolation", {}),
    "simclr + HaLP": ("fashion-mnist-simclr-halp", {}),
    "simclr + Hallucinator": ("fashion-mnist-simclr-hallucinator", {}),
    "simclr + CLAPS": ("fashion-mnist-simclr-claps", {}),
    "simclr + soft targets (SAN)": ("fashion-mnist-simclr-soft-targets", {}),
    "simclr + learnable temperature": ("fashion-mnist-simclr",
                                       {"method.kwargs.learnable_temperature": True}),
    "simclr + SAM": ("fashion-mnist-simclr-sam", {}),
    "simclr + G-SimCLR batches": ("fashion-mnist-gsimclr", {}),
    "simclr + strength curriculum": ("fashion-mnist-simclr-curriculum", {}),
    "simclr + AdaInf": ("fashion-mnist-adainf", {}),
    "simclr + learned views (AutoTCL)": ("fashion-mnist-simclr-learned-aug", {}),
    "CACR": ("fashion-mnist-cacr", {}),
    "AMCL": ("fashion-mnist-amcl", {}),
    "moco": ("fashion-mnist-moco", {}),
    "moco + mochi": ("fashion-mnist-moco-mochi", {}),
    "moco + extrapolation": ("fashion-mnist-moco",
                             {"method.options": [option("positive_extrapolation")]}),
    "byol": ("fashion-mnist-byol", {}),
    "byol + SAM": ("fashion-mnist-byol", {"train.sam_rho": 0.05}),
    "byol + strength curriculum": ("fashion-mnist-byol",
                                   {"train.strength_schedule": {"name": "cyclical"}}),
}
BASE_OF = {"simclr": "simclr", "CACR": "simclr", "AMCL": "simclr", "moco": "moco",
           "byol": "byol"}

TIMESERIES_ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    "ts2vec": ("ts2vec", {}),
    "ts2vec + SAM": ("ts2vec", {"train.sam_rho": 0.05}),
    "ts-instance": ("ts-instance", {}),
    "ts-instance + SAM": ("ts-instance", {"train.sam_rho": 0.05}),
    "ts-instance + strength curriculum": ("ts-instance",
                                          {"train.strength_schedule": {"name": "cyclical"}}),
    "ts-instance + mochi": ("ts-instance", {"method.options": [option("mochi")]}),
    "ts-instance + false-negative cancellation": (
        "ts-instance", {"method.options": [option("false_negative_cancellation")]}),
    "ts-instance + extrapolation": ("ts-instance",
                                    {"method.options": [option("positive_extrapolation")]}),
    "ts-instance + soft targets": ("ts-instance", {"method.options": [option("soft_targets")]}),
}
TEXT_ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    "simcse-scratch": ("simcse-scratch", {}),
    "simcse-scratch + mochi": ("simcse-scratch", {"method.options": [option("mochi")]}),
    "simcse-scratch + false-negative cancellation": (
        "simcse-scratch", {"method.options": [option("false_negative_cancellation")]}),
    "simcse-scratch + debiased weights": (
        "simcse-scratch", {"method.options": [option("debiased_weights")]}),
    "simcse-scratch + soft targets": ("simcse-scratch",
                                      {"method.options": [option("soft_targets")]}),
    "simcse-scratch + SAM": ("simcse-scratch", {"train.sam_rho": 0.05}),
}
IMAGE_BATCH = 256  # every Fashion-MNIST recipe's batch size
ROOMS = {"image": IMAGE_ROWS, "timeseries": TIMESERIES_ROWS, "text": TEXT_ROWS}


def base_of(label: str) -> str:
    head = label.split(" + ")[0]
    return BASE_OF.get(head, head)


def fashion_mnist_subset(train: int, test: int | None):
    splits = resolve_dataset("fashion-mnist")
    splits = replace(splits, train=splits.train.subset(torch.arange(train)))
    if test is not None:
        splits = replace(splits, test=splits.test.subset(torch.arange(test)))
    return splits


def run_row(label: str, recipe: str, overrides: dict, seed: int, args, dataset, runs: Path
            ) -> dict:
    settings = {"seed": seed, "eval.labels_per_class": [], "eval.raw_baseline": False,
                **overrides}
    if args.room == "image":  # one step budget for every row: `epochs` passes over the real data
        settings["eval.protocols"] = ["linear_probe", "knn"]
        settings["train.steps"] = max(1, args.epochs * args.train // IMAGE_BATCH)
    elif args.epochs is not None:
        settings["train.epochs"] = args.epochs
    if args.steps is not None and args.room != "image":
        settings["train.steps"] = args.steps
    if args.max_steps is not None:
        settings["train.max_steps"] = args.max_steps
    folder = runs / f"{label.replace(' ', '_').replace('/', '-').replace('+', 'plus')}-s{seed}"
    started = time.perf_counter()
    run = contrastlearn.pretrain(recipe, dataset=dataset, out=folder, overwrite=True,
                                 overrides=settings, progress=False)
    return {"row": label, "recipe": recipe, "overrides": overrides, "seed": seed,
            "epochs": args.epochs, "train_images": args.train if args.room == "image" else None,
            "settings": {key: value for key, value in settings.items() if key != "seed"},
            "train_seconds": run.training.seconds,
            "wall_seconds": time.perf_counter() - started,
            "steps": run.training.steps,
            **{item.protocol: item.value for item in run.results
               if item.settings.get("representation") == "encoder"}}


PROTOCOLS = {"image": ("linear_probe", "knn"), "timeseries": ("svm", "knn"),
             "text": ("linear_probe", "knn")}


def summary(rows: list[dict], protocols: tuple[str, str]) -> None:
    by_label: dict[str, list[dict]] = {}
    for row in rows:
        by_label.setdefault(row["row"], []).append(row)

    def stats(label: str, key: str) -> tuple[float, float]:
        values = [100 * r[key] for r in by_label.get(label, []) if key in r]
        if not values:
            return float("nan"), float("nan")
        return statistics.mean(values), statistics.pstdev(values) if len(values) > 1 else 0.0

    print(f"\n| row | seeds | train s | {protocols[0]} | Δ vs base | {protocols[1]} | Δ vs base |")
    print("|---|---|---|---|---|---|---|")
    for label, runs in by_label.items():
        base = base_of(label)
        cells = []
        for key in protocols:
            mean, std = stats(label, key)
            base_mean, _ = stats(base, key)
            delta = "–" if label == base else f"{mean - base_mean:+.2f}"
            cells += [f"{mean:.2f} ± {std:.2f}%", delta]
        seconds = statistics.mean(r["train_seconds"] for r in runs)
        print(f"| {label} | {len(runs)} | {seconds:.0f} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--room", choices=sorted(ROOMS), default="image")
    parser.add_argument("--rows", nargs="*", default=None, help="row labels (default: all)")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None,
                        help="train.epochs for every row (image default 5)")
    parser.add_argument("--steps", type=int, default=None,
                        help="time series and text: train.steps for every row (a shorter budget "
                             "than the recipe's, the same for all rows)")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--train", type=int, default=12_000,
                        help="image room: pre-train and probe on the first TRAIN images")
    parser.add_argument("--test", type=int, default=None, help="image room: first TEST images")
    parser.add_argument("--runs", default="runs/bench-options")
    parser.add_argument("--out", default="benchmarks/results/options.jsonl")
    parser.add_argument("--list", action="store_true", help="print the rows and exit")
    add_smoke_option(parser)
    args = parser.parse_args()
    table = ROOMS[args.room]
    if args.list:
        for label, (recipe, overrides) in table.items():
            print(f"{label}: {recipe} {json.dumps(overrides)}")
        return
    if args.room == "image" and args.epochs is None:
        args.epochs = 5
    if args.smoke:
        args.rows = args.rows or [next(iter(table))]
        args.seeds, args.max_steps, args.train, args.test = [0], 2, 512, 256
        folder = smoke_folder()
        args.runs, args.out = str(folder / "runs"), str(folder / "options.jsonl")
        without_run_reports()
    labels = args.rows or list(table)
    unknown = [label for label in labels if label not in table]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; --list shows the rows of --room {args.room}")
    dataset = fashion_mnist_subset(args.train, args.test) if args.room == "image" else None
    rows = []
    for label in labels:
        recipe, overrides = table[label]
        for seed in args.seeds:
            rows.append(keep_row(Path(args.out), run_row(label, recipe, overrides, seed, args,
                                                         dataset, Path(args.runs))))
    summary(rows, PROTOCOLS[args.room])


if __name__ == "__main__":
    main()
