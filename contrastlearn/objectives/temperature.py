"""A temperature that every InfoNCE-family loss can learn, as CLIP learns its logit scale.

Radford et al., 2021, "Learning Transferable Visual Models From Natural Language Supervision",
arXiv 2103.00020: log(1 / temperature) is a parameter, used as it is in the forward (so its
gradient never vanishes), and clamped after each optimizer step so that the temperature stays
>= 0.01 (a logit scale <= 100). The trainer reaches the clamp through
`Method.constrain_parameters`, which calls `clamp_temperature_` on every submodule.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

MIN_LEARNABLE_TEMPERATURE = 0.01  # CLIP clamps its logit scale at 100


class TemperatureMixin:
    """`self.temperature` (the initial or fixed value), `inverse_temperature()` and
    `clamp_temperature_()` for an `nn.Module` loss; the learnable parameter is named
    `log_inverse_temperature` in every loss, so checkpoints read alike."""

    temperature: float
    learnable_temperature: bool

    def init_temperature(self, temperature: float, learnable: bool) -> None:
        """Check and set the temperature; with `learnable`, add the parameter."""
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0; got {temperature}")
        if learnable and temperature < MIN_LEARNABLE_TEMPERATURE:
            raise ValueError(f"a learnable temperature is clamped at >= "
                             f"{MIN_LEARNABLE_TEMPERATURE}; got initial temperature {temperature}")
        self.temperature = temperature
        self.learnable_temperature = learnable
        if learnable:
            assert isinstance(self, nn.Module)
            self.log_inverse_temperature = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    def inverse_temperature(self) -> Tensor | float:
        """1 / temperature: exp(log_inverse_temperature), unclamped, when learnable."""
        if not self.learnable_temperature:
            return 1.0 / self.temperature
        return self.log_inverse_temperature.exp()

    def current_temperature(self) -> Tensor | float:
        """The temperature in use now (detached), for metrics."""
        if not self.learnable_temperature:
            return self.temperature
        return 1.0 / self.log_inverse_temperature.detach().exp()

    @torch.no_grad()
    def clamp_temperature_(self) -> None:
        """Clamp a learnable temperature in place to >= 0.01, as CLIP does after each
        optimizer step; nothing for a fixed temperature."""
        if self.learnable_temperature:
            self.log_inverse_temperature.clamp_(max=math.log(1.0 / MIN_LEARNABLE_TEMPERATURE))
