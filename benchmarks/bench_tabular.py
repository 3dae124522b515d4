"""Few-label classification of tables: SCARF and VIME encoders against the raw features, the
same encoder untrained, and gradient-boosted trees, on the built-in tables.

    python benchmarks/bench_tabular.py                           # every built-in table
    python benchmarks/bench_tabular.py --tables credit_data hmda --seeds 0 1 2
    python benchmarks/bench_tabular.py --smoke

Pre-registered before any run (settings rule; the test split is read once, at the end):

- Data: each built-in table's own split (stratified 20 % test, split seed 0). Labels are
  never seen by pre-training.
- Representations: (a) raw: the samples themselves (standardised numeric columns, missing
  indicators, one-hot categorical columns); (b) untrained: the `scarf` recipe's encoder
  (tabular_mlp, 3 x 256 ReLU, out 256) at its initialisation (seed 0); (c) SCARF: the `scarf`
  recipe (SimCLR on scarf_views, corruption 0.6, InfoNCE temperature 1); (d) VIME: the `vime`
  recipe (mask 0.3, alpha 2). Both pre-train on the table's whole train split, AdamW lr 1e-3,
  batch min(128, train rows // 8).
- Probes: the library's linear probe (L2 softmax regression by L-BFGS, weight decay 1e-4,
  standardised features) fit on 1 %, 10 % and 100 % of the train labels (stratified, at
  least one per class, `sample_label_fraction`), accuracy on the test split; 1 % and 10 % are
  drawn with seeds 0-4 (mean ± std); (e) scikit-learn's HistGradientBoostingClassifier
  (default settings, random_state 0) on the raw features of the same draws.
- The one setting chosen, the length of pre-training, is chosen per table and method among
  {300, 1500} optimizer steps on a validation split of the train split only: the train split
  is cut into 80 % fit / 20 % validation (stratified, seed 0); each candidate pre-trains on
  the fit rows; score = linear-probe accuracy on the validation rows with 10 % of the fit
  labels (mean over seeds 0-2); the best candidate (ties: fewer steps) is then pre-trained
  on the whole train split and measured on the test split. Nothing else is tuned.
- At most 2 attempts of the whole run (a second only if the first fails to finish); the
  numbers reported are those of the last attempt, whatever they are. Target: SCARF beats the
  raw features at 1 % labels.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch
from result_rows import add_smoke_option, keep_row, smoke_folder, without_run_reports
from sklearn.ensemble import HistGradientBoostingClassifier

import contrastlearn
import contrastlearn.modalities.tabular  # noqa: F401  (until plugins lists the room)
from contrastlearn import api
from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import DatasetSplits, stratified_holdout
from contrastlearn.evaluation import label_fraction_curve, sample_label_fraction

TABLES = ("breast_cancer", "wine", "credit_data", "telco_churn", "hmda", "affairs")
METHODS = {"scarf": "scarf", "vime": "vime"}
FRACTIONS = (0.01, 0.1, 1.0)
STEP_CANDIDATES = (300, 1500)
VALIDATION_SEEDS = (0, 1, 2)


def batch_size(rows: int) -> int:
    return max(8, min(128, rows // 8))


def pretrained(recipe: str, splits: DatasetSplits, steps: int, out: Path):
    """The recipe's encoder after `steps` steps on `splits.train` (no evaluation)."""
    run = contrastlearn.pretrain(
        recipe, dataset=splits, out=out, overwrite=True, progress=False, evaluate_after=False,
        overrides={"train.steps": steps, "train.batch_size": batch_size(len(splits.train)),
                   "train.warmup_epochs": 0, "eval.raw_baseline": False})
    return run.encoder.eval()


def untrained(recipe: str, splits: DatasetSplits):
    resolved = api.resolve_run_recipe(recipe)
    torch.manual_seed(resolved.seed)
    encoder, _ = api.build_encoder(resolved, splits, progress=False)
    return encoder.eval()


def features(encoder, splits: DatasetSplits) -> tuple[torch.Tensor, torch.Tensor]:
    prepared = api.prepare_for_encoder(splits, encoder)
    train, _ = api.embed_data(encoder, prepared.train)
    test, _ = api.embed_data(encoder, prepared.test)
    return train, test


def validation_splits(splits: DatasetSplits) -> DatasetSplits:
    """The train split cut into fit (80 %) and validation (20 %) rows, stratified, seed 0."""
    fit, held = stratified_holdout(splits.train.y, len(splits.train), 0.2, 0)
    return replace(splits, train=splits.train.subset(fit), test=splits.train.subset(held),
                   info={**splits.info, "test_split": "validation_0.2_seed0"})


def validation_score(encoder, splits: DatasetSplits) -> float:
    train, test = features(encoder, splits)
    results = label_fraction_curve(train, splits.train.y, test, splits.test.y, fractions=[0.1],
                                   seeds=VALIDATION_SEEDS)
    return results[0].value


def chosen_steps(recipe: str, splits: DatasetSplits, candidates: tuple[int, ...],
                 folder: Path) -> tuple[int, dict[int, float]]:
    """The candidate with the best validation score (ties: fewer steps)."""
    cut = validation_splits(splits)
    scores = {steps: validation_score(pretrained(recipe, cut, steps, folder / "validation"),
                                      cut) for steps in candidates}
    best = max(scores.values())
    return min(steps for steps, score in scores.items() if score == best), scores


