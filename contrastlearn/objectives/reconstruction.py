"""Masked reconstruction: how well hidden timestamps are predicted from their context."""

from __future__ import annotations

import torch
from torch import Tensor


def masked_mse(predicted: Tensor, target: Tensor, where: Tensor) -> Tensor:
    """Mean squared error between (B, T, C) `predicted` and `target` over the (B, T) timestamps
    where `where` is True, averaged over those timestamps and all channels (0 when there are
    none). Values of `target` outside `where` (e.g. NaN padding) never enter."""
    if predicted.shape != target.shape or where.shape != predicted.shape[:2]:
        raise ValueError(f"masked_mse needs predicted and target of one (B, T, C) shape and a "
                         f"(B, T) mask; got {tuple(predicted.shape)}, {tuple(target.shape)}, "
                         f"{tuple(where.shape)}")
    chosen = where[:, :, None].expand_as(predicted)
    error = torch.where(chosen, predicted - target, torch.zeros_like(predicted))
    return (error**2).sum() / chosen.sum().clamp(min=1)
