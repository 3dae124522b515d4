"""From raw interactions to the splits a recsys run trains and is scored on.

`recsys_splits` indexes an `InteractionTable` (users and items numbered by sorted raw id),
keeps the interactions that count as positives (`rating_threshold`), refuses repeated
(user, item) pairs unless told which to keep, and splits per user:

- "ratio": each user's interactions in a seeded random order, cut into train / validation /
  test by `ratios` with RecBole's rounding (validation and test get one interaction when
  their share of a user is below one, as long as train keeps at least one);
- "time": leave-last-out by timestamp: each user's last interaction is the test item, the one
  before it the validation item; users with fewer than 3 interactions stay in train.

Validation and test interactions of users or items that never occur in train cannot be
scored from what the model learned: they are dropped from evaluation and counted in the run's
data summary (`cold_*` keys), never silently mixed in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from contrastlearn.data.arrays import DataError, DatasetSplits
from contrastlearn.modalities.recsys.datasets import InteractionDataset
from contrastlearn.modalities.recsys.files import InteractionTable, read_interactions
from contrastlearn.modalities.recsys.interactions import Interactions, Vocabulary
from contrastlearn.modalities.recsys.options import RecsysOptions
from contrastlearn.modalities.recsys.protocols import RankingProtocols
from contrastlearn.modalities.recsys.recommend import Recommender

MODALITY = "recsys"


def _as_table(x: Any) -> InteractionTable:
    """An InteractionTable from a table, a dict of columns or an (E, 2..4) array of
    user, item[, rating[, timestamp]]."""
    if isinstance(x, InteractionTable):
        return x
    if isinstance(x, dict):
        missing = [key for key in ("users", "items") if key not in x]
        if missing:
            raise DataError(f"interaction columns need 'users' and 'items' (optional 'ratings', "
                            f"'timestamps'); missing {missing}")
        return InteractionTable(
            users=np.asarray(x["users"]).astype(str), items=np.asarray(x["items"]).astype(str),
            ratings=None if x.get("ratings") is None else np.asarray(x["ratings"], float),
            timestamps=None if x.get("timestamps") is None else np.asarray(x["timestamps"],
                                                                           float))
    array = np.asarray(x.cpu() if isinstance(x, Tensor) else x)
    if array.ndim != 2 or not 2 <= array.shape[1] <= 4:
        raise DataError(f"interactions must be an (E, 2..4) array of user, item[, rating[, "
                        f"timestamp]] rows, a dict of columns or an interaction file; got "
                        f"shape {array.shape}")
    return InteractionTable(
        users=array[:, 0].astype(str), items=array[:, 1].astype(str),
        ratings=array[:, 2].astype(float) if array.shape[1] > 2 else None,
        timestamps=array[:, 3].astype(float) if array.shape[1] > 3 else None)


def _index(raw: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Sorted distinct ids (numerically when every id is an integer) and each row's index."""
    distinct = np.unique(raw)
    if all(value.lstrip("-").isdigit() for value in distinct):
        distinct = np.array(sorted(distinct, key=int))
    lookup = {value: index for index, value in enumerate(distinct)}
    return [str(value) for value in distinct], np.array([lookup[value] for value in raw],
                                                        dtype=np.int64)


def _drop_duplicates(table: InteractionTable, users: np.ndarray, items: np.ndarray,
                     duplicates: str) -> np.ndarray:
    """Row indices to keep (in order) after the `duplicates` rule."""
    keys = users * (int(items.max()) + 1) + items
    order = np.arange(len(keys))
    if table.timestamps is not None:
        order = np.argsort(table.timestamps, kind="stable")
    sorted_keys = keys[order]
    if duplicates == "error":
        distinct, counts = np.unique(keys, return_counts=True)
        repeated = distinct[counts > 1]
        if len(repeated):
            first = int(np.flatnonzero(keys == repeated[0])[0])
            raise DataError(
                f"{table.source}: {int((counts[counts > 1] - 1).sum())} repeated (user, item) "
                f"interactions, e.g. user {table.users[first]} with item {table.items[first]}; "
                "remove them or set data.options.duplicates: keep_first or keep_last")
        return np.arange(len(keys))
    if duplicates == "keep_last":
        reversed_keys = sorted_keys[::-1]
        _, first_of_reversed = np.unique(reversed_keys, return_index=True)
        chosen = order[::-1][first_of_reversed]
    else:
        _, first = np.unique(sorted_keys, return_index=True)
        chosen = order[first]
    return np.sort(chosen)


