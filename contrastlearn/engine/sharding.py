"""Fully sharded data parallel training (`train.strategy: fsdp`).

Every process holds a shard of each parameter, gradient and optimizer state (FSDP2,
`torch.distributed.fsdp.fully_shard`, through Lightning Fabric's `ModelParallelStrategy`,
which unlike Fabric's FSDP1 strategy also runs on CPU with gloo). The encoder is one sharded
unit, gathered whole for its forward; everything else in the method (projectors, predictors,
target networks, prototypes) is the root unit, gathered for the method's forward, so methods
that read their own parameters directly keep working.

Checkpoints hold whole tensors, gathered from the shards, in the same layout as one process
writes, so a run may be resumed under another strategy or number of processes; the optimizer
state is keyed by parameter name (`torch.distributed.checkpoint.state_dict`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

FORWARD_METHODS = ("timestamps",)
"""Encoder methods that methods call instead of `forward`: they gather the shards too."""

OPTIMIZER_BY_NAME = "parameter_names"
"""`optimizer_keys` of a checkpoint whose optimizer state is keyed by parameter name."""


def fsdp_strategy(devices: int, num_nodes: int) -> Any:
    """Fabric's ModelParallelStrategy sharding over every process (no tensor parallelism)."""
    from lightning_fabric.strategies import ModelParallelStrategy

    return ModelParallelStrategy(shard_method, data_parallel_size=int(devices) * int(num_nodes),
                                 tensor_parallel_size=1)


def shard_method(method: nn.Module, mesh: Any) -> nn.Module:
    """FSDP2 units: the encoder, then the rest of the method as the root."""
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    data_parallel = mesh["data_parallel"]
    encoder = getattr(method, "encoder", None)
    if isinstance(encoder, nn.Module) and any(True for _ in encoder.parameters()):
        fully_shard(encoder, mesh=data_parallel)
        for name in FORWARD_METHODS:
            if callable(getattr(encoder, name, None)):
                register_fsdp_forward_method(encoder, name)
    fully_shard(method, mesh=data_parallel)
    return method


def uses_fsdp(fabric: Any) -> bool:
    """Whether `fabric` shards the model (`fsdp_strategy`)."""
    from lightning_fabric.strategies import ModelParallelStrategy

    return isinstance(fabric.strategy, ModelParallelStrategy)


def check_shardable(config: Any, method: nn.Module) -> None:
    """Refuse, before any work, what FSDP cannot train exactly here: options that bypass the
    sharded gradient reduction, methods that say so, and scalar parameters (which
    `fully_shard` cannot split, e.g. a learnable temperature)."""
    refused = {"train.gradient_cache_chunk": bool(config.gradient_cache_chunk),
               "train.accumulate_batches": config.accumulate_batches > 1,
               "train.sync_batchnorm": bool(config.sync_batchnorm),
               "train.sam_rho": bool(getattr(config, "sam_rho", None))}
    named = [name for name, used in refused.items() if used]
    if named:
        raise ValueError(f"train.strategy fsdp does not support {', '.join(named)}: gradient "
                         "caching and accumulation bypass the sharded gradient reduction, "
                         "SyncBatchNorm and SAM are untested with it; use strategy ddp for "
                         "these")
    reason = getattr(method, "unshardable", None)
    if reason:
        raise ValueError(f"train.strategy fsdp cannot train {type(method).__name__}: {reason}")
    scalars = [name for name, parameter in method.named_parameters() if parameter.dim() == 0]
    if scalars:
        raise ValueError(f"train.strategy fsdp cannot shard scalar parameters {scalars} (e.g. "
                         "method.kwargs.learnable_temperature); use strategy ddp")


def is_sharded(module: nn.Module) -> bool:
    """Whether any parameter of `module` is a DTensor shard."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(parameter, DTensor) for parameter in module.parameters())


def _options(**extra: bool) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **extra)


def full_model_state(module: nn.Module) -> dict[str, Tensor]:
    """The whole `state_dict` of a sharded module in host memory, on every process (a
    collective call); one tensor at a time is gathered on the device."""
    return full_tensors(module.state_dict())


def load_full_model_state(module: nn.Module, state: dict[str, Tensor]) -> None:
    """Load whole tensors into a sharded (or plain) module; every process passes them all."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    set_model_state_dict(module, state, options=_options())


def full_optimizer_state(module: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The whole optimizer state keyed by parameter name, in host memory on rank 0 (empty on
    the others, which only take part in the gathering)."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return get_optimizer_state_dict(module, optimizer, options=_options(cpu_offload=True))


def load_full_optimizer_state(module: nn.Module, optimizer: torch.optim.Optimizer,
                              state: dict) -> None:
    """Load an optimizer state keyed by parameter name, into a sharded or plain module's
    optimizer. Parameters without state in the checkpoint (never stepped yet, e.g. frozen
    prototypes) stay without state, as in the run that wrote it."""
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    set_optimizer_state_dict(module, optimizer, state, options=_options(strict=False))
    for name, parameter in module.named_parameters():
        if name not in state["state"]:
            optimizer.state.pop(parameter, None)


def optimizer_state_by_name(state: dict, module: nn.Module,
                            optimizer: torch.optim.Optimizer) -> dict:
    """A `torch.optim.Optimizer.state_dict()` (parameters numbered in the order of the
    optimizer's groups) keyed by parameter name instead; `optimizer` must list the same
    parameters in the same order as the one that wrote `state` (both built by
    `build_optimizer` from one method)."""
    names = {id(parameter): name for name, parameter in module.named_parameters()}
    ordered = [names[id(parameter)] for group in optimizer.param_groups
               for parameter in group["params"]]
    written = [index for group in state["param_groups"] for index in group["params"]]
    if len(written) != len(ordered):
        raise ValueError(f"the checkpoint's optimizer has {len(written)} parameters, this "
                         f"run's has {len(ordered)}: not the same method")
    return {"state": {ordered[index]: value for index, value in state["state"].items()},
            "param_groups": [{**group, "params": [ordered[i] for i in group["params"]]}
                             for group in state["param_groups"]]}


def full_tensors(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """Whole CPU copies of tensors that may be shards (a collective call when they are)."""
    from torch.distributed.tensor import DTensor

    return {name: (value.full_tensor() if isinstance(value, DTensor) else value).detach().cpu()
            for name, value in tensors.items()}


def load_full_tensors(targets: dict[str, Tensor], whole: dict[str, Tensor]) -> None:
    """Copy whole tensors into `targets`, each shard taking its own part."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    for name, target in targets.items():
        value = whole[name].to(target.device, target.dtype)
        if isinstance(target, DTensor):
            value = distribute_tensor(value, target.device_mesh, target.placements)
        target.copy_(value)
