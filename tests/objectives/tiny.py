"""A linear encoder small enough to build a method in a test: 6 features in, `out_dim` out."""

from __future__ import annotations

from torch import Tensor, nn


class TinyEncoder(nn.Module):
    def __init__(self, in_dim: int = 6, out_dim: int = 12) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.layer = nn.Linear(in_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)
