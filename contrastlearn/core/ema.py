"""Exponential moving average of a network's weights (BYOL target, MoCo key encoder)."""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_momentum_copy(module: nn.Module) -> nn.Module:
    """A frozen deep copy that follows `module` by EMA."""
    target = copy.deepcopy(module)
    for parameter in target.parameters():
        parameter.requires_grad_(False)
    return target


@torch.no_grad()
def update_momentum(online: nn.Module, target: nn.Module, momentum: float) -> None:
    """target <- momentum * target + (1 - momentum) * online; buffers (BN stats) are copied."""
    online_params = [p.detach() for p in online.parameters()]
    target_params = list(target.parameters())
    torch._foreach_lerp_(target_params, online_params, 1.0 - momentum)
    for online_buffer, target_buffer in zip(online.buffers(), target.buffers()):
        target_buffer.copy_(online_buffer)
