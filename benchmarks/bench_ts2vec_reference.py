"""TS2Vec side by side: Yue et al.'s reference implementation (the `ts2vec` package on PyPI,
version 0.1, their code) against contrastlearn's `ts2vec` recipe, on the same data, in the
same process, one after the other, with the same settings (batch 8, lr 1e-3, 320-d, 200
iterations, CPU). Both encoders are scored by the same SVM protocol (contrastlearn's `svm`
evaluator, TS2Vec's C grid on the train split, accuracy on the official test split).

    pip install --no-deps ts2vec==0.1   # benchmark-only; not a dependency of contrastlearn
    python benchmarks/bench_ts2vec_reference.py --datasets GunPoint UnitTest --seeds 0
    python benchmarks/bench_ts2vec_reference.py --smoke   # UnitTest, 2 iterations, temp rows
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from bench_timeseries import run
from result_rows import add_smoke_option, smoke_folder, without_run_reports

from contrastlearn.data.resolve import resolve_dataset
from contrastlearn.evaluation.sklearn_probes import svm
from contrastlearn.modalities.timeseries.data import MULTIVARIATE, UNIVARIATE

ITERATIONS = 200
"""The paper's training iterations (the `ts2vec` recipe's steps)."""


def reference_run(dataset: str, seed: int, iterations: int = ITERATIONS) -> dict:
    """Train Yue et al.'s TS2Vec on the train split and score its full-series embeddings."""
    from ts2vec import TS2Vec

    splits = resolve_dataset(dataset, modality="timeseries")
    train = splits.train.x.transpose(1, 2).numpy().astype(np.float64)  # (n, T, C), NaN padded
    test = splits.test.x.transpose(1, 2).numpy().astype(np.float64)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    model = TS2Vec(input_dims=train.shape[-1], device="cpu", batch_size=8, lr=0.001,
                   output_dims=320)
    start = time.perf_counter()
    model.fit(train, n_iters=iterations)
    seconds = time.perf_counter() - start
    train_repr = model.encode(train, encoding_window="full_series")
    test_repr = model.encode(test, encoding_window="full_series")
    accuracy = svm(train_repr, splits.train.y.numpy(), test_repr, splits.test.y.numpy()).value
    return {"implementation": "reference ts2vec 0.1", "svm_accuracy": accuracy,
            "train_seconds": seconds}


def ours_run(dataset: str, seed: int, runs: Path, iterations: int = ITERATIONS) -> dict:
    row = run("ts2vec", dataset, seed, runs,
              None if iterations == ITERATIONS else {"train.steps": iterations})
    return {"implementation": "contrastlearn", "svm_accuracy": row["svm_accuracy"],
            "train_seconds": row["train_seconds"], "average_weights": row["average_weights"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=[*UNIVARIATE, *MULTIVARIATE])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--runs", default="runs/bench-ts2vec-reference")
    parser.add_argument("--out", default="benchmarks/results/ts2vec_side_by_side.jsonl")
    parser.add_argument("--iterations", type=int, default=ITERATIONS,
                        help="training iterations of both (quick checks: fewer)")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.datasets, args.seeds, args.iterations = ["UnitTest"], [0], 2
        folder = smoke_folder()
        args.runs, args.out = str(folder / "runs"), str(folder / "ts2vec_side_by_side.jsonl")
        without_run_reports()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for dataset in args.datasets:
        for seed in args.seeds:
            for implementation in ("reference", "contrastlearn"):
                load = os.getloadavg()[0]
                measured = (reference_run(dataset, seed, args.iterations)
                            if implementation == "reference"
                            else ours_run(dataset, seed, Path(args.runs), args.iterations))
                row = {"dataset": dataset, "seed": seed, **measured, "threads":
                       torch.get_num_threads(), "load_average_before": load,
                       "machine": platform.processor() or platform.machine(),
                       "date": time.strftime("%Y-%m-%d")}
                rows.append(row)
                with out.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    print("\n| dataset | reference acc | ours acc | reference train s | ours train s | ratio |"
          "\n|---|---|---|---|---|---|")
    for dataset in args.datasets:
        mine = [r for r in rows if r["dataset"] == dataset]
        ref = [r for r in mine if r["implementation"] != "contrastlearn"]
        ours = [r for r in mine if r["implementation"] == "contrastlearn"]
        ref_s = statistics.mean(r["train_seconds"] for r in ref)
        ours_s = statistics.mean(r["train_seconds"] for r in ours)
        print(f"| {dataset} | {statistics.mean(r['svm_accuracy'] for r in ref):.3f} | "
              f"{statistics.mean(r['svm_accuracy'] for r in ours):.3f} | {ref_s:.1f} | "
              f"{ours_s:.1f} | {ours_s / ref_s:.2f} |")


if __name__ == "__main__":
    main()
