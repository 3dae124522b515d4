"""Recommendation batches: what the engine hands a recsys method for one step.

A `RecBatch` is B training samples as tensors:

- `users` (B,) int64: the user of each sample;
- `items` (B,) int64: the positive item (an observed interaction, or the next item of a
  sequence: the target);
- `sequences` (B, L) int64 or None: for sequential recommenders, the user's items before the
  target in time order, right-aligned and left-padded with `PAD` (-1);
- `graph`: the training `Interactions` (the user-item graph graph-based methods propagate
  over and graph views perturb); shared by reference, never sliced;
- `graph_view`: a perturbed copy of `graph` a view made (SGL's edge or node dropout), or one
  per propagation layer (SGL's random walk); None in an unperturbed batch.

The engine slices batches into micro-batches (`batch[a:b]`) and moves them to the model's
device (`.to`); views return edited copies (`replace`). Negative items are drawn by the
methods (`contrastlearn.modalities.recsys.sampling`), whose random state the engine saves, so
a resumed run draws the same negatives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from contrastlearn.modalities.recsys.interactions import Interactions

PAD = -1
"""The padding item of `RecBatch.sequences` (left padding)."""
MASK = -2
"""The masked item of item mask (CL4SRec's [mask] token): sequence encoders give it a learned
embedding of its own; it is never a target or a recommendable item."""


@dataclass(frozen=True, eq=False)
class RecBatch:
    """B recommendation samples; see the module docstring."""

    users: Tensor
    items: Tensor
    sequences: Tensor | None = None
    graph: Interactions | None = None
    graph_view: Interactions | tuple[Interactions, ...] | None = None

    def __post_init__(self) -> None:
        if self.users.dim() != 1 or self.items.shape != self.users.shape:
            raise ValueError(f"RecBatch users and items must be (B,) tensors of one length; got "
                             f"{tuple(self.users.shape)} and {tuple(self.items.shape)}")
        if self.sequences is not None and (self.sequences.dim() != 2
                                           or self.sequences.shape[0] != self.users.shape[0]):
            raise ValueError(f"RecBatch sequences must be (B, L) with B = {len(self.users)}; "
                             f"got {tuple(self.sequences.shape)}")

    def __len__(self) -> int:
        return int(self.users.shape[0])

    def __getitem__(self, index: slice) -> RecBatch:
        if not isinstance(index, slice):
            raise TypeError(f"RecBatch supports slices only (micro-batches); got {index!r}")
        return replace(self, users=self.users[index], items=self.items[index],
                       sequences=None if self.sequences is None else self.sequences[index])

    @property
    def device(self) -> torch.device:
        return self.users.device

    def to(self, device: torch.device | str, non_blocking: bool = False) -> RecBatch:
        def move(value: Tensor | None) -> Tensor | None:
            return None if value is None else value.to(device, non_blocking=non_blocking)
        return replace(self, users=move(self.users), items=move(self.items),
                       sequences=move(self.sequences))

    @property
    def lengths(self) -> Tensor:
        """(B,) the number of real (non-padding) items in each sequence."""
        if self.sequences is None:
            raise ValueError("this RecBatch has no sequences (a sequential recipe needs them)")
        return (self.sequences != PAD).sum(dim=1)


def check_rec_batch(batch: object, method: str) -> RecBatch:
    """`batch` if it is a RecBatch, else a TypeError naming the method and the fix."""
    if not isinstance(batch, RecBatch):
        raise TypeError(f"{method} trains on recommendation data (data.modality: recsys); got a "
                        f"{type(batch).__name__} batch")
    return batch
