"""A batch of paired records: one batch per modality, row i of each belonging together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class MultiBatch:
    """`parts`: modality name -> that room's batch (a tensor, or a room's own batch object
    that has `len`, slicing and `.to`), all of the same length, in the order the room was
    declared."""

    parts: dict[str, Any]

    def __post_init__(self) -> None:
        sizes = {name: len(part) for name, part in self.parts.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"a multimodal batch needs one row per record in every modality; "
                             f"got {sizes}")

    @property
    def modalities(self) -> list[str]:
        return list(self.parts)

    @property
    def device(self) -> torch.device:
        return next(iter(self.parts.values())).device

    def __len__(self) -> int:
        return len(next(iter(self.parts.values())))

    def __getitem__(self, index: slice) -> MultiBatch:
        return MultiBatch({name: part[index] for name, part in self.parts.items()})

    def to(self, device: torch.device | str, non_blocking: bool = False) -> MultiBatch:
        return MultiBatch({name: part.to(device, non_blocking=non_blocking)
                           for name, part in self.parts.items()})

    def replace(self, name: str, part: Any) -> MultiBatch:
        """The same records with modality `name`'s batch replaced (a view of it)."""
        return MultiBatch({**self.parts, name: part})
