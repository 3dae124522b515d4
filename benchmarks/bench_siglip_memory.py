"""Peak memory of one forward + backward of SigLIP in column chunks against dense CLIP.

    python benchmarks/bench_siglip_memory.py --threads 1            # B = 256 ... 8192
    python benchmarks/bench_siglip_memory.py --batches 256 512 1024 2048 --threads 1 \\
        --out benchmarks/results/siglip_memory_<date>.jsonl
    python benchmarks/bench_siglip_memory.py --device cuda          # torch.cuda peak
    python benchmarks/bench_siglip_memory.py --smoke                # B = 64, 128; D = 16

Protocol: two modalities of B rows, (B, D) float32 embeddings (D = 256) drawn from a seeded
normal, leaf tensors that need gradients (as the projector outputs are); `SigLIPLoss(chunk_size
=256)` (sigmoid loss, learnt temperature and bias, columns scored 256 at a time and recomputed
in the backward) against `CLIPLoss()` (the dense B x B matrix held by autograd). Each (loss, B)
runs in a fresh subprocess. On CPU it reads its peak resident set
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`) after the imports and the inputs, runs the loss
forward and backward once (after one warm-up step on 8 rows, so that first-call costs are in
the baseline), and reports the peak again: the difference is the memory the loss
needed (logits, their gradient, temporaries). On CUDA the same difference is read from
`torch.cuda.max_memory_allocated` (caching-allocator bytes, not the process). Seconds are the
median of `--repeats` further forward + backward steps. "B x B MB" is the size of one float32
B x B matrix, for scale. Rows go to `--out` (JSON lines) when given.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from result_rows import add_smoke_option, keep_row, machine_context, smoke_folder

BATCHES = (256, 512, 1024, 2048, 4096, 8192)
LOSSES = ("siglip", "clip")
MB = 2 ** 20


def peak_rss_mb() -> float:
    """Peak resident set of this process so far, MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> dict:
    """One (loss, B) measurement in this process; returns its row."""
    torch.set_num_threads(args.threads)
    from contrastlearn.objectives import CLIPLoss, SigLIPLoss

    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.randn(args.batch, args.dim, generator=generator).to(device).requires_grad_()
              for _ in range(2)]
    loss = (SigLIPLoss(chunk_size=args.chunk_size) if args.loss == "siglip"
            else CLIPLoss()).to(device)

    def step(batch: list[torch.Tensor]) -> None:
        loss(batch).loss.backward()
        for tensor in batch:
            tensor.grad = None
        loss.zero_grad(set_to_none=True)

    step([tensor[:8].detach().requires_grad_() for tensor in inputs])  # first-call costs
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device) / MB
    else:
        baseline = peak_rss_mb()
    step(inputs)
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated(device) / MB
    else:
        peak = peak_rss_mb()
    seconds = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        step(inputs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    return {"loss": args.loss, "batch": args.batch, "dim": args.dim,
            "chunk_size": args.chunk_size if args.loss == "siglip" else None,
            "device": args.device, "baseline_mb": baseline, "peak_mb": peak,
            "loss_peak_mb": peak - baseline, "batch_square_mb": args.batch ** 2 * 4 / MB,
            "seconds_per_step": statistics.median(seconds), "repeats": args.repeats,
            "threads": torch.get_num_threads()}


def measure(loss: str, batch: int, args: argparse.Namespace) -> dict:
    """Run `child` in a fresh interpreter and return its row."""
    command = [sys.executable, __file__, "--child", "--loss", loss, "--batch", str(batch),
               "--dim", str(args.dim), "--chunk-size", str(args.chunk_size), "--threads",
               str(args.threads), "--device", args.device, "--repeats", str(args.repeats)]
    load_before = os.getloadavg()[0]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{loss} at B={batch} failed ({done.returncode}):\n"
                         f"{done.stderr[-4000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    return {"benchmark": "siglip_memory", **row, "load_before": load_before,
            "torch": torch.__version__}


def table(rows: list[dict], chunk_size: int) -> None:
    by_setting = {(row["loss"], row["batch"]): row for row in rows}
    print(f"\n| B | B x B MB | SigLIP chunk {chunk_size}: peak MB | s/step | CLIP: peak MB | "
          f"s/step | CLIP / SigLIP memory |")
    print("|---|---|---|---|---|---|---|")
    for batch in sorted({row["batch"] for row in rows}):
        siglip, clip = by_setting.get(("siglip", batch)), by_setting.get(("clip", batch))
        cells = [f"{batch:,}", f"{batch ** 2 * 4 / MB:.1f}"]
        for row in (siglip, clip):
            cells += ([f"{row['loss_peak_mb']:.1f}", f"{row['seconds_per_step']:.3f}"]
                      if row else ["–", "–"])
        ratio = (clip["loss_peak_mb"] / siglip["loss_peak_mb"]
                 if siglip and clip and siglip["loss_peak_mb"] > 0 else None)
        cells.append("–" if ratio is None else f"{ratio:.1f}")
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", nargs="+", type=int, default=list(BATCHES))
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="append the rows (JSON lines) to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--loss", choices=LOSSES, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return
    torch.set_num_threads(args.threads)  # so that the rows' machine context says it too
    if args.smoke:
        args.batches, args.dim, args.chunk_size, args.repeats = [64, 128], 16, 32, 1
        args.out = str(smoke_folder() / "siglip_memory.jsonl")
    context = machine_context()
    print(f"SigLIPLoss(chunk_size={args.chunk_size}) vs CLIPLoss, D={args.dim}, device "
          f"{args.device}, {os.cpu_count()} cores, {args.threads} threads, load average "
          f"{context['load_average']:.2f}, {context['machine']}, {context['date']}", flush=True)
    rows = []
    for batch in sorted(args.batches):
        for loss in LOSSES:
            row = measure(loss, batch, args)
            rows.append(keep_row(Path(args.out), row) if args.out else row)
            if not args.out:
                print(json.dumps({**row, **machine_context()}), flush=True)
    table(rows, args.chunk_size)


if __name__ == "__main__":
    main()
