"""A FIFO ring of past keys, the negative source of MoCo-style InfoNCE.

He et al., 2020, "Momentum Contrast for Unsupervised Visual Representation Learning",
arXiv 1911.05722.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastlearn.core.distributed import gather_no_grad, is_distributed

UNKNOWN_ID = -1


class MemoryQueue(nn.Module):
    """Ring buffer of `size` keys of width `dim`, with the item id of each key: where MoCo and
    ESimCSE keep their negatives (a part objectives read, not an objective).

    Everything lives in buffers (`keys`, `ids`, `pointer`, `filled`), so a `state_dict` round
    trip resumes it exactly. `ids` should be dataset indices (so an item never meets its own
    older key as a negative); keys enqueued without ids get -1, which matches no item.
    """

    keys: Tensor
    ids: Tensor
    pointer: Tensor
    filled: Tensor

    def __init__(self, size: int, dim: int, gather: bool = False) -> None:
        super().__init__()
        if size <= 0 or dim <= 0:
            raise ValueError(f"size and dim must be positive; got size={size}, dim={dim}")
        self.size = size
        self.dim = dim
        self.gather = gather
        self.register_buffer("keys", torch.zeros(size, dim))
        self.register_buffer("ids", torch.full((size,), UNKNOWN_ID, dtype=torch.long))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, keys: Tensor, ids: Tensor | None = None) -> None:
        """Append (B, dim) keys (detached; from every rank when gather=True), overwriting the
        oldest once full. A batch larger than the queue keeps its last `size` rows."""
        if keys.dim() != 2 or keys.shape[1] != self.dim:
            raise ValueError(f"keys must be (batch, {self.dim}); got {tuple(keys.shape)}")
        if ids is None:
            ids = torch.full((keys.shape[0],), UNKNOWN_ID, dtype=torch.long, device=keys.device)
        if ids.shape != (keys.shape[0],):
            raise ValueError(f"ids must be ({keys.shape[0]},) like keys; got {tuple(ids.shape)}")
        keys, ids = keys.detach(), ids.detach().long()
        if self.gather and is_distributed():
            keys, ids = gather_no_grad(keys.contiguous()), gather_no_grad(ids)
        count = keys.shape[0]
        if count > self.size:
            keys, ids, count = keys[-self.size :], ids[-self.size :], self.size
        if count == 0:
            return
        positions = (self.pointer + torch.arange(count, device=self.keys.device)) % self.size
        self.keys[positions] = keys.to(self.keys)
        self.ids[positions] = ids.to(self.ids.device)
        self.pointer.copy_((self.pointer + count) % self.size)
        self.filled.copy_(torch.clamp(self.filled + count, max=self.size))

    def negatives(self) -> tuple[Tensor, Tensor]:
        """The filled part of the queue: keys (filled, dim) and their ids (filled,)."""
        filled = int(self.filled)
        return self.keys[:filled], self.ids[:filled]

    def __len__(self) -> int:
        return int(self.filled)

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}, gather={self.gather}"
