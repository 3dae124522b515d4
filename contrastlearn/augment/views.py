"""Views: k pipelines -> k augmented views of one batch (multi-crop = pipelines with counts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from contrastlearn.augment.base import Augmentation


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
