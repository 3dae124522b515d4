"""Optimizers: SGD, AdamW and LARS (You et al. 2017, arXiv 1708.03888).

Biases and normalisation parameters (1-D tensors) get no weight decay and, for LARS, no
trust-ratio adaptation, as in SimCLR and BYOL.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class LARS(torch.optim.Optimizer):
    """SGD with momentum and a layer-wise trust ratio `eta * ||w|| / ||g + wd * w||`."""

    def __init__(
        self, params: Iterable, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
        eta: float = 0.001,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta,
                        lars_adaptation=True)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                update = parameter.grad
                if group["weight_decay"]:
                    update = update.add(parameter, alpha=group["weight_decay"])
                if group["lars_adaptation"]:
                    weight_norm = torch.linalg.vector_norm(parameter)
                    update_norm = torch.linalg.vector_norm(update)
                    trust = torch.where(
                        (weight_norm > 0) & (update_norm > 0),
                        group["eta"] * weight_norm / update_norm,
                        torch.ones_like(weight_norm),
                    )
                    update = update.mul(trust)
                state = self.state[parameter]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.clone(update).detach()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(update)
                parameter.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weights with decay, biases/norm parameters without (and without LARS); each split again
    by the `lr_scale` of the nearest module that declares one (e.g. a learned view generator
    that trains at 10x the encoder's rate). The trainer multiplies its scheduled lr by it."""
    scales: dict[int, float] = {}
    for module in model.modules():  # parents first, so the nearest declaration wins
        scale = getattr(module, "lr_scale", None)
        if scale is not None:
            scales.update({id(p): float(scale) for p in module.parameters()})
    groups: dict[tuple[bool, float], list] = {}
    for parameter in model.parameters():
        if not parameter.requires_grad:
            continue
        key = (parameter.ndim <= 1, scales.get(id(parameter), 1.0))
        groups.setdefault(key, []).append(parameter)
    return [
        {"params": params, "weight_decay": 0.0 if plain else weight_decay, "lr_scale": scale,
         **({"lars_adaptation": False} if plain else {})}
        for (plain, scale), params in sorted(groups.items())
    ]


def build_optimizer(
    model: nn.Module, name: str, lr: float, weight_decay: float, momentum: float = 0.9
) -> torch.optim.Optimizer:
    groups = parameter_groups(model, weight_decay)
    if name == "lars":
        return LARS(groups, lr=lr, momentum=momentum)
    for group in groups:
        group.pop("lars_adaptation", None)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; choose sgd, adamw or lars")
