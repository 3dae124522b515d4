"""Views: k pipelines -> k augmented views of one batch (multi-crop = pipelines with counts)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from contrastlearn.augment.base import Augmentation, Compose


@dataclass
class ViewPipeline:
    """One augmentation pipeline and how many views it makes per batch."""

    augmentation: Augmentation
    count: int = 1


STRENGTH_DECIMALS = 2
"""`Views.set_strength` rounds to this many decimals, so a run builds at most 101 view policies,
each once (then reused): a strength schedule costs a dictionary look-up per step."""


class Views:
    """Makes the views a method trains on: every pipeline applied `count` times to the batch.

    Views from different pipelines may have different shapes (e.g. SwAV's 2 global crops of
    size 224 and 6 local crops of size 96); views of one pipeline share a shape.

    `strength` is a multiplier in [0, 1] of the policy's own strength (1: the views as built,
    0: the policy at strength 0, its no-augmentation control); it changes at run time with
    `set_strength` once `rebuild_with` says how the policy is made at another strength.
    """

    def __init__(self, pipelines: Sequence[ViewPipeline | Augmentation]) -> None:
        self.pipelines = [
            p if isinstance(p, ViewPipeline) else ViewPipeline(p) for p in pipelines
        ]
        if not self.pipelines or any(p.count < 1 for p in self.pipelines):
            raise ValueError("Views needs at least one pipeline with count >= 1")
        self.strength = 1.0
        self._rebuild: Callable[[float], Views] | None = None
        self._by_strength: dict[float, list[ViewPipeline]] = {}

    def rebuild_with(self, rebuild: Callable[[float], Views]) -> Views:
        """Let `set_strength` work: `rebuild(s)` makes this policy at strength multiplier `s`
        (deterministic; `rebuild(1.0)` is these views). Returns self."""
        self._rebuild = rebuild
        self._by_strength = {1.0: self.pipelines}
        return self

    @property
    def adjustable(self) -> bool:
        """Whether `set_strength` can change these views."""
        return self._rebuild is not None

    def set_strength(self, strength: float) -> None:
        """Make the following views at `strength` (in [0, 1], rounded to STRENGTH_DECIMALS)
        times the policy's own strength; each level is built once and then reused."""
        strength = float(strength)
        if not 0.0 <= strength <= 1.0:  # also refuses NaN
            raise ValueError(f"augmentation strength must be in [0, 1] (a multiplier of the view "
                             f"policy's own strength), got {strength}")
        if self._rebuild is None:
            raise ValueError("these views cannot change strength: build them from a view policy "
                             "that takes `strength` (e.g. simclr_views, eda_views, "
                             "timeseries_views) or drop the strength schedule")
        level = round(strength, STRENGTH_DECIMALS)
        if level not in self._by_strength:
            made = self._rebuild(level)
            if made.num_views != self.num_views:
                raise ValueError(f"the view policy made {made.num_views} views at strength "
                                 f"{level} and {self.num_views} at strength 1; it must make "
                                 "the same number at every strength")
            self._by_strength[level] = made.pipelines
        self.pipelines = self._by_strength[level]
        self.strength = level

    @property
    def num_views(self) -> int:
        return sum(p.count for p in self.pipelines)

    def __call__(self, x: Tensor, generator: torch.Generator) -> list[Tensor]:
        return [
            pipeline.augmentation(x, generator)
            for pipeline in self.pipelines
            for _ in range(pipeline.count)
        ]

    def __repr__(self) -> str:
        inner = ", ".join(f"{p.count}x {p.augmentation!r}" for p in self.pipelines)
        return f"Views({inner})"

    def describe(self) -> list[str]:
        """One line per pipeline, naming the views it makes and its transforms in order
        (`describe_augmentation`): what a person reads to check a recipe's views."""
        lines, first = [], 1
        for pipeline in self.pipelines:
            last = first + pipeline.count - 1
            label = f"view {first}" if last == first else f"views {first}-{last}"
            lines.append(f"{label}: {describe_augmentation(pipeline.augmentation)}")
            first = last + 1
        return lines


SHORT_REPR = 60
"""Longest repr of a setting object (not a number, string or augmentation) shown as is;
longer ones (a tokenizer's) show as their type name."""


def describe_augmentation(augmentation: Augmentation) -> str:
    """`augmentation` in one readable line: a `Compose` as its steps joined by " -> ", any
    other as Name(setting=value, ...), long floats to 4 significant digits, nested augmentations
    described the same way."""
    if isinstance(augmentation, Compose):
        return " -> ".join(describe_augmentation(step) for step in augmentation.augmentations)
    settings = ", ".join(f"{key}={_describe_value(value)}"
                         for key, value in vars(augmentation).items() if not key.startswith("_"))
    return f"{type(augmentation).__name__}({settings})"


def _describe_value(value: object) -> str:
    """A setting's value for `describe_augmentation`."""
    if isinstance(value, Augmentation):
        return describe_augmentation(value)
    if isinstance(value, float):
        text = repr(value)
        return text if len(text) <= 7 else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_describe_value(item) for item in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key!r}: {_describe_value(item)}"
                               for key, item in value.items()) + "}"
    text = repr(value)
    if value is None or isinstance(value, (bool, int, str)) or len(text) <= SHORT_REPR:
        return text
    return type(value).__name__