def _ratio_parts(users: Tensor, num_users: int, ratios: tuple[float, float, float],
                 seed: int) -> Tensor:
    """(E,) part of each interaction (0 train, 1 validation, 2 test), per user in a seeded
    random order, with RecBole's `_calcu_split_ids` rounding."""
    counts = torch.bincount(users, minlength=num_users)
    sizes = [torch.floor(counts * share).long() for share in ratios]
    sizes[0] = counts - sizes[1] - sizes[2]
    for part in (2, 1):  # RecBole walks the shares from the last one
        bump = (sizes[0] > 1) & (counts * ratios[part] > 0) & (counts * ratios[part] < 1)
        sizes[part] = sizes[part] + bump.long()
        sizes[0] = sizes[0] - bump.long()
    generator = torch.Generator().manual_seed(seed)
    order = torch.argsort(torch.rand(len(users), generator=generator))
    order = order[torch.argsort(users[order], stable=True)]
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(users)
    rank[order] = torch.arange(len(users)) - starts[users[order]]
    train_size, valid_size = sizes[0][users], sizes[1][users]
    return (rank >= train_size).long() + (rank >= train_size + valid_size).long()


def _time_parts(users: Tensor, timestamps: Tensor, num_users: int) -> Tensor:
    """(E,) leave-last-out parts: each user's last interaction 2 (test), the one before it
    1 (validation), the rest 0; users with fewer than 3 interactions all 0."""
    order = torch.argsort(timestamps, stable=True)
    order = order[torch.argsort(users[order], stable=True)]
    counts = torch.bincount(users, minlength=num_users)
    ends = torch.cumsum(counts, 0)
    from_end = torch.empty_like(users)
    from_end[order] = ends[users[order]] - 1 - torch.arange(len(users))
    eligible = counts[users] >= 3
    parts = torch.zeros_like(users)
    parts[eligible & (from_end == 0)] = 2
    parts[eligible & (from_end == 1)] = 1
    return parts


def _without_cold(part: Interactions, train: Interactions) -> tuple[Interactions, int, int]:
    """`part` without interactions of users or items absent from `train`, and how many of
    each kind were dropped."""
    user_known = train.user_degrees()[part.users] > 0
    item_known = train.item_popularity()[part.items] > 0
    return (part.subset(user_known & item_known), int((~user_known).sum()),
            int((user_known & ~item_known).sum()))