def probe_rows(name: str, representation: str, train: torch.Tensor, test: torch.Tensor,
               splits: DatasetSplits, fractions, seeds) -> list[dict]:
    results = label_fraction_curve(train, splits.train.y, test, splits.test.y,
                                   fractions=fractions, seeds=seeds)
    return [{"table": name, "representation": representation, "probe": "linear_probe",
             "fraction": r.settings["fraction"], "accuracy": r.value, "std": r.std,
             "num_labelled": r.settings["num_labelled"],
             "values_per_seed": r.settings["values_per_seed"]} for r in results]


def boosting_rows(name: str, splits: DatasetSplits, fractions, seeds) -> list[dict]:
    x_train, y_train = splits.train.x.numpy(), splits.train.y
    x_test, y_test = splits.test.x.numpy(), splits.test.y.numpy()
    rows = []
    for fraction in fractions:
        draws = seeds[:1] if fraction == 1.0 else seeds
        values = []
        for seed in draws:
            subset = (torch.arange(len(y_train)) if fraction == 1.0
                      else sample_label_fraction(y_train, fraction, seed)).numpy()
            model = HistGradientBoostingClassifier(random_state=0)
            model.fit(x_train[subset], y_train.numpy()[subset])
            values.append(float((model.predict(x_test) == y_test).mean()))
        rows.append({"table": name, "representation": "raw", "probe": "hist_gradient_boosting",
                     "fraction": fraction, "accuracy": statistics.mean(values),
                     "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                     "num_labelled": len(subset), "values_per_seed": values})
    return rows


def run_table(name: str, args, folder: Path) -> list[dict]:
    splits = DATASETS.get(name)()
    context = {"train_rows": len(splits.train), "test_rows": len(splits.test),
               "width": splits.train.x.shape[1]}
    rows = probe_rows(name, "raw", splits.train.x, splits.test.x, splits, args.fractions,
                      args.seeds)
    rows += boosting_rows(name, splits, args.fractions, args.seeds)
    rows += probe_rows(name, "untrained", *features(untrained("scarf", splits), splits), splits,
                       args.fractions, args.seeds)
    for method, recipe in METHODS.items():
        started = time.perf_counter()
        steps, scores = chosen_steps(recipe, splits, args.steps, folder / name / method)
        encoder = pretrained(recipe, splits, steps, folder / name / method / "final")
        measured = probe_rows(name, method, *features(encoder, splits), splits, args.fractions,
                              args.seeds)
        for row in measured:
            row.update({"steps": steps, "validation_scores": scores,
                        "seconds": round(time.perf_counter() - started, 1)})
        rows += measured
    return [{**row, **context} for row in rows]


def print_table(rows: list[dict], fractions) -> None:
    print("\ntest accuracy (mean ± std over label draws; linear probe unless noted)")
    header = f"{'table':<14}{'representation':<28}" + "".join(
        f"{f'{fraction:g} labels':>16}" for fraction in fractions)
    print(header)
    order = [("raw", "linear_probe"), ("raw", "hist_gradient_boosting"),
             ("untrained", "linear_probe"), ("scarf", "linear_probe"), ("vime", "linear_probe")]
    for table in dict.fromkeys(row["table"] for row in rows):
        for representation, probe in order:
            cells = {row["fraction"]: row for row in rows if row["table"] == table
                     and row["representation"] == representation and row["probe"] == probe}
            if not cells:
                continue
            label = representation if probe == "linear_probe" else f"{representation} (HGB)"
            steps = next(iter(cells.values())).get("steps")
            label += f" [{steps} steps]" if steps else ""
            print(f"{table:<14}{label:<28}" + "".join(
                f"{cells[f]['accuracy']:>9.3f} ± {cells[f]['std']:.3f}" if f in cells else
                f"{'':>16}" for f in fractions))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", nargs="+", default=list(TABLES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "tabular.jsonl")
    parser.add_argument("--runs", type=Path, default=Path("runs/bench_tabular"))
    add_smoke_option(parser)
    args = parser.parse_args()
    args.fractions, args.steps = FRACTIONS, STEP_CANDIDATES
    if args.smoke:
        folder = smoke_folder()
        without_run_reports()
        args.tables, args.seeds, args.steps = ["breast_cancer"], [0], (2,)
        args.fractions, args.out, args.runs = (0.1, 1.0), folder / "rows.jsonl", folder
    torch.set_num_threads(1)
    print(f"cores {os.cpu_count()}, torch threads {torch.get_num_threads()}, load average "
          f"{os.getloadavg()[0]:.2f}, date {time.strftime('%Y-%m-%d %H:%M')}; "
          f"step candidates {args.steps}, seeds {args.seeds}; rows -> {args.out}", flush=True)
    rows = []
    for name in args.tables:
        for row in run_table(name, args, args.runs):
            rows.append(keep_row(args.out, {"benchmark": "tabular", **row}))
    print_table(rows, args.fractions)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
