"""What every objective returns, and the helpers objectives share."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class LossOutput:
    """A scalar loss to minimise and detached metrics to log (floats or 0-d tensors)."""

    loss: Tensor
    metrics: dict[str, Tensor | float] = field(default_factory=dict)


def default_ids(batch_size: int, device: torch.device | str) -> Tensor:
    """Item ids when the caller gives none: every sample is its own item, unique across ranks."""
    from contrastlearn.engine.distributed import rank

    return torch.arange(batch_size, device=device) + rank() * batch_size


def stack_views(z_views: list[Tensor] | tuple[Tensor, ...]) -> Tensor:
    """Check that all views have the same (B, D) shape and return them as (V, B, D)."""
    if len(z_views) == 0:
        raise ValueError("an objective needs at least one view")
    first = z_views[0]
    if first.dim() != 2:
        raise ValueError(f"each view must be (batch, dim); got shape {tuple(first.shape)}")
    for index, view in enumerate(z_views):
        if view.shape != first.shape:
            raise ValueError(
                f"view {index} has shape {tuple(view.shape)}, view 0 has {tuple(first.shape)}"
            )
    return torch.stack(list(z_views))
