"""GPU check for the text modality (and the time-series magnitude views): every text view,
every text method's training step and a whole `pretrain` run on CUDA, with the same seeded
results twice, plus CPU-vs-CUDA agreement of the from-scratch encoder. Prints one line per check
and exits non-zero on the first failure. GPU_CHECK_DEVICE=cpu (or --device cpu) runs it on the
CPU.

    python benchmarks/gpu_check_text.py
    python benchmarks/gpu_check_text.py --smoke   # on the CPU, 3 pretrain steps: runs?
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch
from result_rows import add_smoke_option, without_run_reports

import contrastlearn
from contrastlearn.modalities.text import augment
from contrastlearn.modalities.text.encoders import text_transformer_encoder
from contrastlearn.modalities.text.methods import (
    ESimCSE,
    Pairs,
    SimCSE,
    SupervisedSimCSE,
    WhitenedCSE,
)
from contrastlearn.modalities.text.tokens import PAD_ID, TokenBatch, interior_mask
from contrastlearn.modalities.timeseries.augment import magnitude_views

DEVICE = torch.device(os.environ.get("GPU_CHECK_DEVICE", "cuda"))
PRETRAIN_STEPS = 30


def token_batch(rows: int = 64, width: int = 24, vocab: int = 500) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(2, width + 1, (rows,), generator=generator)
    ids = torch.randint(5, vocab, (rows, width), generator=generator)
    positions = torch.arange(width)[None, :]
    ids = torch.where(positions < lengths[:, None], ids, torch.full_like(ids, PAD_ID))
    ids[:, 0] = 2
    ids[torch.arange(rows), lengths - 1] = 3
    return ids.to(DEVICE)


def same(first, second) -> bool:
    first = getattr(first, "ids", first)
    second = getattr(second, "ids", second)
    return first.shape == second.shape and bool(torch.equal(first, second))


def check(name: str, ok: bool) -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {name}", flush=True)
    if not ok:
        raise SystemExit(1)


def views_on_cuda() -> None:
    ids = token_batch()
    operations = [augment.WordRepetition(), augment.RandomDeletion(0.2), augment.RandomSwap(0.2),
                  augment.RandomInsertion(0.2, max_length=40), augment.TokenCutoff(0.2),
                  augment.SpanCutoff(0.2), augment.FeatureCutoff(0.2)]
    for operation in operations:
        first = operation(ids, torch.Generator(device=DEVICE).manual_seed(1))
        second = operation(ids, torch.Generator(device=DEVICE).manual_seed(1))
        out = getattr(first, "ids", first)
        frame = bool((out[:, 0] == 2).all()) and out.device.type == DEVICE.type
        check(f"view {type(operation).__name__} on cuda: seeded, frame kept", same(first, second)
              and frame and out.dtype == torch.int64)
    check("interior mask on cuda", interior_mask(ids).device.type == DEVICE.type)


def methods_on_cuda() -> None:
    torch.manual_seed(0)
    ids = token_batch(32)
    for build, views in ((lambda e: SimCSE(e), [ids, ids]),
                         (lambda e: ESimCSE(e, queue_size=64),
                          [ids, augment.WordRepetition()(ids, torch.Generator(device=DEVICE)
                                                         .manual_seed(0))]),
                         (lambda e: WhitenedCSE(e, num_groups=8), [ids, ids]),
                         (lambda e: Pairs(e), [torch.stack([ids, ids], 1)]),
                         (lambda e: SupervisedSimCSE(e), [torch.stack([ids, ids, ids.flip(0)], 1)]),
                         (lambda e: SimCSE(e), [ids, TokenBatch(ids, 0.2, 7)])):
        encoder = text_transformer_encoder(vocab_size=500, dim=64, depth=2, heads=4,
                                           max_length=48)
        method = build(encoder).to(DEVICE).train()
        output = method(views, labels=None, ids=torch.arange(32, device=DEVICE))
        output.loss.backward()
        method.after_optimizer_step(0, 10)
        grads = [p.grad for p in encoder.parameters() if p.grad is not None]
        check(f"method {type(method).__name__} on cuda: finite loss, gradients",
              bool(torch.isfinite(output.loss)) and len(grads) > 0
              and all(bool(torch.isfinite(g).all()) for g in grads))


def encoder_cpu_vs_cuda() -> None:
    torch.manual_seed(0)
    encoder = text_transformer_encoder(vocab_size=500, dim=64, depth=2, heads=4,
                                       max_length=48).eval()
    ids = token_batch(16).cpu()
    with torch.no_grad():
        on_cpu = encoder(ids)
        on_cuda = encoder.to(DEVICE)(ids.to(DEVICE)).cpu()
    difference = float((on_cpu - on_cuda).abs().max())
    relative = difference / float(on_cpu.abs().max())
    check(f"text_transformer CPU vs CUDA max difference {difference:.2e} (relative "
          f"{relative:.1e}; CUDA attention kernels differ in float32 rounding)", relative < 1e-3)


def pretrain_on_cuda() -> None:
    topics = {"animals": "cat dog horse bird mouse cow sheep goat",
              "money": "bank stock market share profit bond price loan"}
    texts, labels = [], []
    generator = torch.Generator().manual_seed(0)
    for label, words in topics.items():
        vocabulary = words.split()
        for _ in range(120):
            picks = torch.randint(0, len(vocabulary), (6,), generator=generator).tolist()
            texts.append("the " + " ".join(vocabulary[index] for index in picks))
            labels.append(label)
    results = []
    for _ in range(2):
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            run = contrastlearn.pretrain(
                "simcse-scratch", dataset=(texts, labels), out=f"{folder}/run", progress=False,
                overrides={"train.steps": PRETRAIN_STEPS, "train.batch_size": 32,
                           "train.warmup_epochs": 0, "train.accelerator": DEVICE.type,
                           "encoder.kwargs.dim": 64, "encoder.kwargs.depth": 2,
                           "eval.protocols": ["knn", "linear_probe"]})
            results.append((run.result("knn").value, run.training.final_loss))
            device = next(run.encoder.parameters()).device.type
            print(f"     pretrain on {device}: {time.perf_counter() - started:.1f} s, knn "
                  f"{results[-1][0]:.3f}, final loss {results[-1][1]:.4f}", flush=True)
    check("pretrain on cuda runs and scores", all(0 <= knn <= 1 for knn, _ in results))
    check("pretrain on cuda: same seed, same final loss (within 1e-4)",
          abs(results[0][1] - results[1][1]) < 1e-4)


def timeseries_magnitude_views() -> None:
    x = torch.randn(8, 3, 50, device=DEVICE)
    x[2, :, 30:] = float("nan")
    first, second = magnitude_views()(x, torch.Generator(device=DEVICE).manual_seed(0))
    again = magnitude_views()(x, torch.Generator(device=DEVICE).manual_seed(0))[0]
    check("magnitude_views on cuda: seeded, padding kept",
          torch.equal(torch.isnan(first), torch.isnan(x)) and torch.allclose(
              first, again, equal_nan=True))


def main() -> None:
    global DEVICE, PRETRAIN_STEPS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", help="default: GPU_CHECK_DEVICE, else cuda (cpu with --smoke)")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        PRETRAIN_STEPS = 3
        without_run_reports()
        DEVICE = torch.device(args.device or os.environ.get("GPU_CHECK_DEVICE", "cpu"))
    elif args.device:
        DEVICE = torch.device(args.device)
    name = torch.cuda.get_device_name(0) if DEVICE.type == "cuda" else "CPU"
    print(torch.__version__, DEVICE, name, flush=True)
    views_on_cuda()
    methods_on_cuda()
    encoder_cpu_vs_cuda()
    timeseries_magnitude_views()
    pretrain_on_cuda()
    print("all GPU checks passed")


if __name__ == "__main__":
    main()
