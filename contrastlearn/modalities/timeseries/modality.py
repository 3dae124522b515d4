"""The time-series room's `Modality`: (n, channels, length) arrays, NaN-padded when lengths
differ; .ts/.arff/.csv files; line plots of views; the SVM protocol of TS2Vec by default."""

from __future__ import annotations

import torch

from contrastlearn.core.registry import MODALITIES
from contrastlearn.data.modality import Modality
from contrastlearn.modalities.timeseries.data import series_samples, series_splits
from contrastlearn.modalities.timeseries.files import SUFFIXES, read_series_file


def padded_raw_features(series: torch.Tensor) -> tuple[torch.Tensor, str]:
    """The raw baseline of NaN-padded series (PLAID's lengths differ): padding becomes 0,
    so every series has the same number of raw features."""
    flat = series.flatten(1)
    padded = bool(torch.isnan(flat).any())
    note = "flattened; NaN padding of shorter series set to 0" if padded else "flattened"
    return torch.nan_to_num(flat, nan=0.0), note


TIMESERIES = MODALITIES.register("timeseries")(Modality(
    name="timeseries",
    description="time series: (n, channels, length) arrays, .npz, .ts, .arff and .csv files",
    split_arrays=series_splits,
    to_samples=series_samples,
    file_readers={suffix: read_series_file for suffix in SUFFIXES},
    preview="timeseries",
    raw_features=padded_raw_features,
    free_axes=(2,),
    default_recipe="ts2vec",
    protocols=("svm", "knn"),
    extra="timeseries",
))