def recsys_splits(x: Any, *, name: str = "interactions", holdout_fraction: float = 0.2,
                  seed: int = 0, rating_threshold: float | None = None, split: str = "ratio",
                  split_seed: int | None = None,
                  ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
                  max_length: int | None = None, duplicates: str = "error") -> DatasetSplits:
    """Train samples, and validation/test interactions in `extras` with the ranking
    protocols and the recommender (see the module docstring). The keyword options are the
    `RecsysOptions` fields of the same names; `holdout_fraction` is not used: `ratios`
    decides the split."""
    settings = RecsysOptions(rating_threshold=rating_threshold, split=split,
                             split_seed=split_seed, ratios=ratios, max_length=max_length,
                             duplicates=duplicates)
    table = _as_table(x)
    if len(table.users) == 0:
        raise DataError(f"{table.source} has no interactions")
    if settings.rating_threshold is not None:
        if table.ratings is None:
            raise DataError(f"{table.source} has no rating column, so data.options."
                            "rating_threshold cannot pick positives; remove the threshold or "
                            "add ratings")
        keep = table.ratings >= settings.rating_threshold
        if not keep.any():
            raise DataError(f"no interaction of {table.source} is rated >= "
                            f"{settings.rating_threshold}; lower data.options.rating_threshold")
        table = InteractionTable(table.users[keep], table.items[keep], table.ratings[keep],
                                 None if table.timestamps is None else table.timestamps[keep],
                                 table.titles, table.source)
    if settings.split == "time" and table.timestamps is None:
        raise DataError(f"{table.source} has no timestamp column; the time split (sequential "
                        "recipes) orders each user's interactions by time: add timestamps, or "
                        "use data.options.split: ratio with a non-sequential recipe")
    user_ids, users = _index(table.users)
    item_ids, items = _index(table.items)
    kept = _drop_duplicates(table, users, items, settings.duplicates)
    interactions = Interactions(
        torch.from_numpy(users[kept]), torch.from_numpy(items[kept]), len(user_ids),
        len(item_ids),
        ratings=None if table.ratings is None else torch.from_numpy(table.ratings[kept]),
        timestamps=None if table.timestamps is None else torch.from_numpy(
            table.timestamps[kept]))
    if settings.split == "time":
        parts = _time_parts(interactions.users, interactions.timestamps, len(user_ids))
        test_split = "leave_last_out"
    else:
        split_seed = seed if settings.split_seed is None else settings.split_seed
        parts = _ratio_parts(interactions.users, len(user_ids), settings.ratios, split_seed)
        test_split = (f"ratio_{'_'.join(f'{share:g}' for share in settings.ratios)}"
                      f"_seed{split_seed}")
    train = interactions.subset(parts == 0)
    valid, cold_valid_users, cold_valid_items = _without_cold(interactions.subset(parts == 1),
                                                              train)
    test, cold_test_users, cold_test_items = _without_cold(interactions.subset(parts == 2),
                                                           train)
    vocabulary = Vocabulary(user_ids, item_ids, [table.titles.get(item, "") for item in item_ids]
                            if table.titles else None)
    info = {"name": name, "modality": MODALITY, "num_users": len(user_ids),
            "num_items": len(item_ids), "num_interactions": len(interactions),
            "num_train": len(train), "num_valid": len(valid), "num_test": len(test),
            "positives": ("every interaction" if settings.rating_threshold is None
                          else f"rating >= {settings.rating_threshold:g}"),
            "split": settings.split, "test_split": test_split,
            "cold_users_dropped": {"valid": cold_valid_users, "test": cold_test_users},
            "cold_items_dropped": {"valid": cold_valid_items, "test": cold_test_items},
            "users_without_train": int((train.user_degrees() == 0).sum()),
            "items_without_train": int((train.item_popularity() == 0).sum())}
    if settings.max_length is not None:
        info["max_length"] = settings.max_length
    dataset = InteractionDataset.of(train, settings.max_length)
    protocols = RankingProtocols(train, valid, test, max_length=settings.max_length)
    return DatasetSplits(dataset, None, MODALITY, info,
                         extras={"ranking": protocols,
                                 "recommender": Recommender(protocols, vocabulary)})


def read_interaction_file(
    path: Any, columns: tuple[str, ...] | None = None, delimiter: str | None = None,
    item_titles: str | None = None, rating_threshold: float | None = None,
    split: str | None = None, split_seed: int | None = None,
    ratios: tuple[float, float, float] | None = None, max_length: int | None = None,
    duplicates: str | None = None,
) -> dict[str, Any]:
    """An interaction file (.csv, .tsv, RecBole .inter) read for `recsys_splits`: its table
    and the recipe's split options (`call_with_accepted` passes the ones set)."""
    arrays = read_interactions(path, columns=columns, delimiter=delimiter,
                               item_titles=item_titles)
    given = {"rating_threshold": rating_threshold, "split": split, "split_seed": split_seed,
             "ratios": ratios, "max_length": max_length, "duplicates": duplicates}
    arrays.update({key: value for key, value in given.items() if value is not None})
    return arrays


SPLIT_FILE_READERS = dict.fromkeys((".csv", ".tsv", ".inter"), read_interaction_file)
