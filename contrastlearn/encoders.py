"""Modality-agnostic encoders: networks that read any tensor batch flattened to vectors.

An encoder is an `nn.Module` whose `forward(x)` returns a `(batch, out_dim)` representation and
which exposes `out_dim`. Constructor arguments are plain JSON values, so an exported encoder can
be rebuilt from its registry name and keyword arguments.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from contrastlearn.core.registry import ENCODERS


@ENCODERS.register("mlp")
class MLPEncoder(nn.Module):
    """Multi-layer perceptron on flattened inputs: (B, ...) -> (B, in_dim) -> (B, out_dim).

    Each hidden layer is Linear -> BatchNorm1d (optional) -> ReLU -> Dropout (if > 0); the last
    layer is a plain Linear, so the representation is not clipped by a ReLU. Suited to tabular
    rows, flattened small images and pre-computed features.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int] = (512, 512),
        out_dim: int = 128,
        batch_norm: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if int(in_dim) <= 0 or int(out_dim) <= 0:
            raise ValueError(
                f"MLPEncoder needs positive in_dim and out_dim; got {in_dim}, {out_dim}"
            )
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"MLPEncoder dropout must be in [0, 1); got {dropout}")
        self.in_dim = int(in_dim)
        self.out_dim = int(out_dim)
        layers: list[nn.Module] = []
        previous = self.in_dim
        for hidden in hidden_dims:
            hidden = int(hidden)
            layers.append(nn.Linear(previous, hidden, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(nn.ReLU(inplace=True))
            if dropout > 0:
                layers.append(nn.Dropout(float(dropout)))
            previous = hidden
        layers.append(nn.Linear(previous, self.out_dim))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        flat = x.reshape(x.shape[0], -1) if x.dim() != 2 else x
        if flat.shape[1] != self.in_dim:
            raise ValueError(
                f"MLPEncoder expected in_dim={self.in_dim} features per sample, got "
                f"{flat.shape[1]} (input shape {tuple(x.shape)}); set the encoder's in_dim to "
                f"{flat.shape[1]}"
            )
        return self.layers(flat)
