"""Stochastic weight averaging (Izmailov et al. 2018): the uniform average of a module's weights
over all optimizer steps. TS2Vec's reference code encodes with such an average of its encoder,
which steadies short runs (200 steps) against the noise of the last few updates."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastlearn.engine.sharding import full_tensors, load_full_tensors


class WeightAverage:
    """Running mean of `module`'s floating-point parameters and buffers, one update per step."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.count = 0
        self.average: dict[str, Tensor] = {
            name: value.detach().clone() for name, value in module.state_dict().items()
            if value.is_floating_point()
        }

    @torch.no_grad()
    def update(self) -> None:
        """Fold in the module's current weights (the first update copies them)."""
        self.count += 1
        current = self.module.state_dict()
        for name, average in self.average.items():
            average.add_(current[name].detach() - average, alpha=1.0 / self.count)

    @torch.no_grad()
    def apply(self) -> None:
        """Load the average into the module (nothing to do before the first update)."""
        if self.count:
            self.module.load_state_dict(self.average, strict=False)

    def state_dict(self) -> dict:
        """Whole tensors, also when the module is sharded (then a collective call)."""
        return {"count": self.count, "average": full_tensors(self.average)}

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state["count"])
        load_full_tensors(self.average, state["average"])
