"""Decoupled contrastive learning, DCL and DCLW (Yeh et al. 2021, arXiv 2110.06848)."""

from __future__ import annotations

from torch import nn

from contrastlearn.core.registry import METHODS
from contrastlearn.methods.composed import Composed


@METHODS.register("dcl")
class DecoupledContrastive(Composed):
    """SimCLR's pipeline with the positive removed from the denominator (optionally weighted)."""

    def __init__(
        self, encoder: nn.Module, projection_dim: int = 128, hidden_dim: int = 2048,
        temperature: float = 0.1, weighted: bool = False, sigma: float = 0.5,
        gather: bool = True, learnable_temperature: bool = False,
    ) -> None:
        super().__init__(
            encoder, head="projection_mlp",
            head_kwargs={"hidden_dim": hidden_dim, "out_dim": projection_dim},
            objective="dcl",
            objective_kwargs={"temperature": temperature, "weighted": weighted, "sigma": sigma,
                              "gather": gather, "learnable_temperature": learnable_temperature})
