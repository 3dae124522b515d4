"""Several trained encoders as one: their embeddings side by side.

Independently seeded runs of one recipe make different errors; a classifier on the
concatenated embeddings averages some of them away (a deep ensemble). The ensemble is built
from run directories at evaluation time, so members are ordinary runs: trained, resumed and
exported as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from contrastlearn.config import load_recipe
from contrastlearn.export import load_encoder


class EnsembleEncoder(nn.Module):
    """`forward(x)` is the concatenation of every member's embedding of x (out_dim is the sum
    of theirs), each multiplied by its entry of `member_scales` (1 until `balance`);
    `timestamps(x, keep)`, when every member has it, concatenates the per-timestamp features
    scaled the same way."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 encoders; got {len(members)}")
        missing = [type(m).__name__ for m in members if not hasattr(m, "out_dim")]
        if missing:
            raise TypeError(f"ensemble members must declare `out_dim`; {missing} do not")
        self.members = nn.ModuleList(members)
        self.out_dim = sum(int(member.out_dim) for member in members)
        self.config = dict(getattr(members[0], "config", {}))
        self.register_buffer("member_scales", torch.ones(len(members)))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([member(x) * scale
                          for member, scale in zip(self.members, self.member_scales)], dim=-1)

    @torch.no_grad()
    def balance(self, embed: Callable[[nn.Module], Tensor]) -> EnsembleEncoder:
        """Rescale every member so that its embeddings of some unlabeled data have total
        variance 1; `embed(module)` returns the (N, D) embeddings of that data by `module`
        (e.g. `lambda m: extract_embeddings(m, x)`, or `embed_data` for a dataset). Members
        trained by different recipes can differ in scale by orders of magnitude, and an RBF
        kernel or kNN distance on the concatenation would otherwise hear only the largest."""
        self.member_scales.fill_(1.0)
        embeddings = embed(self)
        if embeddings.shape[0] < 2:
            raise ValueError("balancing an ensemble needs at least 2 inputs to measure variance")
        blocks = embeddings.split([int(member.out_dim) for member in self.members], dim=-1)
        variances = torch.stack([block.double().var(dim=0).sum() for block in blocks])
        if not bool((variances > 0).all()):
            raise ValueError(f"an ensemble member gives constant embeddings on these inputs "
                             f"(total variances {variances.tolist()}); it cannot be balanced")
        self.member_scales.copy_(variances.rsqrt().to(self.member_scales))
        return self

    def timestamps(self, x: Tensor, keep: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if not all(callable(getattr(m, "timestamps", None)) for m in self.members):
            raise TypeError("every ensemble member needs `timestamps` for per-timestamp features")
        outputs = [member.timestamps(x, keep) for member in self.members]
        features = [part * scale for (part, _), scale in zip(outputs, self.member_scales)]
        return torch.cat(features, dim=-1), outputs[0][1]


def load_ensemble(run_dirs: Sequence[str | Path],
                  device: str | torch.device = "cpu") -> EnsembleEncoder:
    """The exported encoders of several runs as one `EnsembleEncoder` (eval mode). The runs
    must share their data's modality and input scaling, or the concatenation means nothing."""
    run_dirs = [Path(run_dir) for run_dir in run_dirs]
    members = [load_encoder(run_dir, device=device) for run_dir in run_dirs]
    modalities = {load_recipe(run_dir / "recipe.yaml").data.modality for run_dir in run_dirs}
    scales = {str(member.config.get("input_scale")) for member in members}
    if len(modalities) > 1 or len(scales) > 1:
        raise ValueError(f"ensemble runs must share modality and input scaling; got modalities "
                         f"{sorted(modalities)} and input scales {sorted(scales)} across "
                         f"{[str(run_dir) for run_dir in run_dirs]}")
    return EnsembleEncoder(members).to(device).eval()
