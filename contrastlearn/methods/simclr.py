"""SimCLR (Chen et al. 2020, arXiv 2002.05709)."""

from __future__ import annotations

from torch import nn

from contrastlearn.core.registry import METHODS
from contrastlearn.methods.composed import Composed


@METHODS.register("simclr")
class SimCLR(Composed):
    """Two augmented views -> encoder -> projector -> NT-Xent with in-batch negatives."""

    def __init__(
        self, encoder: nn.Module, projection_dim: int = 128, hidden_dim: int = 2048,
        temperature: float = 0.5, learnable_temperature: bool = False, gather: bool = True,
    ) -> None:
        super().__init__(
            encoder, head="projection_mlp",
            head_kwargs={"hidden_dim": hidden_dim, "out_dim": projection_dim},
            objective="infonce",
            objective_kwargs={"temperature": temperature,
                              "learnable_temperature": learnable_temperature, "gather": gather})
