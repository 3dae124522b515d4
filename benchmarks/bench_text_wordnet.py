"""Text, benchmark 1: all-MiniLM-L6-v2 zero-shot against MiniLM adapted on WordNet's unlabeled
glosses and example sentences by the shipped recipes (unsupervised SimCSE, ESimCSE, ...).

Protocols, on synsets held out from training (the `wordnet` dataset; `--seed` also picks the
split, so every model of one seed is scored on the same held-out synsets): each held-out
example sentence retrieves its own synset's gloss among all held-out glosses (MRR, Recall@1/10),
and a linear probe of the 45 lexicographer classes (trained on the training glosses and
examples' embeddings, tested on the held-out glosses). Prints a markdown table and appends one
JSON line per row to the output file.

    python benchmarks/bench_text_wordnet.py --recipes zero-shot simcse esimcse
    python benchmarks/bench_text_wordnet.py --smoke   # zero-shot and simcse, 1 step, 200 texts
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from result_rows import add_smoke_option, keep_row, smoke_folder, without_run_reports

import contrastlearn
from contrastlearn.core.registry import DATASETS
from contrastlearn.modalities.text.encoders import hf_text_encoder

ZERO_SHOT = "zero-shot"


def scores(results: list) -> dict:
    chosen = {}
    for result in results:
        if result.protocol == "retrieval" and result.metric in ("mrr", "recall@1", "recall@10"):
            chosen[result.metric] = result.value
        if result.protocol == "linear_probe":
            chosen["lexname_probe"] = result.value
    return chosen


def run(recipe: str, seed: int, runs: Path, steps: int | None, size: dict | None = None) -> dict:
    """`size` (test_synsets, max_train_texts of the `wordnet` dataset) shrinks the data for
    quick checks; default: the dataset's own sizes, as the recipes read it."""
    started = time.perf_counter()
    splits = (DATASETS.build("wordnet", holdout_fraction=0.2, seed=seed, **(size or {}))
              if recipe == ZERO_SHOT or size else None)  # the runs' split
    if recipe == ZERO_SHOT:
        encoder = hf_text_encoder(max_length=32)
        results = contrastlearn.evaluate(encoder, splits, protocols=["linear_probe"],
                                         labels_per_class=[])
        train = {"train_seconds": 0.0, "steps": 0}
    else:
        overrides = {"seed": seed, "eval.protocols": ["linear_probe"]}
        if steps is not None:
            overrides["train.steps"] = steps
        result = contrastlearn.pretrain(recipe, dataset=splits,
                                        out=runs / f"{recipe}-seed{seed}", overwrite=True,
                                        overrides=overrides, progress=False)
        results = result.results
        train = {"train_seconds": result.training.seconds, "steps": result.training.steps,
                 "batch_size": result.recipe.train.batch_size, "lr": result.recipe.train.lr,
                 "samples_per_second": result.training.samples_per_second}
    return {"recipe": recipe, "seed": seed, **scores(results), **train,
            "total_seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=[ZERO_SHOT, "simcse", "esimcse"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, help="override the recipes' training steps")
    parser.add_argument("--runs", default="runs/bench-text-wordnet")
    parser.add_argument("--out", default="benchmarks/results/text_wordnet.jsonl")
    parser.add_argument("--test-synsets", type=int, help="fewer held-out synsets (quick checks)")
    parser.add_argument("--max-train-texts", type=int, help="fewer training texts (quick checks)")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.recipes, args.steps = [ZERO_SHOT, "simcse"], 1
        args.test_synsets, args.max_train_texts = 40, 200
        folder = smoke_folder()
        args.runs, args.out = str(folder / "runs"), str(folder / "text_wordnet.jsonl")
        without_run_reports()
    size = {key: value for key, value in (("test_synsets", args.test_synsets),
                                          ("max_train_texts", args.max_train_texts))
            if value is not None}
    rows = [keep_row(Path(args.out), {**run(recipe, args.seed, Path(args.runs), args.steps,
                                            size), **size})
            for recipe in args.recipes]
    print("\n| model | MRR | Recall@1 | Recall@10 | lexname probe top-1 | steps | train s |\n"
          "|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| MiniLM {row['recipe']} | {row['mrr']:.3f} | {row['recall@1']:.3f} | "
              f"{row['recall@10']:.3f} | {row['lexname_probe']:.3f} | {row['steps']} | "
              f"{row['train_seconds']:.0f} |")


if __name__ == "__main__":
    main()
