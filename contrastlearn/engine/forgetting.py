"""Forgetting guards: a penalty that keeps an adapted pretrained encoder near where it started.

Fine-tuning a pretrained encoder on one domain's unlabeled text (SimCSE on WordNet glosses)
improves that domain and can cost what the encoder knew elsewhere. A guard adds a term to
every step's loss (`train.forgetting_guard` in a recipe; the trainer logs it as the metric
`forgetting_guard`):

- `l2_init`: weight * sum over the encoder's trainable parameters of ||theta - theta_0||^2,
  L2-SP (Li, Grandvalet & Davoine 2018, arXiv 1802.01483), the starting point theta_0 as
  the reference instead of zero;
- `distill`: weight * mean_i (1 - cos(f(x_i), f_0(x_i))) on the batch's first view, f_0 a
  frozen copy of the encoder as it started, in eval mode, with no gradient through it:
  feature distillation from the starting model, as Learning without Forgetting (Li & Hoiem
  2016, arXiv 1606.09282) distils the old model's outputs.

The guard's reference (theta_0, or f_0's weights) is its state: the trainer saves it in each
checkpoint, so a resumed run is pulled towards the same point.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def _check_weight(weight: Any, name: str) -> float:
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (
            math.isfinite(weight) and weight > 0):
        raise ValueError(f"train.forgetting_guard {name} needs kwargs.weight, a positive "
                         f"number; got {weight!r}")
    return float(weight)


def _trainable(encoder: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(name, parameter) for name, parameter in encoder.named_parameters()
            if parameter.requires_grad]


class L2InitGuard(nn.Module):
    """weight * sum ||theta - theta_0||^2 over `encoder`'s trainable parameters (L2-SP).

    theta_0 is one flat buffer `initial` (the trainable parameters at construction, in
    `named_parameters` order), so it is saved and restored with the state dict."""

    def __init__(self, encoder: nn.Module, weight: float) -> None:
        super().__init__()
        self.weight = _check_weight(weight, "l2_init")
        named = _trainable(encoder)
        if not named:
            raise ValueError(f"train.forgetting_guard l2_init: {type(encoder).__name__} has no "
                             "trainable parameters to keep near their start")
        self.names = [name for name, _ in named]
        self.sizes = [parameter.numel() for _, parameter in named]
        self.register_buffer("initial", torch.cat([parameter.detach().flatten().clone()
                                                   for _, parameter in named]))

    def forward(self, encoder: nn.Module, first_view: Any = None) -> Tensor:
        named = _trainable(encoder)
        if [name for name, _ in named] != self.names:
            raise ValueError("train.forgetting_guard l2_init: the encoder's trainable "
                             f"parameters changed since the guard was built ({len(named)} now, "
                             f"{len(self.names)} then); build the guard after freezing")
        starts = torch.split(self.initial, self.sizes)
        total = sum((parameter - start.view_as(parameter)).pow(2).sum()
                    for (_, parameter), start in zip(named, starts))
        return self.weight * total


class DistillGuard(nn.Module):
    """weight * mean (1 - cos(encoder(x), initial(x))) on the batch's first view x; `initial`
    is a frozen copy of the encoder at construction, always in eval mode (no dropout), and no
    gradient flows through it."""

    def __init__(self, encoder: nn.Module, weight: float) -> None:
        super().__init__()
        self.weight = _check_weight(weight, "distill")
        self.initial = copy.deepcopy(encoder).requires_grad_(False).eval()

    def train(self, mode: bool = True) -> DistillGuard:
        super().train(mode)
        self.initial.eval()  # the reference is the starting model's deterministic output
        return self

    def forward(self, encoder: nn.Module, first_view: Any) -> Tensor:
        with torch.no_grad():
            target = self.initial(first_view)
        current = encoder(first_view)
        return self.weight * (1.0 - F.cosine_similarity(current, target, dim=-1)).mean()


FORGETTING_GUARDS: dict[str, type[nn.Module]] = {"l2_init": L2InitGuard,
                                                 "distill": DistillGuard}
"""`train.forgetting_guard.name` -> the guard class (built with the encoder and kwargs)."""


def build_forgetting_guard(config: Any, encoder: nn.Module, *, sharded: bool = False
                           ) -> nn.Module | None:
    """The guard `config` (a `Component`: name and kwargs, or None) asks for, around
    `encoder` as it is now; a clear error where a guard cannot work."""
    if config is None:
        return None
    name = config.name
    if name not in FORGETTING_GUARDS:
        raise ValueError(f"unknown train.forgetting_guard {name!r}; choose one of "
                         f"{sorted(FORGETTING_GUARDS)}")
    if sharded:
        raise ValueError("train.forgetting_guard cannot be used with train.strategy fsdp: the "
                         "guard reads whole parameters and a whole encoder copy, and fsdp holds "
                         "shards; use strategy ddp or drop the guard")
    unknown = sorted(set(config.kwargs) - {"weight"})
    if unknown or "weight" not in config.kwargs:
        raise ValueError(f"train.forgetting_guard {name} takes kwargs.weight only (a positive "
                         f"number); got {sorted(config.kwargs)}")
    return FORGETTING_GUARDS[name](encoder, config.kwargs["weight"])


def check_guard_options(config: Any) -> None:
    """Refuse the training options that compute a batch's loss where the guard's term would
    be left out (gradient caching encodes and differentiates the batch in chunks)."""
    if config.forgetting_guard is not None and config.gradient_cache_chunk:
        raise ValueError("train.forgetting_guard cannot be combined with "
                         "train.gradient_cache_chunk: the cached backward has no place for the "
                         "guard's term; drop one of them")
