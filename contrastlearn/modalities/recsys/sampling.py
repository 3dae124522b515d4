"""Negative items for pairwise ranking losses: uniform over all items, with the user's own
training items redrawn (as RecBole's uniform sampler does), using torch's default generator so
that the engine's saved random state makes a resumed run draw the same items."""

from __future__ import annotations

import torch
from torch import Tensor

from contrastlearn.modalities.recsys.interactions import Interactions

REDRAW_ROUNDS = 10
"""Rounds of redrawing negatives that hit a training item; what is left after them (users
who have rated almost every item) stays as drawn."""


def uniform_negatives(users: Tensor, graph: Interactions, count: int = 1) -> Tensor:
    """(B, count) items drawn uniformly for each user, none of them (after at most
    `REDRAW_ROUNDS` redraws) an item the user has in `graph`."""
    shape = (users.shape[0], count)
    negatives = torch.randint(graph.num_items, shape, device=users.device)
    expanded = users[:, None].expand(shape)
    for _ in range(REDRAW_ROUNDS):
        hit = graph.contains(expanded, negatives)
        if not hit.any():
            break
        negatives[hit] = torch.randint(graph.num_items, (int(hit.sum()),), device=users.device)
    return negatives
