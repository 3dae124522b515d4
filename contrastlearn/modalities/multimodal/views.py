"""Views of paired records: each modality's views come from its own room's view policy (looked
up in the registry), so an image-text pair gets image views from the image room and text views
(EDA rewrites, LaCLIP-style, Fan et al. 2023, arXiv 2305.20088) from the text room."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlearn.augment.curriculum import build_view_policy
from contrastlearn.augment.views import Views
from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.multimodal.batch import MultiBatch


class _Unchanged:
    """The placeholder pipeline of `PairedViews` (its real work is per modality)."""

    def __call__(self, x: Any, generator: torch.Generator) -> Any:
        return x


def _mixed_rows(original: Tensor, view: Tensor, keep: Tensor) -> Tensor:
    """Rows of `original` where `keep`, else of `view`; token rows of two widths are padded
    with 0 (the pad id) to the wider."""
    if original.shape[1:] != view.shape[1:]:
        width = max(original.shape[1], view.shape[1])
        original = F.pad(original, (0, width - original.shape[1]))
        view = F.pad(view, (0, width - view.shape[1]))
    shape = (-1,) + (1,) * (original.dim() - 1)
    return torch.where(keep.view(shape), original, view)


class PairedViews(Views):
    """`count` views of a batch of records: view j of modality m is view j (cycling) of m's
    own policy, or the records as they are for a modality without one. `keep_original[m]` is
    the per-record probability that m's original stands in for its view (LaCLIP picks the
    original text or one of its rewrites at random)."""

    def __init__(self, policies: dict[str, Views], count: int = 1,
                 keep_original: dict[str, float] | None = None) -> None:
        super().__init__([_Unchanged()])
        if int(count) < 1:
            raise ValueError(f"paired_views count must be >= 1; got {count}")
        keep_original = dict(keep_original or {})
        for name, probability in keep_original.items():
            if not 0.0 <= float(probability) <= 1.0:
                raise ValueError(f"paired_views keep_original.{name} must be in [0, 1]; got "
                                 f"{probability}")
        self.policies, self.count, self.keep_original = policies, int(count), keep_original

    @property
    def num_views(self) -> int:
        return self.count

    def __call__(self, records: MultiBatch, generator: torch.Generator) -> list[MultiBatch]:
        views = [dict(records.parts) for _ in range(self.count)]
        for name, policy in self.policies.items():
            original = records.parts[name]
            made = policy(original, generator)
            for index, view in enumerate(views):
                part = made[index % len(made)]
                probability = float(self.keep_original.get(name, 0.0))
                if probability > 0:
                    keep = torch.rand(len(original), generator=generator,
                                      device=generator.device) < probability
                    part = _mixed_rows(original, part, keep.to(original.device))
                view[name] = part
        return [MultiBatch(view) for view in views]

    def describe(self) -> list[str]:
        lines = [f"{self.count} view(s) of each record"]
        for name, policy in self.policies.items():
            kept = self.keep_original.get(name)
            suffix = "" if not kept else f" (original kept with p={kept:g})"
            lines += [f"{name} {line}{suffix}" for line in policy.describe()]
        return lines


@AUGMENTATIONS.register("paired_views")
def paired_views(views: dict[str, dict[str, Any]] | None = None, count: int = 1,
                 keep_original: dict[str, float] | None = None,
                 room_view_inputs: dict[str, dict[str, Any]] | None = None) -> PairedViews:
    """Views of records from each modality's own view policy: `views` maps a modality to
    {name, kwargs} of a registered policy (image: {name: simclr_views}, text: {name: eda_views});
    modalities not named are used as they are. `room_view_inputs` (filled in) are what each
    room offers its view factories (an image size, a tokenizer)."""
    offered = room_view_inputs or {}
    policies = {}
    for name, spec in (views or {}).items():
        if not isinstance(spec, dict) or "name" not in spec:
            raise ValueError(f"views.kwargs.views.{name} must be {{name: <view policy>, kwargs: "
                             f"{{...}}}}; got {spec!r}")
        policies[name] = build_view_policy(AUGMENTATIONS.get(spec["name"]),
                                           dict(spec.get("kwargs") or {}), offered.get(name))
    return PairedViews(policies, count, keep_original)
