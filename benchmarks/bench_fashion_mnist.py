"""Fashion-MNIST: every method with the same short CPU budget, next to a raw-pixel linear
baseline and a supervised run of the same encoder. Prints a markdown table and appends one
JSON line per run to the output file.

    python benchmarks/bench_fashion_mnist.py --epochs 6 --out benchmarks/results/fmnist.jsonl
    python benchmarks/bench_fashion_mnist.py --methods vicreg --epochs 45 \
        --set encoder.kwargs.num_blocks=4   # the long run
    python benchmarks/bench_fashion_mnist.py --smoke   # simclr + supervised, 1 epoch of 256

Protocol: official split (60,000 train / 10,000 test); encoder frozen; linear probe on
standardised features (L-BFGS softmax regression) and weighted kNN (k=200, T=0.07), trained on
all 60,000 training labels, reported on the test split. Hyper-parameters come from the shipped
recipes and were not tuned on test labels.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch
import yaml
from result_rows import add_smoke_option, smoke_folder, without_run_reports
from torch import nn

import contrastlearn
from contrastlearn.api import build_encoder, build_views
from contrastlearn.config import load_recipe
from contrastlearn.core.schedule import warmup_cosine
from contrastlearn.data.arrays import DatasetSplits
from contrastlearn.data.resolve import resolve_dataset
from contrastlearn.engine.batches import epoch_order, iterate_batches
from contrastlearn.evaluation import extract_embeddings, knn_classifier, linear_probe

METHODS = ["simclr", "moco", "byol", "simsiam", "barlow-twins", "vicreg", "swav", "supcon", "dcl"]


def machine() -> dict:
    return {"threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg()[0], "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
            "date": time.strftime("%Y-%m-%d")}


def fashion_mnist(limit: int | None = None) -> DatasetSplits:
    """The official splits; with `limit`, only the first `limit` samples of each (quick checks
    that the benchmark runs; their numbers are not the benchmark's)."""
    splits = resolve_dataset("fashion-mnist")
    if limit is None:
        return splits
    return replace(splits, train=splits.train.subset(torch.arange(limit)),
                   test=splits.test.subset(torch.arange(limit)))


def supervised_baseline(epochs: int, seed: int = 0, limit: int | None = None) -> dict:
    """The simclr recipe's encoder and views, trained with labels by cross-entropy."""
    recipe = load_recipe("fashion-mnist-simclr")
    splits = fashion_mnist(limit)
    torch.manual_seed(seed)
    encoder, _ = build_encoder(recipe, splits)
    views = build_views(recipe, (1, 28, 28))
    classifier = nn.Linear(encoder.out_dim, 10)
    model = nn.Sequential(encoder, classifier)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.train.lr, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    batch_size = recipe.train.batch_size
    steps_per_epoch = len(splits.train) // batch_size
    total, step, started = epochs * steps_per_epoch, 0, time.perf_counter()
    for epoch in range(epochs):
        for batch in iterate_batches(splits.train, epoch_order(len(splits.train), seed, epoch),
                                     batch_size):
            for group in optimizer.param_groups:
                group["lr"] = warmup_cosine(step, total, steps_per_epoch, recipe.train.lr)
            inputs = views.pipelines[0].augmentation(batch.x, generator)
            loss = nn.functional.cross_entropy(model(inputs), batch.labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            step += 1
    seconds = time.perf_counter() - started
    train = extract_embeddings(encoder, splits.train.x)
    test = extract_embeddings(encoder, splits.test.x)
    return {"method": "supervised (cross-entropy)", "epochs": epochs, "train_seconds": seconds,
            "linear_probe": linear_probe(train, splits.train.y, test, splits.test.y).value,
            "knn": knn_classifier(train, splits.train.y, test, splits.test.y).value}


def ssl_run(method: str, epochs: int, out_root: Path, extra: dict | None = None,
            limit: int | None = None) -> dict:
    overrides = {"train.epochs": epochs, "eval.labels_per_class": [10],
                 "eval.raw_baseline": method == "simclr", **(extra or {})}
    run = contrastlearn.pretrain(
        f"fashion-mnist-{method}", dataset=None if limit is None else fashion_mnist(limit),
        out=out_root / f"{method}-{epochs}ep", overwrite=True, overrides=overrides,
        progress=False,
    )
    row = {"method": method, "epochs": epochs, "train_seconds": run.training.seconds,
           "overrides": extra or {},
           "linear_probe": run.result("linear_probe").value, "knn": run.result("knn").value,
           "few_label_linear_probe_10": run.result("few_label_linear_probe").value,
           "few_label_linear_probe_10_std": run.result("few_label_linear_probe").std}
    if method == "simclr":
        row["raw_linear_probe"] = run.result("linear_probe", "raw").value
        row["raw_knn"] = run.result("knn", "raw").value
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", default=METHODS)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--supervised", action="store_true", help="also the supervised baseline")
    parser.add_argument("--runs", default="runs/bench-fmnist")
    parser.add_argument("--out", default="benchmarks/results/fashion_mnist.jsonl")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="recipe override for every method, e.g. encoder.kwargs.num_blocks=4")
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first LIMIT samples of each split (quick checks)")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.methods, args.epochs, args.supervised, args.limit = ["simclr"], 1, True, 256
        folder = smoke_folder()
        args.runs, args.out = str(folder / "runs"), str(folder / "fashion_mnist.jsonl")
        without_run_reports()
    extra = {key: yaml.safe_load(value) for key, value in (o.split("=", 1) for o in args.set)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    jobs = [("ssl", m) for m in args.methods] + ([("sup", None)] if args.supervised else [])
    for kind, method in jobs:
        before = machine()
        row = (ssl_run(method, args.epochs, Path(args.runs), extra, args.limit) if kind == "ssl"
               else supervised_baseline(args.epochs, limit=args.limit))
        if args.limit is not None:
            row["limit"] = args.limit
        row.update({"machine": before, "load_average_after": os.getloadavg()[0]})
        rows.append(row)
        with out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    print("\n| method | epochs | train s | linear probe | kNN (k=200) |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['method']} | {row['epochs']} | {row['train_seconds']:.0f} | "
              f"{100 * row['linear_probe']:.2f}% | {100 * row['knn']:.2f}% |")


if __name__ == "__main__":
    main()
