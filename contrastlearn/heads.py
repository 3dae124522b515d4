"""Heads: the small networks between an encoder's representation h and the objective's z.

Every head is an `nn.Module` with `forward(h) -> (B, out_dim)` and an `out_dim` attribute, built
from plain keyword arguments through `contrastlearn.core.registry.HEADS`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import HEADS

HIDDEN_ACTIVATIONS = {"relu": lambda: nn.ReLU(inplace=True), "elu": nn.ELU}
"""The activations `ProjectionMLP` puts between its layers."""


@HEADS.register("projection_mlp")
class ProjectionMLP(nn.Module):
    """Projection MLP with `num_layers` Linear layers: (Linear -> BN -> ReLU) x (n-1) -> Linear
    (`activation="elu"` for ELU instead of ReLU).

    Covers the projectors of the common methods:
    - SimCLR (Chen et al., 2020, arXiv:2002.05709), MoCo v2 (Chen et al., 2020,
      arXiv:2003.04297), BYOL (Grill et al., 2020, arXiv:2006.07733): 2 layers;
      MoCo v2 uses batch_norm=False.
    - Barlow Twins (Zbontar et al., 2021, arXiv:2103.03230) and VICReg (Bardes et al., 2021,
      arXiv:2105.04906): 3 layers with BN, wide output (e.g. 8192).
    - SimSiam (Chen & He, 2020, arXiv:2011.10566): 3 layers with `last_batch_norm=True`
      (a BatchNorm1d without affine parameters on the output, as in the official code).
    - GRACE (Zhu et al., 2020, arXiv:2006.04131): 2 layers, `activation="elu"`, no BN.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int = 2048,
        out_dim: int = 128,
        num_layers: int = 2,
        batch_norm: bool = True,
        last_batch_norm: bool = False,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if int(num_layers) < 1:
            raise ValueError(f"ProjectionMLP num_layers must be >= 1; got {num_layers}")
        if activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"ProjectionMLP activation must be one of "
                             f"{', '.join(HIDDEN_ACTIVATIONS)}; got {activation!r}")
        self.in_dim = int(in_dim)
        self.out_dim = int(out_dim)
        layers: list[nn.Module] = []
        previous = self.in_dim
        for _ in range(int(num_layers) - 1):
            layers.append(nn.Linear(previous, int(hidden_dim), bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(int(hidden_dim)))
            layers.append(HIDDEN_ACTIVATIONS[activation]())
            previous = int(hidden_dim)
        layers.append(nn.Linear(previous, self.out_dim, bias=not last_batch_norm))
        if last_batch_norm:
            layers.append(nn.BatchNorm1d(self.out_dim, affine=False))
        self.layers = nn.Sequential(*layers)

    def forward(self, h: Tensor) -> Tensor:
        return self.layers(h)


@HEADS.register("prediction_mlp")
class PredictionMLP(nn.Module):
    """Predictor of BYOL (Grill et al., 2020, arXiv:2006.07733) and SimSiam (Chen & He, 2020,
    arXiv:2011.10566): Linear -> BN -> ReLU -> Linear, a bottleneck back to `out_dim`.

    `out_dim=None` maps back to `in_dim`, which is what both methods need (the prediction is
    compared with the other branch's projection of the same size).
    """

    def __init__(self, in_dim: int, hidden_dim: int = 512, out_dim: int | None = None,
                 batch_norm: bool = True) -> None:
        super().__init__()
        self.in_dim = int(in_dim)
        self.out_dim = self.in_dim if out_dim is None else int(out_dim)
        self.layers = nn.Sequential(
            nn.Linear(self.in_dim, int(hidden_dim), bias=not batch_norm),
            nn.BatchNorm1d(int(hidden_dim)) if batch_norm else nn.Identity(),
            nn.ReLU(inplace=True),
            nn.Linear(int(hidden_dim), self.out_dim),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.layers(z)


@HEADS.register("swav_prototypes")
class SwAVPrototypes(nn.Module):
    """SwAV prototypes (Caron et al., 2020, arXiv:2006.09882): cosine scores of the L2-normalised
    embedding with K L2-normalised prototype vectors, (B, in_dim) -> (B, K).

    The prototypes are a bias-free Linear layer whose rows are kept on the unit sphere: call
    `normalize_()` after every optimizer step (methods do it in `after_optimizer_step`).
    """

    def __init__(self, in_dim: int, num_prototypes: int = 300) -> None:
        super().__init__()
        self.in_dim = int(in_dim)
        self.num_prototypes = int(num_prototypes)
        self.out_dim = self.num_prototypes
        self.prototypes = nn.Linear(self.in_dim, self.num_prototypes, bias=False)
        self.normalize_()

    @torch.no_grad()
    def normalize_(self) -> None:
        """Rescale each prototype vector to unit L2 norm, in place."""
        weight = self.prototypes.weight
        weight.copy_(F.normalize(weight, dim=1))

    def forward(self, z: Tensor) -> Tensor:
        return self.prototypes(F.normalize(z, dim=1))


@HEADS.register("multi_projection")
class MultiProjection(nn.Module):
    """`num_heads` projection MLPs on the same representation, outputs concatenated into
    (B, num_heads * out_dim): the heads of AMCL (Wang et al., 2024, arXiv:2310.05615), each
    giving its own feature space for the `amcl` objective to split again. Each head is a
    `ProjectionMLP` with the given settings; `out_dim` of this module is the concatenated size.
    """

    def __init__(self, in_dim: int, num_heads: int = 3, hidden_dim: int = 2048,
                 out_dim: int = 128, num_layers: int = 2, batch_norm: bool = True) -> None:
        super().__init__()
        if int(num_heads) < 1:
            raise ValueError(f"multi_projection num_heads must be >= 1; got {num_heads}")
        self.in_dim = int(in_dim)
        self.num_heads = int(num_heads)
        self.head_dim = int(out_dim)
        self.out_dim = self.num_heads * self.head_dim
        self.heads = nn.ModuleList(
            ProjectionMLP(in_dim, hidden_dim, out_dim, num_layers, batch_norm)
            for _ in range(self.num_heads))

    def forward(self, h: Tensor) -> Tensor:
        return torch.cat([head(h) for head in self.heads], dim=1)


@HEADS.register("identity_head")
class Identity(nn.Module):
    """No head: z = h. For methods or probes that use the representation directly.

    `out_dim`, if given, must equal `in_dim` (so a recipe's generic head settings fail loudly
    rather than silently being ignored).
    """

    def __init__(self, in_dim: int, out_dim: int | None = None) -> None:
        super().__init__()
        if out_dim is not None and int(out_dim) != int(in_dim):
            raise ValueError(
                f"identity_head cannot change the dimension: in_dim={in_dim}, out_dim={out_dim}; "
                "drop out_dim or use 'projection_mlp'"
            )
        self.in_dim = int(in_dim)
        self.out_dim = int(in_dim)

    def forward(self, h: Tensor) -> Tensor:
        return h
