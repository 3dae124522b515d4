"""What every evaluator returns: the number together with the protocol that produced it.

A bare "93.4%" is meaningless without the classifier, its settings and the split it was measured
on; `Result` keeps them together, round-trips through JSON, and prints as one readable line.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from contrastlearn.core.atomic import atomic_write

# Metrics that are proportions or probabilities in [0, 1] and read best as percentages:
# accuracies, Recall@K, MRR, mAP, AUROC and average precision. Correlation- and agreement-type
# scores (nmi, ari, spearman, pearson) are not proportions (ari and the correlations can be
# negative) and print as plain numbers.
PERCENT_METRICS = frozenset({"top1", "top5", "accuracy", "balanced_accuracy", "mrr", "map",
                             "auroc", "average_precision"})
"""Metrics shown as percentages, together with every ``recall@K``."""


def is_percent_metric(metric: str) -> bool:
    """Whether `metric` is a fraction in [0, 1] best read as a percentage."""
    return metric in PERCENT_METRICS or metric.startswith("recall@")


@dataclass
class Result:
    """One measured number and its protocol.

    Attributes:
        protocol: evaluator name, e.g. ``"linear_probe"``, ``"knn"``, ``"few_label_knn"``.
        metric: what `value` measures, e.g. ``"top1"`` (accuracy in [0, 1]).
        value: the number (the mean over seeds when `num_seeds` is set).
        split: the split the number was measured on, e.g. ``"test"``.
        settings: every setting that changes the number (JSON-safe values).
        std: standard deviation over seeds, when the protocol repeats over seeds.
        num_seeds: how many seeds `value` and `std` summarise.
    """

    protocol: str
    metric: str
    value: float
    split: str
    settings: dict[str, Any] = field(default_factory=dict)
    std: float | None = None
    num_seeds: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of JSON-safe values (tuples become lists, numpy/torch scalars floats)."""
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        """Rebuild a Result from `to_dict()` output; unknown or missing keys are errors."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"unknown Result keys {unknown}; expected a subset of {sorted(names)}"
            )
        missing = sorted(name for name in ("protocol", "metric", "value", "split")
                         if name not in data)
        if missing:
            raise ValueError(f"Result dict is missing required keys {missing}")
        return cls(
            protocol=str(data["protocol"]),
            metric=str(data["metric"]),
            value=float(data["value"]),
            split=str(data["split"]),
            settings=dict(data.get("settings") or {}),
            std=None if data.get("std") is None else float(data["std"]),
            num_seeds=None if data.get("num_seeds") is None else int(data["num_seeds"]),
        )

    def formatted_value(self) -> str:
        """The value (± std) as people read it: fractions as percentages."""
        percent = is_percent_metric(self.metric)
        text = _format(self.value, percent)
        if self.std is not None:
            text += f" ± {_format(self.std, percent)}"
        return text

    def __str__(self) -> str:
        text = f"{self.protocol} {self.metric} = {self.formatted_value()}"
        details = [self.split]
        if self.num_seeds is not None:
            details.append(f"{self.num_seeds} seed{'s' if self.num_seeds != 1 else ''}")
        return f"{text} ({', '.join(details)})"


def merge_settings(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """One settings dict for a result repeated over seeds: every key whose value differs
    between seeds (the C an SVM search chose, L-BFGS iterations) becomes ``<key>_per_seed``."""
    merged: dict[str, Any] = {}
    for key, value in per_seed[0].items():
        values = [settings.get(key) for settings in per_seed]
        if all(other == value for other in values[1:]):
            merged[key] = value
        else:
            merged[f"{key}_per_seed"] = values
    return merged


def _format(value: float, percent: bool) -> str:
    if percent and math.isfinite(value):
        return f"{100.0 * value:.2f}%"
    return f"{value:.4g}"


def json_safe(value: Any) -> Any:
    """Convert `value` to plain JSON types: numpy/torch scalars and 0-d arrays to Python
    numbers, tuples/sets and 1-d arrays to lists, paths and devices to strings."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [json_safe(item) for item in items]
    if isinstance(value, Path):
        return str(value)
    tolist = getattr(value, "tolist", None)  # numpy arrays/scalars, torch tensors
    if callable(tolist):
        return json_safe(tolist())
    item = getattr(value, "item", None)
    if callable(item):
        return json_safe(item())
    return str(value)  # torch.device, dtypes, enums, ...


def save_results(results: Iterable[Result | Mapping[str, Any]], path: str | os.PathLike) -> None:
    """Write `results` as a JSON list to `path` atomically.

    The JSON goes to a temporary file in the same directory, which then replaces `path` with
    `os.replace`, so a reader never sees a half-written file and a crash leaves the old file.
    """
    path = Path(path)
    records = [
        result.to_dict() if isinstance(result, Result) else Result.from_dict(result).to_dict()
        for result in results
    ]
    text = json.dumps(records, indent=2, allow_nan=True) + "\n"
    atomic_write(path, text.encode("utf-8"))


def load_results(path: str | os.PathLike) -> list[Result]:
    """Read a JSON list written by `save_results` back into `Result` objects."""
    with open(path, encoding="utf-8") as stream:
        records = json.load(stream)
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON list of results, got {type(records).__name__}")
    return [Result.from_dict(record) for record in records]
