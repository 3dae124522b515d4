"""Scaling 1 -> N processes: the same recipe and global batch through `contrastlearn pretrain`,
once on one process holding all the machine's threads and once per strategy (DDP, and FSDP
with `--strategies ddp fsdp`) over N CPU processes (gloo) with threads / N each, alternating,
and the training throughput (samples/s of the global batch, from training.json) of each. Run
on an idle machine; the load average is recorded with every row.

    python benchmarks/bench_ddp_scaling.py --steps 60 --repeats 2
    python benchmarks/bench_ddp_scaling.py --recipe simcse-scratch --steps 40 --batch-size 64 \
        --strategies ddp fsdp
    python benchmarks/bench_ddp_scaling.py --smoke   # 1 step, batch 16, 1 repeat, temp rows
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from result_rows import add_smoke_option, keep_row, smoke_folder


def run(recipe: str, processes: int, threads: int, steps: int, batch_size: int,
        folder: Path, strategy: str) -> dict:
    out = folder / f"p{processes}-{strategy}"
    command = [sys.executable, "-m", "contrastlearn", "pretrain", "--recipe", recipe,
               "--out", str(out), "--overwrite", "--no-progress", "--accelerator", "cpu",
               "--max-steps", str(steps), "--batch-size", str(batch_size),
               "--devices", str(processes), "--set", "eval.protocols=[]",
               "--set", "train.knn_monitor=false"]
    if processes > 1:
        command += ["--strategy", strategy]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-4000:]}")
    summary = json.loads((out / "training.json").read_text())
    return {"processes": processes, "strategy": strategy, "threads_per_process": threads,
            "steps": summary["steps"], "train_seconds": summary["seconds"],
            "samples_per_second": summary["samples_per_second"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="digits-simclr")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=256, help="the global batch")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads of the whole machine, shared by the processes")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--strategies", nargs="+", default=["ddp"], choices=["ddp", "fsdp"])
    parser.add_argument("--out", default="benchmarks/results/ddp_scaling.jsonl")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.batch_size, args.repeats = 1, 16, 1
        args.processes, args.threads = 2, 2
        args.out = str(smoke_folder() / "ddp_scaling.jsonl")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            for processes, strategy in [(1, "single"),
                                        *((args.processes, s) for s in args.strategies)]:
                row = run(args.recipe, processes, max(1, args.threads // processes), args.steps,
                          args.batch_size, Path(folder), strategy)
                rows.append(keep_row(Path(args.out), {
                    "benchmark": "ddp_scaling", "recipe": args.recipe, "repeat": repeat,
                    "global_batch": args.batch_size, "torch": torch.__version__, **row}))
    def mean_rate(strategy: str) -> float:
        rates = [row["samples_per_second"] for row in rows if row["strategy"] == strategy]
        return sum(rates) / len(rates)

    single = mean_rate("single")
    per_process = max(1, args.threads // args.processes)
    print(f"\n{args.recipe}, global batch {args.batch_size}, {args.steps} steps\n"
          f"| processes x threads | samples/s (mean of {args.repeats}) | ratio to 1 process |\n"
          f"|---|---|---|\n| 1 x {args.threads} | {single:.0f} | 1.00 |")
    for strategy in args.strategies:
        rate = mean_rate(strategy)
        print(f"| {args.processes} x {per_process} ({strategy}) | {rate:.0f} | "
              f"{rate / single:.2f} |")

if __name__ == "__main__":
    main()
