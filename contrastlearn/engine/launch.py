"""The processes of a run, through Lightning Fabric: one process on one device by default, or
DDP (or FSDP, `contrastlearn.engine.sharding`) over `train.devices` processes per node and
`train.num_nodes` nodes.

Fabric starts the other local processes itself (it re-runs the same command line with its rank
in the environment), and under `torchrun` or SLURM it reads the ranks those launchers set; we
never spawn processes by hand. Everything before `launch_fabric` runs once per process.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from contrastlearn.config import TrainConfig
from contrastlearn.engine.sharding import fsdp_strategy


def launch_fabric(config: TrainConfig) -> Any:
    """A launched `lightning_fabric.Fabric` for `config` (accelerator, devices, nodes, strategy,
    precision). Multi-process strategies on CPU use the gloo backend."""
    from lightning_fabric import Fabric

    strategy = config.strategy
    if str(strategy).lower() == "fsdp":
        strategy = fsdp_strategy(config.devices, config.num_nodes)
    elif str(strategy).lower().startswith("fsdp"):
        raise ValueError(f"train.strategy {strategy!r}: use fsdp (FSDP2, sharding over every "
                         "process; see contrastlearn.engine.sharding)")
    fabric = Fabric(accelerator=config.accelerator, devices=config.devices,
                    num_nodes=config.num_nodes, strategy=strategy,
                    precision=config.precision)
    fabric.launch()
    return fabric


def check_global_batch(batch_size: int, world_size: int, accumulate_batches: int = 1) -> int:
    """The samples each process takes per micro-batch: `batch_size` is the global batch, split
    evenly over `world_size` processes and `accumulate_batches` micro-batches."""
    parts = world_size * accumulate_batches
    if batch_size % parts or batch_size // parts < 1:
        raise ValueError(
            f"train.batch_size {batch_size} is the global batch and must split evenly over "
            f"{world_size} process(es) x {accumulate_batches} accumulated micro-batch(es); "
            f"use a multiple of {parts}")
    return batch_size // parts


def batch_norm_layers(module: nn.Module) -> list[str]:
    """Names of `module`'s BatchNorm layers: what makes a loss depend on how a batch is split."""
    return [name for name, child in module.named_modules()
            if isinstance(child, nn.modules.batchnorm._BatchNorm)]


def with_sync_batchnorm(module: nn.Module, world_size: int, device: torch.device) -> nn.Module:
    """`module` with its BatchNorm layers computing statistics over every process's samples
    (SyncBatchNorm, which torch runs on GPUs only); unchanged on one process."""
    if world_size < 2:
        return module
    if batch_norm_layers(module) and torch.device(device).type == "cpu":
        raise ValueError("train.sync_batchnorm needs GPUs: torch's SyncBatchNorm does not run "
                         "on CPU; drop train.sync_batchnorm for a CPU run")
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)
