"""Pipeline overhead of one SimCLR training step (views + head + loss + engine) over the bare
encoder's forward and backward on the same two batches.

    python benchmarks/bench_step_overhead.py [--steps 20 --rounds 5]
    python benchmarks/bench_step_overhead.py --smoke   # 1 step, 1 round, batch 16: runs?

Setting: batch 256, 1x28x28 inputs (Fashion-MNIST shape, random pixels), two SimCLR views, the
fashion-mnist-simclr recipe's encoder and head.
- "bare": encoder(cat(view1, view2)) forward and backward on views made beforehand, a fresh
  pair every step, gradients freed between steps (as any training loop does).
- "engine": the real Trainer (Fabric, views made on the device, projector, NT-Xent, AdamW step,
  LR schedule, grad norm, logging); fixed costs such as the final checkpoint cancel by timing
  runs of S and 2S steps.
Bare and engine runs alternate in rounds so that load changes hit both; medians reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from result_rows import add_smoke_option

from contrastlearn.api import build_encoder, build_views
from contrastlearn.config import apply_overrides, load_recipe
from contrastlearn.core.registry import METHODS
from contrastlearn.data.arrays import ArrayDataset, DatasetSplits
from contrastlearn.engine.trainer import Trainer

SHAPE = (1, 28, 28)
BATCH = 256


def shape_splits(recipe) -> DatasetSplits:
    """What `build_encoder` reads from the data: one random sample of SHAPE."""
    return DatasetSplits(ArrayDataset(torch.rand(1, *SHAPE)), None,
                         modality=recipe.data.modality)


def bare_seconds_per_step(recipe, steps: int, batch: int = BATCH) -> float:
    """Encoder forward+backward on pre-made views: a fresh pair of batches every step and
    gradients freed between steps, as in a training loop (no views, head, loss or optimizer)."""
    torch.manual_seed(0)
    encoder, _ = build_encoder(recipe, shape_splits(recipe))
    views = build_views(recipe, SHAPE)
    generator = torch.Generator().manual_seed(0)
    batches = [torch.cat(views(torch.rand(batch, *SHAPE), generator)) for _ in range(steps + 1)]
    encoder(batches[0]).sum().backward()
    started = time.perf_counter()
    for both in batches[1:]:
        encoder.zero_grad(set_to_none=True)
        encoder(both).sum().backward()
    return (time.perf_counter() - started) / steps


def engine_run_seconds(recipe, steps: int, batch: int = BATCH) -> float:
    """Wall time of Trainer.fit for `steps` steps (Trainer construction excluded)."""
    torch.manual_seed(0)
    encoder, _ = build_encoder(recipe, shape_splits(recipe))
    views = build_views(recipe, SHAPE)
    method = METHODS.build(recipe.method.name, encoder=encoder, **recipe.method.kwargs)
    data = ArrayDataset(torch.rand(batch * steps, *SHAPE))
    config = apply_overrides(recipe, {"train.epochs": 1, "train.batch_size": batch}).train
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(method, views, config, run_dir=Path(folder), progress=False)
        started = time.perf_counter()
        trainer.fit(data)
        return time.perf_counter() - started


def engine_seconds_per_step(recipe, steps: int, batch: int = BATCH) -> float:
    """Per-step cost of the engine: fixed costs (first step, final checkpoint) cancel out."""
    return (engine_run_seconds(recipe, 2 * steps, batch)
            - engine_run_seconds(recipe, steps, batch)) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--recipe", default="fashion-mnist-simclr")
    parser.add_argument("--batch", type=int, default=BATCH)
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.rounds, args.batch = 1, 1, 16
    recipe = load_recipe(args.recipe)
    print(f"threads={torch.get_num_threads()} cpus={os.cpu_count()} "
          f"load_before={os.getloadavg()[0]:.2f} torch={torch.__version__} "
          f"recipe={args.recipe} batch={args.batch} shape={SHAPE} steps/round={args.steps}")
    bare, engine = [], []
    for round_index in range(args.rounds):
        bare.append(bare_seconds_per_step(recipe, args.steps, args.batch))
        engine.append(engine_seconds_per_step(recipe, args.steps, args.batch))
        print(f"round {round_index}: bare {1000 * bare[-1]:.1f} ms, "
              f"engine {1000 * engine[-1]:.1f} ms")
    bare_ms, engine_ms = 1000 * statistics.median(bare), 1000 * statistics.median(engine)
    overhead = (engine_ms - bare_ms) / engine_ms
    print(f"\n| measure | ms per step (median of {args.rounds}) |\n|---|---|")
    print(f"| bare encoder forward+backward, 2x{args.batch} | {bare_ms:.1f} |")
    print(f"| full SimCLR step through the engine | {engine_ms:.1f} |")
    print(f"| pipeline overhead (engine - bare) / engine | {100 * overhead:.1f}% |")
    print(f"load_after={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
