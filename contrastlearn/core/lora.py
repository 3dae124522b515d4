"""Low-rank adaptation (LoRA; Hu et al. 2021, arXiv 2106.09685) of any module's linear layers.

`apply_lora` replaces chosen `nn.Linear` submodules with `LoRALinear`: the pretrained weight W
stays frozen and a trainable low-rank update is added, y = W x + b + (alpha / r) B A x, with
A (r x in) drawn as nn.Linear draws its weights (Kaiming-uniform) and B (out x r) zero, so the
adapted module computes exactly what the pretrained one does until B moves. Every other
parameter of the module is frozen, so only the adapters train (the parameter-efficient tuning
that Obadinma, Guo & Zhu 2023, arXiv 2303.02577, study with augmentations and a contrastive
loss). `merge_lora` folds W + (alpha / r) B A back into plain `nn.Linear` layers, so an
exported model needs no LoRA code to load.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

SHOWN_NAMES = 5
"""How many of a module's Linear layers an error about unmatched targets lists."""


class LoRALinear(nn.Module):
    """A frozen `nn.Linear` (`base`) plus the trainable update (alpha / rank) B A.

    `lora_A` is (rank, in_features), Kaiming-uniform as nn.Linear initialises its weight;
    `lora_B` is (out_features, rank), zero. `dropout` applies to the adapter's input only,
    as in Hu et al. (2021)'s reference implementation."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear; got {type(base).__name__}")
        self.base = base.requires_grad_(False)
        self.rank = int(rank)
        self.alpha = float(alpha)
        self.scale = self.alpha / self.rank
        weight = base.weight
        self.lora_A = nn.Parameter(torch.empty(self.rank, base.in_features, dtype=weight.dtype,
                                               device=weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, self.rank, dtype=weight.dtype,
                                               device=weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(float(dropout)) if dropout else nn.Identity()

    @property
    def weight(self) -> Tensor:
        """The frozen base weight (code that reads `layer.weight` keeps working)."""
        return self.base.weight

    @property
    def bias(self) -> Tensor | None:
        return self.base.bias

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def forward(self, x: Tensor) -> Tensor:
        update = F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B)
        return self.base(x) + update * self.scale

    def merged(self) -> nn.Linear:
        """The base layer with W + (alpha / rank) B A as its weight (a new nn.Linear whose
        parameters have the base's requires_grad)."""
        base = self.base
        layer = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None,
                          device=base.weight.device, dtype=base.weight.dtype)
        with torch.no_grad():
            layer.weight.copy_(base.weight + (self.lora_B @ self.lora_A) * self.scale)
            if base.bias is not None:
                layer.bias.copy_(base.bias)
        return layer.requires_grad_(base.weight.requires_grad)

    def extra_repr(self) -> str:
        return f"rank={self.rank}, alpha={self.alpha:g}"


def _matches(name: str, target: str) -> bool:
    return name == target or name.endswith("." + target)


def _replace(module: nn.Module, name: str, layer: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = module.get_submodule(parent_name) if parent_name else module
    setattr(parent, child, layer)


def apply_lora(module: nn.Module, targets: Sequence[str], rank: int, alpha: float,
               dropout: float = 0.0) -> list[str]:
    """Wrap every `nn.Linear` of `module` whose qualified name is, or ends with, one of
    `targets` (e.g. ["query", "value"] for BERT's attention) in a `LoRALinear`, and freeze every
    other parameter of `module`. Returns the wrapped names. In place."""
    owner = type(module).__name__
    if isinstance(targets, str) or not targets or not all(
            isinstance(target, str) and target for target in targets):
        raise ValueError(f"LoRA targets must be a non-empty list of layer-name suffixes such as "
                         f"['query', 'value']; got {targets!r}")
    if int(rank) != rank or rank < 1:
        raise ValueError(f"LoRA rank must be an integer >= 1; got {rank!r}")
    if not math.isfinite(float(alpha)) or float(alpha) <= 0:
        raise ValueError(f"LoRA alpha must be a positive number; got {alpha!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"LoRA dropout must be in [0, 1); got {dropout!r}")
    adapted = [name for name, layer in module.named_modules() if isinstance(layer, LoRALinear)]
    if adapted:
        raise ValueError(f"{owner} already has LoRA adapters ({adapted[0]}, ...); merge them "
                         "with merge_lora before adding new ones")
    linear = [name for name, layer in module.named_modules() if isinstance(layer, nn.Linear)]
    chosen = [name for name in linear if any(_matches(name, target) for target in targets)]
    unmatched = [target for target in targets if not any(_matches(name, target)
                                                         for name in linear)]
    if unmatched:
        shown = ", ".join(linear[:SHOWN_NAMES]) + (", ..." if len(linear) > SHOWN_NAMES else "")
        raise ValueError(f"LoRA targets {unmatched} match no nn.Linear of {owner}; give name "
                         f"suffixes of its Linear layers: {shown or 'it has none'}")
    module.requires_grad_(False)
    for name in chosen:
        _replace(module, name, LoRALinear(module.get_submodule(name), int(rank), float(alpha),
                                          float(dropout)))
    return chosen


def merge_lora(module: nn.Module) -> list[str]:
    """Replace every `LoRALinear` inside `module` by its merged plain `nn.Linear`, in place;
    returns the merged names (none: the module is left as it was)."""
    names = [name for name, layer in module.named_modules()
             if name and isinstance(layer, LoRALinear)]
    for name in names:
        _replace(module, name, module.get_submodule(name).merged())
    return names


def has_lora(module: nn.Module) -> bool:
    """Whether `module` holds any LoRA adapter."""
    return any(isinstance(layer, LoRALinear) for layer in module.modules())
