"""The training data the engine draws recsys batches from.

`InteractionDataset` keeps the sample index in `x` (int64), so the engine's seeded, resumable
batch order and every `ArrayDataset` helper work unchanged. Its samples are

- for collaborative filtering (`max_length` None): the training interactions, one sample per
  (user, item) pair;
- for sequential recommendation (`max_length` L): every position p >= 1 of every user's
  training items in time order, the target being the item at p and the history the (at most L)
  items before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from contrastlearn.data.arrays import ArrayDataset
from contrastlearn.modalities.recsys.batch import PAD, RecBatch
from contrastlearn.modalities.recsys.interactions import Interactions


def histories(indptr: Tensor, ordered_items: Tensor, users: Tensor, ends: Tensor,
              max_length: int) -> Tensor:
    """(B, max_length) each user's items at positions [end - max_length, end) of its time-
    ordered list (CSR `indptr`, `ordered_items`), right-aligned, left-padded with PAD."""
    starts = indptr[users]
    offsets = torch.arange(-max_length, 0, device=users.device)
    positions = starts[:, None] + ends[:, None] + offsets[None, :]
    valid = positions >= starts[:, None]
    gathered = ordered_items[positions.clamp(min=0)]
    return torch.where(valid, gathered, torch.full_like(gathered, PAD))


@dataclass
class InteractionDataset(ArrayDataset):
    """Samples of one interaction table (see the module docstring); `graph` is the training
    interactions, `max_length` the history length of sequential recipes (None: no
    histories)."""

    graph: Interactions | None = None
    max_length: int | None = None
    variable_length: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.graph is None:
            raise ValueError("an InteractionDataset needs its interactions (graph)")
        self._indptr, self._ordered = self.graph.user_item_lists()
        if self.max_length is None:
            self._users, self._items, self._ends = self.graph.users, self.graph.items, None
        else:
            counts = self._indptr[1:] - self._indptr[:-1]
            self._users = torch.repeat_interleave(torch.arange(self.graph.num_users), counts)
            self._ends = torch.arange(len(self._users)) - self._indptr[self._users]
            keep = self._ends >= 1  # a target needs at least one item before it
            self._users, self._ends = self._users[keep], self._ends[keep]
            self._items = self._ordered[self._indptr[self._users] + self._ends]

    @classmethod
    def of(cls, graph: Interactions, max_length: int | None = None,
           name: str = "train") -> InteractionDataset:
        """All samples of `graph` (see the module docstring)."""
        probe = cls(x=torch.zeros(0, dtype=torch.long), graph=graph, max_length=max_length,
                    name=name)
        return cls(x=torch.arange(len(probe._users)), graph=graph, max_length=max_length,
                   name=name)

    def batch_x(self, indices: Tensor) -> RecBatch:
        samples = self.x[indices]
        users, items = self._users[samples], self._items[samples]
        sequences = None
        if self.max_length is not None:
            sequences = histories(self._indptr, self._ordered, users, self._ends[samples],
                                  self.max_length)
        return RecBatch(users=users, items=items, sequences=sequences, graph=self.graph)

    def embed_with(self, encoder: nn.Module, *, batch_size: int = 4096,
                   device: torch.device | str | None = None) -> Tensor:
        """(N, D) the encoder's representation of every sample (its user, or its history)."""
        was_training = encoder.training
        encoder.eval()
        try:
            with torch.no_grad():
                parts = []
                for chunk in torch.arange(len(self.x)).split(batch_size):
                    batch = self.batch_x(chunk)
                    if device is not None:
                        batch = batch.to(device)
                    parts.append(encoder(batch).float().cpu())
            return torch.cat(parts) if parts else torch.zeros(0, encoder.out_dim)
        finally:
            encoder.train(was_training)
