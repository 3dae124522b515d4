"""A tuple-matching task made from one clean table: table A (clean rows) and table B
(corrupted copies of held-out rows, some of whose originals are missing from A).

From a table of N distinct rows, seeded: `holdout_fraction` of the rows are held out for the
test and as many again (`validation_fraction`) for validation; of each held-out part,
`unmatched_fraction` have no row in the gallery they are matched against. Table B is the test
rows corrupted once (`corruptions.HELD_OUT_CORRUPTION`, stronger than the training views) and
is matched against table A: every row but B's unmatched ones. Training sees only the rows
held out for neither (the train split). The validation task that picks the threshold is made
the same way from the validation rows, against the train rows and its matched rows, so the
test never chooses anything, and the threshold is set on rows the encoder has not trained on,
as B's are (rows seen in training sit further apart: a threshold set on them lets more of
B's rows without a match through).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from contrastlearn.data.arrays import ArrayDataset, DataError, DatasetSplits
from contrastlearn.modalities.tabular.matching.chars import DEFAULT_MAX_CHARS, encode_table
from contrastlearn.modalities.tabular.matching.corruptions import (
    HELD_OUT_CORRUPTION,
    check_rows,
    corrupt_rows,
)
from contrastlearn.modalities.tabular.matching.protocol import (
    NO_MATCH,
    MatchingTask,
    TupleMatchingProtocol,
)

MODALITY = "tabular"
EXTRA_NAME = "tuple_matching"
"""The key of the matching protocol in `DatasetSplits.extras`."""
TEST_SEED_SALT, VALIDATION_SEED_SALT = 7_919, 104_729
"""Keep the corruption seeds of B and of the validation queries apart from the split's."""


@dataclass
class TupleDataset(ArrayDataset):
    """Table rows as (N, F, C) int64 character codes (`encode_table`) and the names of the F
    columns; no labels. The engine draws batches of rows as it draws any array."""

    columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            check_rows(self.x, "TupleDataset")
        except ValueError as error:
            raise DataError(str(error)) from None
        super().__post_init__()


def distinct_rows(x: Tensor) -> Tensor:
    """Indices of the first occurrence of every distinct row of `x`, in order: two identical
    rows cannot be told apart, so a table keeps one of them."""
    _, inverse = torch.unique(x.flatten(1), dim=0, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), len(x), dtype=torch.long)
    first = first.scatter_reduce(0, inverse, torch.arange(len(x)), reduce="amin")
    return first.sort().values


def _unit(value: float, name: str) -> float:
    if not 0.0 < float(value) < 1.0:
        raise DataError(f"tuple matching {name} must be in (0, 1), got {value}")
    return float(value)


def matching_task(x: Tensor, gallery: Tensor, queries: Tensor, seed: int,
                  corruption: dict[str, float]) -> MatchingTask:
    """Rows `queries` of `x` corrupted (seeded) against rows `gallery` of `x`; a query whose row
    is not in the gallery has no match."""
    position = torch.full((len(x),), NO_MATCH, dtype=torch.long)
    position[gallery] = torch.arange(len(gallery))
    return MatchingTask(x[gallery], corrupt_rows(x[queries], seed, **corruption),
                        position[queries])


def tuple_matching_splits(
    frame: Any, *, name: str = "table", holdout_fraction: float = 0.2,
    validation_fraction: float = 0.2, unmatched_fraction: float = 0.3,
    max_chars: int = DEFAULT_MAX_CHARS, seed: int = 0,
    corruption: dict[str, float] | None = None,
) -> DatasetSplits:
    """Splits of a tuple-matching task made from `frame` (see the module docstring): the train
    split holds the rows held out for neither test nor validation, there is no test split,
    and `extras["tuple_matching"]` scores an encoder on B against A. `corruption` overrides
    settings of `HELD_OUT_CORRUPTION` (typo_rate, abbreviation_rate, drop_rate, reorder_p)."""
    holdout_fraction = _unit(holdout_fraction, "holdout_fraction")
    validation_fraction = _unit(validation_fraction, "validation_fraction")
    unmatched_fraction = _unit(unmatched_fraction, "unmatched_fraction")
    corruption = {**HELD_OUT_CORRUPTION, **(corruption or {})}
    encoded = encode_table(frame, max_chars=max_chars, what=f"{name} table")
    kept = distinct_rows(encoded)
    x = encoded[kept]
    test_count = round(holdout_fraction * len(x))
    validation_count = round(validation_fraction * len(x))
    if min(test_count, validation_count) < 1 or len(x) - test_count - validation_count < 4:
        raise DataError(f"{name}: {len(x)} distinct rows are too few to hold out "
                        f"{holdout_fraction:g} of them for the test and {validation_fraction:g} "
                        "for validation and train on at least 4; give a larger table or change "
                        "holdout_fraction / validation_fraction")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    held, validation_rows = order[:test_count], order[test_count:test_count + validation_count]
    train = order[test_count + validation_count:].sort().values
    unmatched = held[:round(unmatched_fraction * test_count)]
    table_a = order[len(unmatched):].sort().values
    test = matching_task(x, table_a, held, seed + TEST_SEED_SALT, corruption)
    validation_unmatched = round(unmatched_fraction * validation_count)
    validation_gallery = torch.cat([train, validation_rows[validation_unmatched:]]).sort().values
    validation = matching_task(x, validation_gallery, validation_rows,
                               seed + VALIDATION_SEED_SALT, corruption)
    columns = tuple(str(column) for column in frame.columns)
    protocol = TupleMatchingProtocol(test, validation, corruption)
    info = {
        "name": name, "num_train": len(train), "num_test": len(held),
        "sample_shape": list(x.shape[1:]), "num_classes": None,
        "test_split": f"corrupted_holdout_{holdout_fraction:g}_seed{seed}",
        "columns": list(columns), "table_a_rows": len(table_a), "table_b_rows": len(held),
        "table_b_rows_without_match": len(unmatched), "validation_queries": validation_count,
        "validation_queries_without_match": validation_unmatched,
        "duplicate_rows_dropped": len(encoded) - len(x), "max_chars": int(max_chars),
    }
    return DatasetSplits(TupleDataset(x[train], columns=columns, name=name), None, MODALITY,
                         info, extras={EXTRA_NAME: protocol})
