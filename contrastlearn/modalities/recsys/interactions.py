"""User-item interactions as tensors: the one table every recsys reader, split, dataset,
method and protocol shares.

`Interactions` holds E interactions of `num_users` users with `num_items` items, as int64
indices (the readers map raw ids to 0..n-1 and keep the raw ids in a `Vocabulary`), with
optional float ratings and timestamps aligned with them. A split is an `Interactions` over the
same index space, so train, validation and test can be compared id for id.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import torch
from torch import Tensor

from contrastlearn.data.arrays import DataError


@dataclass(frozen=True, eq=False)
class Interactions:
    """E interactions: `users` and `items` (E,) int64 indices, optional `ratings` and
    `timestamps` (E,) float64, and the sizes of both index spaces."""

    users: Tensor
    items: Tensor
    num_users: int
    num_items: int
    ratings: Tensor | None = None
    timestamps: Tensor | None = None

    def __post_init__(self) -> None:
        count = self.users.shape
        if self.users.dim() != 1 or self.items.shape != count:
            raise DataError(f"interactions need users and items of the same length (E,); got "
                            f"{tuple(self.users.shape)} and {tuple(self.items.shape)}")
        for name in ("ratings", "timestamps"):
            value = getattr(self, name)
            if value is not None and value.shape != count:
                raise DataError(f"interaction {name} must have one value per interaction "
                                f"({count[0]}); got shape {tuple(value.shape)}")

    def __len__(self) -> int:
        return int(self.users.shape[0])

    def subset(self, mask_or_indices: Tensor) -> Interactions:
        """The interactions selected by a boolean mask or an index tensor (same id spaces)."""
        def pick(value: Tensor | None) -> Tensor | None:
            return None if value is None else value[mask_or_indices]
        return replace(self, users=self.users[mask_or_indices], items=self.items[mask_or_indices],
                       ratings=pick(self.ratings), timestamps=pick(self.timestamps))

    def keys(self) -> Tensor:
        """(E,) `user * num_items + item`, one int64 per interaction (for set look-ups)."""
        return self.users * self.num_items + self.items

    @cached_property
    def sorted_keys(self) -> Tensor:
        """`keys()` sorted (computed once: negative sampling looks pairs up every step)."""
        return torch.sort(self.keys()).values

    def contains(self, users: Tensor, items: Tensor) -> Tensor:
        """Boolean tensor shaped like `users`: whether each (user, item) pair is in here."""
        known = self.sorted_keys.to(users.device)
        query = users * self.num_items + items
        if known.numel() == 0:
            return torch.zeros_like(query, dtype=torch.bool)
        position = torch.searchsorted(known, query).clamp(max=known.numel() - 1)
        return known[position] == query

    def user_item_lists(self) -> tuple[Tensor, Tensor]:
        """CSR form grouped by user: `(indptr (num_users + 1,), items (E,))`, the items of
        user u being `items[indptr[u]:indptr[u + 1]]`, in time order when there are
        timestamps (ties and no timestamps: the order of the table)."""
        if self.timestamps is not None:
            order = torch.argsort(self.timestamps, stable=True)
            order = order[torch.argsort(self.users[order], stable=True)]
        else:
            order = torch.argsort(self.users, stable=True)
        counts = torch.bincount(self.users, minlength=self.num_users)
        indptr = torch.zeros(self.num_users + 1, dtype=torch.long)
        indptr[1:] = torch.cumsum(counts, 0)
        return indptr, self.items[order]

    def item_popularity(self) -> Tensor:
        """(num_items,) how many interactions each item has here."""
        return torch.bincount(self.items, minlength=self.num_items)

    def user_degrees(self) -> Tensor:
        """(num_users,) how many interactions each user has here."""
        return torch.bincount(self.users, minlength=self.num_users)


@dataclass
class Vocabulary:
    """The raw ids behind the indices (`user_ids[u]` is user u's id in the file) and the
    item titles, when the data has them."""

    user_ids: list[str]
    item_ids: list[str]
    item_titles: list[str] | None = None
    _user_index: dict[str, int] = field(default_factory=dict, repr=False)
    _item_index: dict[str, int] = field(default_factory=dict, repr=False)

    def user_index(self, user_id: str) -> int:
        """The index of a raw user id; a DataError naming a few known ids when unknown."""
        if not self._user_index:
            self._user_index.update((key, index) for index, key in enumerate(self.user_ids))
        try:
            return self._user_index[str(user_id)]
        except KeyError:
            examples = ", ".join(self.user_ids[:5])
            raise DataError(f"unknown user id {user_id!r}: it is not in the data this run was "
                            f"trained on ({len(self.user_ids)} users, e.g. {examples}); pass one "
                            "of the data's user ids") from None

    def item_index(self, item_id: str) -> int:
        if not self._item_index:
            self._item_index.update((key, index) for index, key in enumerate(self.item_ids))
        try:
            return self._item_index[str(item_id)]
        except KeyError:
            raise DataError(f"unknown item id {item_id!r} ({len(self.item_ids)} items)") from None

    def describe_item(self, item: int) -> str:
        """The raw id of item index `item`, with its title when known."""
        title = self.item_titles[item] if self.item_titles else ""
        return f"{self.item_ids[item]}  {title}".rstrip()
