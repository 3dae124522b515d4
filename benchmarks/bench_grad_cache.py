"""Gradient caching: peak memory and time per training step against the effective batch size,
with and without caching, on CPU. Each configuration runs in its own process (peak resident
memory is per process); the model is a 2-layer, 128-d text Transformer trained with SimCSE's
loss on random 32-token sentences, so activation memory grows with the batch.

    python benchmarks/bench_grad_cache.py --batches 256 1024 4096 8192 --chunk 256
    python benchmarks/bench_grad_cache.py --smoke   # batch 16, chunk 8, rows to a temp folder
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from result_rows import add_smoke_option, keep_row, smoke_folder

LENGTH = 32
VOCAB = 1000


def sentences(batch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, VOCAB, (batch, LENGTH), generator=generator)
    ids[:, 0], ids[:, -1] = 2, 3
    return ids


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(batch: int, chunk: int) -> dict:
    from contrastlearn.engine.grad_cache import cached_backward
    from contrastlearn.modalities.text.encoders import text_transformer_encoder
    from contrastlearn.modalities.text.methods import SimCSE

    torch.manual_seed(0)
    encoder = text_transformer_encoder(vocab_size=VOCAB, dim=128, depth=2, heads=4,
                                       max_length=LENGTH, dropout=0.1)
    method = SimCSE(encoder, mlp_pooler=False).train()
    ids = sentences(batch)
    item_ids = torch.arange(batch)
    embed, loss_of = method.gradient_cache_parts()
    baseline = peak_mb()
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        if chunk:
            cached_backward(embed, [ids, ids], lambda z: loss_of(z, None, item_ids).loss, chunk)
        else:
            method([ids, ids], labels=None, ids=item_ids).loss.backward()
        seconds.append(time.perf_counter() - started)
        method.zero_grad(set_to_none=True)
    return {"batch": batch, "chunk": chunk or None, "peak_mb": peak_mb(),
            "baseline_mb": baseline, "step_seconds": seconds[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 1024, 4096, 8192])
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--out", default="benchmarks/results/grad_cache.jsonl")
    parser.add_argument("--child", nargs=2, type=int, metavar=("BATCH", "CHUNK"),
                        help=argparse.SUPPRESS)
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    if args.smoke:
        args.batches, args.chunk = [16], 8
        args.out = str(smoke_folder() / "grad_cache.jsonl")
    rows = []
    for batch in args.batches:
        for chunk in (0, args.chunk):
            done = subprocess.run([sys.executable, __file__, "--child", str(batch), str(chunk)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"the child for batch {batch}, chunk {chunk} exited "
                                 f"{done.returncode}:\n{done.stderr[-4000:]}")
            rows.append(keep_row(Path(args.out), json.loads(done.stdout.splitlines()[-1])))
    print("\n| batch | peak MB, plain | peak MB, cached | step s, plain | step s, cached |\n"
          "|---|---|---|---|---|")
    for batch in args.batches:
        plain, cached = (row for row in rows if row["batch"] == batch)
        print(f"| {batch} | {plain['peak_mb']:.0f} | {cached['peak_mb']:.0f} | "
              f"{plain['step_seconds']:.2f} | {cached['step_seconds']:.2f} |")


if __name__ == "__main__":
    main()
