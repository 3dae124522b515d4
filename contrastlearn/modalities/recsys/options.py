"""`data.options` of a recommendation recipe: which interactions count, how they are split
and how interaction files are read."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class RecsysOptions(BaseModel):
    """`data.options` of a recsys recipe."""

    model_config = ConfigDict(extra="forbid")
    rating_threshold: float | None = None
    """Implicit feedback: keep only interactions rated >= this; None keeps every interaction
    as a positive (RecBole's default without a threshold)."""
    split: Literal["ratio", "time"] = "ratio"
    """"ratio": each user's interactions shuffled (seeded) and cut by `ratios` into train,
    validation and test (RecBole's RS split grouped by user); "time": leave-last-out by
    timestamp, each user's last interaction the test item and the one before it the
    validation item (sequential recommendation; needs timestamps)."""
    split_seed: int | None = None
    """Seed of the "ratio" split's shuffle; None: the recipe's seed (set it to compare model
    seeds on one split)."""
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    """Train, validation and test shares of each user's interactions ("ratio" split)."""
    max_length: int | None = Field(None, ge=1)
    """History length of sequential recipes (the items before each target a sequence encoder
    reads); None for collaborative filtering."""
    duplicates: Literal["error", "keep_first", "keep_last"] = "error"
    """Repeated (user, item) pairs: an error naming the first ones, or keep one of each (the
    first or last in time, else in file order)."""
    columns: tuple[str, ...] | None = None
    """CSV/TSV files: the names of the user, item, rating and timestamp columns (the last two
    optional), e.g. [userId, movieId, rating, timestamp]; None finds them by the usual names
    (user_id/user/userId, item_id/item/itemId/movieId, rating, timestamp/time)."""
    item_titles: str | None = None
    """A CSV/TSV (or RecBole .item) file of item id then title, shown by `contrastlearn
    recommend`; .inter files read the .item file beside them."""
    delimiter: str | None = None
    """Column separator; None: tab for .tsv/.inter, comma for .csv."""

    @field_validator("ratios")
    @classmethod
    def _shares(cls, ratios: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(ratios) < 0 or ratios[0] <= 0 or abs(sum(ratios) - 1.0) > 1e-6:
            raise ValueError("ratios must be three shares (train, validation, test) that sum to "
                             "1 with a positive train share, e.g. [0.8, 0.1, 0.1]")
        return ratios
