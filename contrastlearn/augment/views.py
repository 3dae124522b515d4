"""Views: k pipelines -> k augmented views of one batch (multi-crop = pipelines with counts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from contrastlearn.augment.base import Augmentation, Compose


@dataclass
class ViewPipeline:
    """One augmentation pipeline and how many views it makes per batch."""

    augmentation: Augmentation
    count: int = 1


class Views:
    """Makes the views a method trains on: every pipeline applied `count` times to the batch.

    Views from different pipelines may have different shapes (e.g. SwAV's 2 global crops of
    size 224 and 6 local crops of size 96); views of one pipeline share a shape.
    """

    def __init__(self, pipelines: Sequence[ViewPipeline | Augmentation]) -> None:
        self.pipelines = [
            p if isinstance(p, ViewPipeline) else ViewPipeline(p) for p in pipelines
        ]
        if not self.pipelines or any(p.count < 1 for p in self.pipelines):
            raise ValueError("Views needs at least one pipeline with count >= 1")

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
