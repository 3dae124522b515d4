"""What every objective returns, and the helpers objectives share."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class LossOutput:
    """A scalar loss to minimise and detached metrics to log (floats or 0-d tensors).

    Methods fill `embeddings` with the per-view (B, D) embeddings they compared (projector
    outputs), so the engine can log training diagnostics for any method."""

    loss: Tensor
    metrics: dict[str, Tensor | float] = field(default_factory=dict)
    embeddings: list[Tensor] | None = None

    def with_embeddings(self, views: list[Tensor]) -> LossOutput:
        """This output, carrying detached copies of the compared view embeddings."""
        self.embeddings = [view.detach() for view in views]
        return self


def default_ids(batch_size: int, device: torch.device | str) -> Tensor:
    """Item ids when the caller gives none: every sample is its own item, unique across ranks."""
    from contrastlearn.core.distributed import rank

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
