"""The tabular room's `Modality`: tables of numeric and categorical columns (DataFrames,
arrays, CSV and Parquet files, .npz) as (n, width) float rows made by a `TableSchema`; the
samples are the raw baseline themselves (standardised numbers, missing indicators, one-hot
categories)."""

from __future__ import annotations

from torch import Tensor

from contrastlearn.core.registry import MODALITIES
from contrastlearn.data.arrays import DatasetSplits
from contrastlearn.data.modality import Modality
from contrastlearn.modalities.tabular.augment import table_view_inputs
from contrastlearn.modalities.tabular.data import (
    TableDataset,
    encode_for,
    splits_for,
    table_samples,
    table_splits,
)
from contrastlearn.modalities.tabular.files import TABLE_SUFFIXES, read_table_file
from contrastlearn.modalities.tabular.options import TabularOptions
from contrastlearn.modalities.tabular.preview import write_table_preview


def table_encoder_inputs(splits: DatasetSplits) -> dict[str, object]:
    """The encoder reads the training rows' schema: its column counts for the embeddings, and
    the whole schema (plain JSON) so the exported encoder reads new tables the same way."""
    train = splits.train
    if not isinstance(train, TableDataset) or train.schema is None:
        return {}
    layout = train.schema.layout
    return {"num_continuous": layout.num_continuous, "cardinalities": list(layout.cardinalities),
            "schema": train.schema.to_dict()}


def table_raw_features(x: Tensor) -> tuple[Tensor, str]:
    """The raw baseline of a table: its samples as they are."""
    return x, ("standardised numeric columns, missing indicators and one-hot categorical "
               "columns")


TABULAR = MODALITIES.register("tabular")(Modality(
    name="tabular",
    description="tables of numeric and categorical columns: pandas DataFrames, 2-d arrays, "
                ".csv and .parquet files, .npz files",
    split_arrays=table_splits,
    to_samples=table_samples,
    options=TabularOptions,
    file_readers={suffix: read_table_file for suffix in TABLE_SUFFIXES},
    accepts_objects=True,
    encoder_inputs=table_encoder_inputs,
    prepare_splits=splits_for,
    prepare_samples=encode_for,
    view_inputs=table_view_inputs,
    preview=write_table_preview,
    raw_features=table_raw_features,
    default_recipe="scarf",
    protocols=("linear_probe", "knn"),
    extra="tabular",
))
