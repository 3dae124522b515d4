"""Recommendation on MovieLens-100K: our recipes, most-popular ranking, and (with `--recbole`)
RecBole 1.2.1's models on the same split, one after another on this machine.

    python benchmarks/bench_recsys.py                                # CF recipes, 3 seeds
    python benchmarks/bench_recsys.py --recipes lightgcn sgl --seeds 0 --epochs 20
    python benchmarks/bench_recsys.py --recbole --recbole-models LightGCN SGL SimGCL
    python benchmarks/bench_recsys.py --sequential                   # SASRec, CL4SRec, ...
    python benchmarks/bench_recsys.py --smoke

Data: `ml-100k` as the library reads it (every rating a positive, RecBole's default without
a threshold). Collaborative filtering: one random 80/10/10 split per user, drawn once with
split seed 0 (`data.options.split_seed`), so seeds change only the model's initialisation and
sampling; validation and test interactions of items without a train interaction are dropped
(counted in the run's data.json). Sequential recipes: leave-last-out by time.

Protocol (both libraries): full ranking over all 1,682 items, the user's train items masked
(and at test time the validation items too, as RecBole does), Recall@K and NDCG@K for K in
{10, 20, 50} on the test interactions, averaged over test users; mean ± sample std over seeds.
Our runs train `--epochs` epochs (default: the recipe's) and are scored once at the end;
RecBole trains up to the same number of epochs with its default hyper-parameters, evaluates
on validation every `--recbole-eval-step` epochs and reports the test score of its best
validation epoch (its standard early-stopping protocol). Time per epoch: training only
(evaluation excluded) divided by epochs.

`--recbole` writes the split as RecBole atomic files (`<dir>/ml-100k-split.{train,valid,test}
.inter`) and runs `benchmarks/recbole_side_by_side.py` in the separate venv that
`benchmarks/recbole_venv.sh` makes (RecBole is no project dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import torch
from result_rows import add_smoke_option, keep_row, smoke_folder, without_run_reports

import contrastlearn
from contrastlearn.api import load_run_data, resolve_run_recipe
from contrastlearn.config import apply_overrides

CF_RECIPES = ("lightgcn", "sgl", "simgcl", "xsimgcl", "lightgcl", "ncl", "dccf")
SEQUENTIAL_RECIPES = ("sasrec", "cl4srec", "icsrec", "mclrec")
KS = (10, 20, 50)
RECBOLE_PYTHON = Path("/work/venvs/recbole/bin/python")
SPLIT_NAME = "ml-100k-split"


def metrics_of(results, representation: str = "encoder", validation: bool = False) -> dict:
    """recall@K / ndcg@K / coverage@K of one run's full-sort results on the test split (named
    after the split, e.g. ratio_0.8_0.1_0.1_seed0), or on the validation split."""
    chosen = {}
    for result in results:
        if (result.protocol == "full_sort" and (result.split == "valid") == validation
                and result.settings.get("representation") == representation
                and result.metric.split("@")[0] in ("recall", "ndcg", "coverage")):
            chosen[result.metric] = result.value
    return chosen


def export_split(recipe_name: str, overrides: dict, folder: Path) -> Path:
    """The recipe's split as RecBole atomic files; returns the folder."""
    recipe = apply_overrides(resolve_run_recipe(recipe_name), overrides)
    splits = load_run_data(recipe)
    ranking = splits.extras["ranking"]
    vocabulary = splits.extras["recommender"].vocabulary
    folder.mkdir(parents=True, exist_ok=True)
    header = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    for part, interactions in (("train", ranking.train), ("valid", ranking.valid),
                               ("test", ranking.test)):
        lines = [header]
        ratings = interactions.ratings if interactions.ratings is not None else torch.ones(
            len(interactions))
        stamps = (interactions.timestamps if interactions.timestamps is not None
                  else torch.zeros(len(interactions)))
        for user, item, rating, stamp in zip(interactions.users.tolist(),
                                             interactions.items.tolist(), ratings.tolist(),
                                             stamps.tolist()):
            lines.append(f"{vocabulary.user_ids[user]}\t{vocabulary.item_ids[item]}\t"
                         f"{rating:g}\t{stamp:.0f}\n")
        (folder / f"{SPLIT_NAME}.{part}.inter").write_text("".join(lines))
    return folder


def summarise(rows: list[dict], label: str) -> None:
    """Mean ± std over seeds of one recipe's rows, as a table line."""
    def cell(metric: str) -> str:
        values = [row[metric] for row in rows if metric in row]
        if not values:
            return "–"
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{100 * statistics.mean(values):.2f} ± {100 * spread:.2f}"
    per_epoch = [row["seconds_per_epoch"] for row in rows if row.get("seconds_per_epoch")]
    seconds = f"{statistics.mean(per_epoch):.2f}" if per_epoch else "–"
    print(f"| {label} | {len(rows)} | {rows[0].get('epochs', '–')} | {seconds} | "
          f"{cell('recall@20')} | {cell('ndcg@20')} | {cell('recall@10')} | "
          f"{cell('ndcg@10')} |", flush=True)


