"""Time series: choose a recipe per dataset without test labels, then report the chosen
recipes' test accuracy over three seeds.

The rule: every candidate recipe's seed-0 run carries `train_cv_accuracy` (TS2Vec's SVM protocol
cross-validated inside the train split); per dataset the candidate with the highest value wins,
ties going to the earlier candidate in `--candidates` (the default recipe first). A candidate
is a recipe name, or a recipe with `bench_timeseries.py --set` overrides written
``recipe[key=value,...]``. The chosen candidate's test accuracy is then read from its
three-seed runs; test labels play no part in the choice.

    cd benchmarks/results
    python ../timeseries_select_by_cv.py \
       --cv timeseries_seed0_train_cv_2026-11-28.jsonl \
            timeseries_view_policy_selection_2026-11-28.jsonl \
       --test timeseries_{ts2vec_averaged,ts-instance,ts-learned-aug,ts-tcc}_3seeds_2026-11-28.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from bench_timeseries import REFERENCE

NINE = ("GunPoint", "ArrowHead", "ItalyPowerDemand", "OSULeaf", "UnitTest", "Covid3Month_disc",
        "PickupGestureWiimoteZ", "BasicMotions", "JapaneseVowels")
"""The nine sets the reference TS2Vec run covers (its mean is the target)."""


def label(row: dict) -> str:
    """A run's candidate name: its recipe, with its `--set` overrides in brackets if any
    (e.g. ``ts-softclt[method.kwargs.instance_tau=20]``)."""
    overrides = row.get("overrides") or {}
    if not overrides:
        return row["recipe"]
    return row["recipe"] + "[" + ",".join(f"{key}={overrides[key]}"
                                          for key in sorted(overrides)) + "]"


def labelled_rows(paths: list[Path]) -> list[dict]:
    """Every run row, with its candidate name under "label"."""
    rows = []
    for path in paths:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row.get("recipe"):
                rows.append({**row, "label": label(row)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", type=Path, nargs="+", required=True,
                        help="seed-0 runs with train_cv_accuracy")
    parser.add_argument("--test", type=Path, nargs="+", required=True,
                        help="the candidates' runs over seeds 0, 1, 2")
    parser.add_argument("--candidates", nargs="+",
                        default=["ts2vec", "ts-instance", "ts-learned-aug", "ts-tcc"])
    args = parser.parse_args()
    train_cv = {(row["label"], row["dataset"]): row["train_cv_accuracy"]
                for row in labelled_rows(args.cv)
                if row["seed"] == 0 and "train_cv_accuracy" in row}
    test: dict[tuple[str, str], dict[int, float]] = {}
    for row in labelled_rows(args.test):
        test.setdefault((row["label"], row["dataset"]), {})[row["seed"]] = row["svm_accuracy"]
    print("| dataset | " + " | ".join(f"{name} train CV" for name in args.candidates)
          + " | chosen | its test acc (3 seeds) | reference |")
    print("|" + "---|" * (len(args.candidates) + 4))
    chosen_means, by_seed = [], {seed: [] for seed in (0, 1, 2)}
    for dataset in NINE:
        scores = [train_cv[(name, dataset)] for name in args.candidates]
        choice = args.candidates[scores.index(max(scores))]  # first of the best: ties -> earlier
        seeds = test[(choice, dataset)]
        if sorted(seeds) != [0, 1, 2]:
            raise SystemExit(f"{choice} on {dataset} has seeds {sorted(seeds)}, not 0, 1, 2")
        mean = statistics.mean(seeds.values())
        chosen_means.append(mean)
        for seed, value in seeds.items():
            by_seed[seed].append(value)
        print(f"| {dataset} | " + " | ".join(f"{score:.3f}" for score in scores)
              + f" | {choice} | {mean:.3f} ± {statistics.stdev(seeds.values()):.3f} | "
              f"{REFERENCE[dataset]:.3f} |")
    reference = statistics.mean(REFERENCE[dataset] for dataset in NINE)
    print(f"\nmean of the nine, chosen per dataset: {statistics.mean(chosen_means):.4f} "
          "(per seed: " + ", ".join(f"{statistics.mean(values):.4f}"
                                    for values in by_seed.values())
          + f"); reference TS2Vec mean {reference:.4f}")


if __name__ == "__main__":
    main()
