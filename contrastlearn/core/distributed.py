"""Cross-rank helpers. Without an initialised process group they are the identity, so
objectives written with `gather=True` run unchanged on one process."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


class _ContiguousGradient(torch.autograd.Function):
    """Identity whose backward hands on a contiguous gradient: torch's all_gather backward on
    gloo silently mixes up rows when the incoming gradient is not contiguous (e.g. the gradient
    of a transpose or an expand)."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx: Any, gradient: Tensor) -> Tensor:
        return gradient.contiguous()


def gather_with_grad(tensor: Tensor) -> Tensor:
    """Concatenate `tensor` from every rank along dim 0; gradients flow back to each rank's part."""
    if not is_distributed():
        return tensor
    from torch.distributed.nn.functional import all_gather

    return _ContiguousGradient.apply(torch.cat(all_gather(tensor.contiguous()), dim=0))


def gather_no_grad(tensor: Tensor) -> Tensor:
    """Concatenate `tensor` (labels, ids, keys) from every rank along dim 0, without autograd."""
    if not is_distributed():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def global_rows(local_batch: int) -> tuple[int, int]:
    """(offset, size) of this rank's rows in the global batch, when every rank holds
    `local_batch` rows: per-sample random draws made for the global batch and sliced at these
    rows match those of one process holding the whole batch."""
    return rank() * local_batch, world_size() * local_batch


def global_min(value: int, device: torch.device | str = "cpu") -> int:
    """The smallest of every rank's `value`."""
    if not is_distributed():
        return value
    tensor = torch.tensor([value], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return int(tensor)


def global_ids(ids: Tensor) -> Tensor:
    """Gather item ids from every rank so masks stay correct across ranks."""
    return gather_no_grad(ids)


def gather_global_batch(
    parts: list[Tensor], ids: Tensor | None, enabled: bool = True,
) -> tuple[list[Tensor], Tensor | None, slice]:
    """For methods that compute the whole global batch's loss on every rank: each of `parts`
    (rows of this rank's batch) gathered with autograd, the ids gathered with them, and the
    slice of the gathered rows that are this rank's. Unchanged on one process or when not
    `enabled`."""
    local = slice(0, len(parts[0]))
    if not (enabled and is_distributed()):
        return parts, ids, local
    local = slice(rank() * len(parts[0]), (rank() + 1) * len(parts[0]))
    return ([gather_with_grad(part) for part in parts],
            None if ids is None else global_ids(ids), local)


def average_gradients(module: torch.nn.Module) -> None:
    """Replace every parameter gradient by its mean over the ranks (what DDP does when the
    backward does not go through its wrapper, as in gradient caching)."""
    if not is_distributed():
        return
    for parameter in module.parameters():
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad)
            parameter.grad.div_(world_size())