def select(recipe: str, args: argparse.Namespace, settings: dict, out: Path) -> dict:
    """`--select`: the value of one recipe key with the best validation NDCG@20 after
    `--select-epochs` epochs (seed 0, split seed 0); the test split is not looked at."""
    key, _, values = args.select.partition("=")
    best, best_score = None, -1.0
    for text in values.split(","):
        value = json.loads(text)
        overrides = {**settings, key: value, "seed": 0, "train.epochs": args.select_epochs}
        if recipe not in SEQUENTIAL_RECIPES:
            overrides["data.options.split_seed"] = 0
        run = contrastlearn.pretrain(recipe, out=Path(args.runs) / f"{recipe}-select",
                                     overwrite=True, overrides=overrides, progress=False)
        score = metrics_of(run.results, validation=True)["ndcg@20"]
        keep_row(out, {"benchmark": "recsys", "row": "selection", "recipe": recipe,
                       "attempt": args.attempt, "overrides": overrides, "split": "valid",
                       "ndcg@20": score})
        if score > best_score:
            best, best_score = value, score
    print(f"{recipe}: {key} = {best} (validation NDCG@20 {best_score:.4f})", flush=True)
    return {key: best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="*", default=None)
    parser.add_argument("--sequential", action="store_true",
                        help=f"the sequential recipes ({', '.join(SEQUENTIAL_RECIPES)})")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="train.epochs of every recipe")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", dest="settings")
    parser.add_argument("--select", default=None, metavar="KEY=V1,V2,...",
                        help="choose KEY per recipe on the validation split first: one seed-0 "
                             "run of --select-epochs per value, the best validation NDCG@20 "
                             "wins (ties: the first value), then every seed runs with it")
    parser.add_argument("--select-epochs", type=int, default=20)
    parser.add_argument("--attempt", type=int, default=1)
    parser.add_argument("--recbole", action="store_true", help="also run RecBole's models")
    parser.add_argument("--recbole-only", action="store_true")
    parser.add_argument("--recbole-models", nargs="*",
                        default=["LightGCN", "SGL", "NCL"],
                        help="RecBole 1.2.1 models (SimGCL and LightGCL live in RecBole-GNN, "
                             "which is not on PyPI)")
    parser.add_argument("--recbole-epochs", type=int, default=None,
                        help="RecBole's epoch cap (default: --epochs, else 100)")
    parser.add_argument("--recbole-eval-step", type=int, default=5)
    parser.add_argument("--runs", default="runs/bench-recsys")
    parser.add_argument("--out", default=f"benchmarks/results/recsys_{time.strftime('%Y-%m-%d')}"
                                         ".jsonl")
    add_smoke_option(parser)
    args = parser.parse_args()
    recipes = args.recipes or list(SEQUENTIAL_RECIPES if args.sequential else CF_RECIPES)
    settings = dict(item.split("=", 1) for item in args.settings)
    settings = {key: json.loads(value) if value[:1] in "[{0123456789-tf" else value
                for key, value in settings.items()}
    if args.smoke:
        folder = smoke_folder()
        args.runs, args.out = str(folder / "runs"), str(folder / "rows.jsonl")
        recipes, args.seeds, args.epochs = recipes[:1], args.seeds[:1], 1
        without_run_reports()
    out = Path(args.out)
    print(f"ml-100k, recipes {recipes}, seeds {args.seeds}, epochs {args.epochs or 'recipe'}; "
          f"{torch.get_num_threads()} threads, load {os.getloadavg()[0]:.2f}", flush=True)
    table: dict[str, list[dict]] = {}
    for recipe in [] if args.recbole_only else recipes:
        chosen = {}
        if args.select:
            chosen = select(recipe, args, settings, out)
        for seed in args.seeds:
            overrides = {**settings, **chosen, "seed": seed}
            if recipe not in SEQUENTIAL_RECIPES:
                overrides["data.options.split_seed"] = 0
            if args.epochs is not None:
                overrides["train.epochs"] = args.epochs
            run = contrastlearn.pretrain(recipe, out=Path(args.runs) / f"{recipe}-s{seed}",
                                         overwrite=True, overrides=overrides, progress=False)
            epochs = run.recipe.train.epochs
            row = keep_row(out, {
                "benchmark": "recsys", "library": "contrastlearn", "dataset": "ml-100k",
                "recipe": recipe, "attempt": args.attempt, "seed": seed,
                "overrides": overrides, "epochs": epochs,
                "steps": run.training.steps, "train_seconds": run.training.seconds,
                "seconds_per_epoch": run.training.seconds / epochs,
                "final_loss": run.training.final_loss, **metrics_of(run.results),
                "valid": metrics_of(run.results, validation=True)})
            table.setdefault(recipe, []).append(row)
            if seed == args.seeds[0]:
                table.setdefault("most popular", []).append(
                    {"epochs": "–", **metrics_of(run.results, "most popular")})
    if args.recbole or args.recbole_only:
        split_dir = export_split("lightgcn", {"data.options.split_seed": 0},
                                 Path(args.runs) / "recbole-split")
        epochs = args.recbole_epochs or args.epochs or 100
        command = [str(RECBOLE_PYTHON), "benchmarks/recbole_side_by_side.py", "--split-dir",
                   str(split_dir), "--dataset", SPLIT_NAME, "--models", *args.recbole_models,
                   "--epochs", str(epochs), "--seeds", *map(str, args.seeds),
                   "--config", f"eval_step={args.recbole_eval_step}", "--out", str(out)]
        print(" ".join(command), flush=True)
        before = out.read_text().count("\n") if out.exists() else 0
        subprocess.run(command, check=True,
                       env={**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"})
        for line in out.read_text().splitlines()[before:]:
            row = json.loads(line)
            if row.get("library") == "recbole":
                table.setdefault(f"RecBole {row['model']}", []).append(
                    {"epochs": row["epochs_run"],
                     "seconds_per_epoch": row["train_seconds_per_epoch"], **row["test"]})
    print("\n| model | seeds | epochs | s / epoch | Recall@20 | NDCG@20 | Recall@10 | NDCG@10 |")
    print("|---|---|---|---|---|---|---|---|")
    for label, rows in table.items():
        summarise(rows, label)


if __name__ == "__main__":
    main()
