"""Memory and time of GRACE's blocked NT-Xent (`blocked_infonce`) forward + backward at graph
sizes, against the dense `infonce` where that fits.

    python benchmarks/bench_blocked_grace.py                          # N = 10k, 50k, 117,659
    python benchmarks/bench_blocked_grace.py --sizes 10000 --dense-max 10000
    python benchmarks/bench_blocked_grace.py --smoke                  # N = 2,000, temp rows

Protocol: two views of N nodes, (N, D) float32 embeddings drawn from a seeded normal, leaf
tensors that need gradients (as the projector outputs are), D = 128, temperature 0.5, block
4,096 anchor rows (the `grace` recipe's). Each (loss, N) runs in a fresh subprocess: after the
imports and the allocation of the two inputs it reads its peak resident set
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`) as the baseline, runs the loss forward and
backward, and reports the peak again; the difference is the memory the loss needed (logits,
softmax weights, gradients). Seconds per step are wall-clock seconds of one forward + backward
(`BlockedInfoNCE(...)([z1, z2]).loss.backward()`, or the median of 3 when one takes under 30 s).

The blocked loss is O(N^2 D) compute. Each run first times one block of anchors through
`blocked_nt_xent_rows` (forward + backward; also the warm-up); when that block's time times
the number of blocks (2N / block) exceeds `--budget-s` (default 15 minutes), the full loss is
not run: `--probe-blocks` blocks of anchors are timed against all 2N candidates and the step
time is extrapolated as (their time / their blocks) * all blocks; the row says
"extrapolated". The peak memory of such a run is that of the probe blocks against all
candidates, i.e. the same one-block logits (block x 2N) the full loss holds at a time, so it is
the full loss's peak up to the (A, D) gradient of the anchors.

The dense `infonce` holds the (2N)^2 logits and their gradient; it runs only up to
`--dense-max` nodes (10,000 by default; at 117,659 nodes its logits alone would be 221 GB).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from result_rows import add_smoke_option, keep_row, smoke_folder

SIZES = (10_000, 50_000, 117_659)
TEMPERATURE = 0.5
REPEAT_BELOW_S = 30.0


def peak_rss_mb() -> float:
    """Peak resident set of this process so far, MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _inputs(nodes: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    z1 = torch.randn(nodes, dim, generator=generator).requires_grad_(True)
    z2 = torch.randn(nodes, dim, generator=generator).requires_grad_(True)
    return z1, z2


def _timed(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def _probe_step(z1: torch.Tensor, z2: torch.Tensor, blocks: int, block: int):
    """Forward + backward of the first `blocks` blocks of anchor rows against all 2N
    candidates, through the same autograd function the full loss uses."""
    import torch.nn.functional as F

    from contrastlearn.objectives.blocked import blocked_nt_xent_rows

    nodes = z1.shape[0]

    def step() -> None:
        rows = torch.cat([F.normalize(z1, dim=1), F.normalize(z2, dim=1)])
        count = min(blocks * block, 2 * nodes)
        anchors = torch.arange(count)
        loss, _, _ = blocked_nt_xent_rows(rows[:count], rows, anchors,
                                          (anchors + nodes) % (2 * nodes), 1 / TEMPERATURE,
                                          block)
        loss.mean().backward()
        z1.grad = z2.grad = None

    return step


def child(args: argparse.Namespace) -> dict:
    """One (loss, N) measurement in this process; returns the row."""
    torch.set_num_threads(args.threads)
    from contrastlearn.objectives.blocked import BlockedInfoNCE
    from contrastlearn.objectives.infonce import InfoNCE

    z1, z2 = _inputs(args.nodes, args.dim)
    baseline = peak_rss_mb()
    loss = (BlockedInfoNCE(temperature=TEMPERATURE, block_size=args.block)
            if args.loss == "blocked" else InfoNCE(temperature=TEMPERATURE))

    def full_step() -> None:
        loss([z1, z2]).loss.backward()
        z1.grad = z2.grad = None

    num_blocks = math.ceil(2 * args.nodes / args.block)
    row = {"loss": args.loss, "nodes": args.nodes, "dim": args.dim,
           "block": args.block if args.loss == "blocked" else None, "num_blocks": num_blocks
           if args.loss == "blocked" else None}
    predicted = None
    if args.loss == "blocked":
        probe = _timed(_probe_step(z1, z2, 1, args.block))
        predicted = probe * num_blocks
        row["one_block_seconds"] = probe
    if predicted is not None and predicted > args.budget_s:
        blocks = min(args.probe_blocks, num_blocks)
        seconds = _timed(_probe_step(z1, z2, blocks, args.block))
        row.update(measured="extrapolated", measured_blocks=blocks,
                   measured_seconds=seconds, seconds_per_step=seconds / blocks * num_blocks)
    else:
        times = [_timed(full_step)]
        if times[0] < REPEAT_BELOW_S:
            times += [_timed(full_step) for _ in range(2)]
        row.update(measured="full", repeats=len(times),
                   seconds_per_step=statistics.median(times), seconds_all=times)
    peak = peak_rss_mb()
    row.update(baseline_rss_mb=baseline, peak_rss_mb=peak, loss_peak_mb=peak - baseline,
               threads=torch.get_num_threads())
    return row


def measure(loss: str, nodes: int, args: argparse.Namespace) -> dict:
    """Run `child` in a fresh interpreter and return its row."""
    command = [sys.executable, __file__, "--child", "--loss", loss, "--nodes", str(nodes),
               "--dim", str(args.dim), "--block", str(args.block), "--threads", str(args.threads),
               "--budget-s", str(args.budget_s), "--probe-blocks", str(args.probe_blocks)]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{loss} at N={nodes} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    return {"benchmark": "blocked_grace", **row, "wall_seconds": time.perf_counter() - started,
            "load_before": load_before, "torch": torch.__version__}


def table(rows: list[dict]) -> None:
    blocked = [row for row in rows if row["loss"] == "blocked"]
    smallest = min(blocked, key=lambda row: row["nodes"]) if blocked else None
    print("\n| loss | N | block | s per fwd+bwd | how | peak RSS - baseline (MB) | "
          "memory ratio | N ratio | N² ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        how = (f"extrapolated from {row['measured_blocks']} of {row['num_blocks']} blocks"
               if row["measured"] == "extrapolated" else f"full, median of {row['repeats']}")
        ratios = "| – | – | –"
        if row["loss"] == "blocked" and smallest is not None:
            scale = row["nodes"] / smallest["nodes"]
            ratios = (f"| {row['loss_peak_mb'] / smallest['loss_peak_mb']:.2f} | {scale:.2f} "
                      f"| {scale ** 2:.1f}")
        print(f"| {row['loss']} | {row['nodes']:,} | {row['block'] or '–'} | "
              f"{row['seconds_per_step']:.2f} | {how} | {row['loss_peak_mb']:.0f} {ratios} |")
    if len(blocked) >= 2:
        largest = max(blocked, key=lambda row: row["nodes"])
        ratio = largest["loss_peak_mb"] / smallest["loss_peak_mb"]
        scale = largest["nodes"] / smallest["nodes"]
        verdict = "linear" if ratio <= 1.5 * scale else "worse than linear"
        print(f"\npeak memory {smallest['nodes']:,} -> {largest['nodes']:,} nodes: x{ratio:.2f} "
              f"(linear x{scale:.2f}, quadratic x{scale ** 2:.1f}): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--block", type=int, default=4096)
    parser.add_argument("--dense-max", type=int, default=10_000,
                        help="run the dense infonce only up to this many nodes")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--budget-s", type=float, default=900.0,
                        help="a predicted step longer than this is extrapolated from blocks")
    parser.add_argument("--probe-blocks", type=int, default=4)
    parser.add_argument("--out", default="benchmarks/results/blocked_grace.jsonl")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--loss", choices=["blocked", "dense"], help=argparse.SUPPRESS)
    parser.add_argument("--nodes", type=int, help=argparse.SUPPRESS)
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return
    if args.smoke:
        args.sizes, args.dense_max, args.block = [2000], 2000, 512
        args.out = str(smoke_folder() / "blocked_grace.jsonl")
    print(f"blocked_infonce vs infonce, D={args.dim}, block {args.block}, temperature "
          f"{TEMPERATURE}, {args.threads} threads, load {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for nodes in sorted(args.sizes):
        losses = ["blocked", *(["dense"] if nodes <= args.dense_max else [])]
        for loss in losses:
            rows.append(keep_row(Path(args.out), measure(loss, nodes, args)))
    table(rows)


if __name__ == "__main__":
    main()
