"""Sharpness-aware minimisation (SAM; Foret et al., 2021, arXiv 2010.01412).

SAM minimises the loss in a neighbourhood of the weights: each step takes the gradient at the
worst nearby point w + e, e = rho * g / ||g|| (g the batch gradient at w, ||.|| the L2 norm over
all parameters), then the base optimizer steps from w with it. Chen et al. (2022, "When Vision
Transformers Outperform ResNets without Pretraining or Strong Data Augmentations", arXiv
2106.01548) use it in place of strong augmentation; rho = 0.05 is SAM's common setting.

Here it wraps any base optimizer (`train.sam_rho`): the trainer computes g as usual, then this
module perturbs the weights, recomputes the gradients on the same views, and puts the weights
back exactly. It keeps no state, so exact resume holds as without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

DEFAULT_RHO = 0.05


@contextmanager
def running_stats_frozen(module: nn.Module) -> Iterator[None]:
    """BatchNorm running statistics stay as they are inside the block (momentum 0), so the
    second SAM pass does not count the batch twice."""
    layers = [layer for layer in module.modules() if isinstance(layer, _BatchNorm)]
    momenta = [layer.momentum for layer in layers]
    tracked = [layer.num_batches_tracked.clone() if layer.num_batches_tracked is not None
               else None for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    try:
        yield
    finally:
        for layer, momentum, count in zip(layers, momenta, tracked):
            layer.momentum = momentum
            if count is not None:
                layer.num_batches_tracked.copy_(count)


def sharpness_aware_gradients(module: nn.Module, rho: float,
                              recompute: Callable[[], None]) -> None:
    """Replace the gradients held by `module`'s parameters, g(w), by g(w + e) with
    e = rho * g(w) / ||g(w)||, computed by `recompute` (forward and backward on the same
    inputs at the perturbed weights). The weights are restored bit for bit afterwards."""
    if rho <= 0:
        raise ValueError(f"train.sam_rho must be > 0; got {rho}")
    parameters = [p for p in module.parameters() if p.grad is not None]
    if not parameters:
        return
    gradients = [p.grad for p in parameters]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in gradients]))
    scale = rho / (norm + 1e-12)
    with torch.no_grad():
        originals = [p.detach().clone() for p in parameters]
        for parameter, gradient in zip(parameters, gradients):
            parameter.add_(gradient * scale)
    for parameter in module.parameters():
        parameter.grad = None
    try:
        with running_stats_frozen(module):
            recompute()
    finally:
        with torch.no_grad():
            for parameter, original in zip(parameters, originals):
                parameter.copy_(original)
