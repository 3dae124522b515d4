"""Multimodal objectives at one budget: CLIP, SigLIP and CLIP + SSL on image-caption pairs
(zero-shot accuracy, retrieval, the modality gap), contrastive-gap fine-tuning of the CLIP run,
and Symile against pairwise CLIP where the information is only in the joint of three
modalities.

    python benchmarks/bench_multimodal.py                       # every part
    python benchmarks/bench_multimodal.py --parts captions      # CLIP / SigLIP / CLIP+SSL / gap
    python benchmarks/bench_multimodal.py --parts words         # Symile vs pairwise CLIP
    python benchmarks/bench_multimodal.py --parts words --rescore   # saved runs, scored again
    python benchmarks/bench_multimodal.py --smoke

Settings, fixed before any run (no test number chose anything; no attempt was tuned):

- captions: `fashion-captions`, a stratified 20,000 of the 60,000 training images (seed 0) with
  their training-template captions; all 10,000 test images with test-template captions. The
  recipes `clip-fashion`, `siglip-fashion` and `clip-ssl` as shipped (small_cnn + a 2-layer
  from-scratch text Transformer, embed_dim 128, batch 256, AdamW lr 1e-3, weight decay 0.1),
  each for 3 epochs (234 steps): the same budget in steps, so CLIP + SSL, which encodes two
  image views, costs more time and says so. `clip-untrained` is the CLIP recipe at lr 1e-12
  for one epoch (its weights stay at initialisation). `clip-gap` fine-tunes the CLIP run for 1
  more epoch with the contrastive-gap objective (CLIP + alignment + uniformity).
- words: `words-three-ways` with relation `sum` (speech word = text word + picture word mod 5,
  4 pairings per clip: 2,280 training records; test voices and fonts unseen), the
  `symile-words` recipe (20 epochs, batch 128) with `symile` (O(N^2) negatives) against the
  same recipe with `pairwise_clip`; judged by joint retrieval: each modality's word from the
  other two, scored the way each objective scores a triple (Symile: multilinear inner product;
  pairwise: sum of cosines); a hit is a candidate of the query's class, and the class is the
  spoken word, so the number that reads as accuracy is text + picture -> speech. Chance is
  20 %.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from result_rows import add_smoke_option, keep_row, smoke_folder, without_run_reports

import contrastlearn

PARTS = ("captions", "words")
CAPTION_METHODS = ("clip-fashion", "siglip-fashion", "clip-ssl", "clip-untrained")
TRAIN_SIZE = 20_000


def caption_row(name: str, run, seconds: float) -> dict:
    """The numbers of a caption run: zero-shot, retrieval both ways, gap, probes."""
    row: dict = {"method": name, "epochs": run.recipe.train.epochs,
                 "steps": run.training.steps,
                 "train_seconds": round(run.training.seconds, 1),
                 "total_seconds": round(seconds, 1)}
    for result in run.results:
        settings = result.settings
        key = None
        if result.protocol == "zero_shot":
            key = f"zero_shot_{result.metric}"
        elif result.protocol.endswith("_retrieval") and result.metric.startswith("recall@"):
            key = f"{settings['direction']}_{result.metric}".replace("->", "_to_")
        elif result.protocol == "modality_gap":
            key = f"gap_{result.metric}"
        elif result.protocol == "linear_probe" and "embedding" in str(settings.get("modalities")):
            key = f"linear_{settings['modalities'].split()[0]}"
        elif result.protocol.startswith("language_only_probe"):
            key = result.protocol
        if key is not None:
            plain = result.metric in ("centroid_distance", "mean_paired_cosine")
            row[key] = round(result.value, 4) if plain else round(100 * result.value, 2)
    return row


def caption_overrides(name: str, smoke: bool) -> tuple[str, dict]:
    recipe = "clip-fashion" if name == "clip-untrained" else name
    overrides: dict = {"data.options.train_size": TRAIN_SIZE, "train.epochs": 3}
    if name == "clip-untrained":
        overrides.update({"train.epochs": 1, "train.lr": 1e-12, "train.warmup_epochs": 0})
    if smoke:
        overrides.update({"data.options.train_size": 200, "data.options.test_size": 100,
                          "train.steps": 2, "train.batch_size": 32, "eval.limit": 100})
    return recipe, overrides


def run_captions(args) -> None:
    clip_run = None
    for name in CAPTION_METHODS:
        recipe, overrides = caption_overrides(name, args.smoke)
        started = time.perf_counter()
        run = contrastlearn.pretrain(recipe, overrides=overrides, out=args.runs / name,
                                     overwrite=True, progress=False)
        keep_row(args.out, caption_row(name, run, time.perf_counter() - started))
        if name == "clip-fashion":
            clip_run = args.runs / name
    _, overrides = caption_overrides("clip-gap", args.smoke)
    overrides.update({"train.epochs": 1, "encoder.kwargs.init_from": str(clip_run)})
    started = time.perf_counter()
    run = contrastlearn.pretrain("clip-gap", overrides=overrides, out=args.runs / "clip-gap",
                                 overwrite=True, progress=False)
    keep_row(args.out, caption_row("clip-gap (fine-tuned from clip-fashion, +1 epoch)", run,
                                   time.perf_counter() - started))


def joint_row(name: str, results: list, epochs: int, train_seconds: float) -> dict:
    row: dict = {"method": name, "epochs": epochs, "train_seconds": round(train_seconds, 1)}
    for result in results:
        if "scoring" in result.settings and result.metric == "recall@1":
            direction = result.settings["direction"].split("->")[1]
            row[f"{result.settings['scoring']}_to_{direction}"] = round(100 * result.value, 2)
        elif result.protocol.endswith("_retrieval") and result.metric == "recall@1":
            row[result.settings["direction"].replace("->", "_to_") + "_r1"] = round(
                100 * result.value, 2)
    return row


def run_words(args) -> None:
    for method in ("symile", "pairwise_clip"):
        out = args.runs / f"words-{method}"
        if args.rescore:  # the saved run scored again by the current protocols
            training = json.loads((out / "training.json").read_text())
            results = contrastlearn.evaluate(out)
            keep_row(args.out, {**joint_row(method, results, training["epochs_completed"],
                                            training["seconds"]), "rescored": True})
            continue
        overrides: dict = {"method.name": method}
        if method == "pairwise_clip":
            overrides["method.kwargs"] = {}
        if args.smoke:
            overrides.update({"train.steps": 2, "train.batch_size": 16,
                              "data.options.pairings": 1})
        run = contrastlearn.pretrain("symile-words", overrides=overrides, out=out,
                                     overwrite=True, progress=False)
        keep_row(args.out, joint_row(method, run.results, run.recipe.train.epochs,
                                     run.training.seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" /
                        f"multimodal_{time.strftime('%Y-%m-%d')}.jsonl")
    parser.add_argument("--runs", type=Path, default=Path("/tmp/contrastlearn-bench-multimodal"))
    parser.add_argument("--rescore", action="store_true",
                        help="words: score the runs saved in --runs again, without training")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        folder = smoke_folder()
        args.out, args.runs = folder / "rows.jsonl", folder / "runs"
        without_run_reports()
    print(f"threads {torch.get_num_threads()}; rows -> {args.out}", flush=True)
    if "captions" in args.parts:
        run_captions(args)
    if "words" in args.parts:
        run_words(args)


if __name__ == "__main__":
    main()
