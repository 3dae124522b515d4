"""Keyword spotting on unseen voices: our audio recipes against MFCC baselines and a supervised
CNN of the same size, on the built-in `spoken-words` set.

    python benchmarks/bench_audio.py                          # every method, then baselines
    python benchmarks/bench_audio.py --methods kws-cab --seeds 0 1 2
    python benchmarks/bench_audio.py --supervised-only
    python benchmarks/bench_audio.py --continual              # kws-continual and no replay
    python benchmarks/bench_audio.py --smoke

Data: `spoken-words` (35 Speech Commands keywords spoken by espeak-ng voices at 3 speeds and
pitches, 1-s clips at 16 kHz); test = 20 % of the voices, held out whole (split seed 0), so
no test voice is heard in training. Protocols on the test voices: linear probe and kNN on all
training labels; 1- and 5-shot linear probes (labelled clips drawn from the training voices,
mean over 5 draws); query-by-example mAP (each of <= 10 test clips per word queries the
others). Baselines: MFCC features (13 x 101 frames, flattened) under the same probes; MFCC +
DTW for query by example; a supervised `audio_cnn` (same encoder as kws-simclr/kws-supcon)
with a linear classifier trained by cross-entropy on all labels or on the same 5-shot draws,
with the speed/volume views as augmentation and fixed settings (AdamW, lr 2e-3, the recipe's
epochs for all labels, 300 steps of batch 64 for 5 shots), chosen before any test number.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from result_rows import add_smoke_option, keep_row, smoke_folder, without_run_reports
from torch import nn

import contrastlearn
from contrastlearn.core.registry import AUGMENTATIONS, DATASETS, ENCODERS
from contrastlearn.evaluation import sample_labels_per_class

METHODS = ("kws-simclr", "kws-cab", "kws-supcon", "kws-moco", "kws-byol")
"""kws-moco and kws-byol are kws-simclr with the method swapped (see `method_overrides`)."""
VARIANTS = ("kws-cab-audio-views", "kws-cab-untrained", "kws-simclr-untrained")
"""kws-cab with the full audio view stack instead of speed and volume changes; the recipes'
encoders before training (one epoch at lr 1e-12: the weights stay where they started and the
batch-norm statistics are measured on the training clips)."""
FEW_SHOT_SEEDS = (0, 1, 2, 3, 4)


def method_overrides(name: str) -> tuple[str, dict]:
    """(recipe, overrides) of a benchmark method."""
    if name == "kws-moco":
        return "kws-simclr", {"method.name": "moco_v2", "method.kwargs": {
            "projection_dim": 128, "hidden_dim": 512, "temperature": 0.2, "queue_size": 1024,
            "momentum": 0.99}}
    if name == "kws-byol":
        return "kws-simclr", {"method.name": "byol", "method.kwargs": {
            "projection_dim": 128, "hidden_dim": 512, "predictor_hidden_dim": 512}}
    if name == "kws-cab-audio-views":
        return "kws-cab", {"views.name": "audio_views"}
    if name.endswith("-untrained"):
        return name.removesuffix("-untrained"), {"train.epochs": 1, "train.lr": 1e-12,
                                                 "train.warmup_epochs": 0}
    return name, {}


def summarise(results: list, representation: str) -> dict:
    """linear, kNN, 1-shot, 5-shot and QbE numbers of one representation."""
    row = {}
    for result in results:
        if result.settings.get("representation") != representation:
            continue
        key = {"linear_probe": "linear", "knn": "knn", "query_by_example": "qbe_map"}.get(
            result.protocol)
        if result.protocol.startswith("few_label"):
            classifier = "" if "linear" in result.protocol else "_knn"
            key = f"{result.settings.get('labels_per_class')}_shot{classifier}"
        if key is not None:
            row[key] = round(100 * result.value, 2)
    return row


def run_method(name: str, seed: int, epochs: int | None, out: Path, smoke: bool) -> dict:
    recipe, overrides = method_overrides(name)
    overrides = {**overrides, "seed": seed}
    if epochs is not None:
        overrides["train.epochs"] = epochs
    if smoke:
        overrides.update({"train.steps": 2, "train.batch_size": 16, "eval.few_label_seeds": [0],
                          "data.options.words": ["yes", "no", "up", "down"],
                          "data.options.voices": 4})
    started = time.perf_counter()
    run = contrastlearn.pretrain(recipe, overrides=overrides, out=out / f"{name}-seed{seed}",
                                 overwrite=True, progress=False)
    seconds = time.perf_counter() - started
    rows = [{"method": name, "seed": seed, "epochs": run.recipe.train.epochs,
             "train_seconds": round(run.training.seconds, 1), "total_seconds": round(seconds, 1),
             **summarise(run.results, "encoder")},
            {"method": "MFCC features", "seed": seed, **summarise(run.results, "raw")},
            {"method": "MFCC + DTW", **summarise(run.results, "MFCC + DTW")}]
    return rows


def supervised_rows(splits, epochs: int, shots: int | None, seed: int, smoke: bool) -> dict:
    """A supervised audio_cnn + linear classifier (cross-entropy) and its test accuracy."""
    torch.manual_seed(seed)
    train = splits.train
    chosen = (torch.arange(len(train)) if shots is None
              else sample_labels_per_class(train.y, shots, seed))
    x, y = train.x[chosen], train.y[chosen]
    encoder = ENCODERS.build("audio_cnn", width=32, sample_rate=splits.info["sample_rate"])
    classes = int(torch.cat([splits.train.y, splits.test.y]).max()) + 1
    model = nn.Sequential(encoder, nn.Linear(encoder.out_dim, classes))
    views = AUGMENTATIONS.build("kws_speed_volume_views")
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    batch = min(64 if shots else 128, len(x))
    steps = (2 if smoke else 300) if shots else (2 if smoke else epochs * (len(x) // batch))
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    model.train()
    for _ in range(steps):
        picked = torch.randint(len(x), (batch,), generator=generator)
        augmented = views(x[picked], generator)[0]
        loss = nn.functional.cross_entropy(model(augmented), y[picked])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - started
    model.eval()
    with torch.no_grad():
        predictions = torch.cat([model(part).argmax(dim=1) for part in splits.test.x.split(256)])
    accuracy = float((predictions == splits.test.y).float().mean())
    return {"accuracy": accuracy, "steps": steps, "train_seconds": round(seconds, 1)}


def run_supervised(args, out: Path) -> None:
    options = ({"words": ["yes", "no", "up", "down"], "voices": 4} if args.smoke else {})
    splits = DATASETS.get("spoken-words")(**options)
    full = supervised_rows(splits, args.supervised_epochs, None, 0, args.smoke)
    keep_row(out, {"method": "supervised audio_cnn (all labels)", "linear": round(
        100 * full["accuracy"], 2), "steps": full["steps"], "train_seconds": full["train_seconds"]})
    seeds = FEW_SHOT_SEEDS[:1] if args.smoke else FEW_SHOT_SEEDS
    for shots in (1, 5):
        scores = [supervised_rows(splits, 0, shots, seed, args.smoke)["accuracy"]
                  for seed in seeds]
        keep_row(out, {"method": f"supervised audio_cnn ({shots} per class)",
                       f"{shots}_shot": round(100 * statistics.mean(scores), 2),
                       "std": round(100 * statistics.stdev(scores), 2) if len(scores) > 1
                       else 0.0, "draws": len(scores)})


def run_continual(args, out: Path, runs: Path) -> None:
    for replay in (0.25, 0.0):
        overrides = {"train.batch_sampler.kwargs.replay_fraction": replay}
        if args.smoke:
            overrides.update({"train.epochs": 5, "train.batch_size": 16,
                              "train.batch_sampler.kwargs.epochs_per_stage": 1,
                              "train.batch_sampler.kwargs.stages": 2,
                              "data.options.words": ["yes", "no", "up", "down"],
                              "data.options.voices": 4, "eval.few_label_seeds": [0]})
        run = contrastlearn.pretrain("kws-continual", overrides=overrides,
                                     out=runs / f"continual-replay{replay}", overwrite=True,
                                     progress=False)
        stages = [record for record in run.training.history if "stage" in record]
        keep_row(out, {"method": "kws-continual" if replay else "sequential, no replay",
                       "replay_fraction": replay,
                       "per_stage_old_knn": [round(100 * r["old_classes_knn_top1"], 2)
                                             if "old_classes_knn_top1" in r else None
                                             for r in stages],
                       "per_stage_first_knn": [round(100 * r["first_stage_knn_top1"], 2)
                                               for r in stages],
                       **summarise(run.results, "encoder")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS),
                        choices=METHODS + VARIANTS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--supervised-epochs", type=int, default=10)
    parser.add_argument("--supervised-only", action="store_true")
    parser.add_argument("--no-supervised", action="store_true")
    parser.add_argument("--continual", action="store_true", help="only the continual rows")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" /
                        f"audio_{time.strftime('%Y-%m-%d')}.jsonl")
    parser.add_argument("--runs", type=Path, default=Path("/tmp/contrastlearn-bench-audio"))
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        folder = smoke_folder()
        args.out, args.runs = folder / "rows.jsonl", folder / "runs"
        args.methods, args.seeds = ["kws-cab"], [0]
        without_run_reports()
    print(f"threads {torch.get_num_threads()}; rows -> {args.out}", flush=True)
    if args.continual:
        run_continual(args, args.out, args.runs)
        return
    if not args.supervised_only:
        for name in args.methods:
            for seed in args.seeds:
                for row in run_method(name, seed, args.epochs, args.runs, args.smoke):
                    keep_row(args.out, row)
    if not args.no_supervised:
        run_supervised(args, args.out)


if __name__ == "__main__":
    main()
