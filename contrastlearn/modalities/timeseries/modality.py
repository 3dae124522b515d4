"""The time-series room's `Modality`: (n, channels, length) arrays, NaN-padded when lengths
differ; .ts/.arff/.csv files; line plots of views; the SVM protocol of TS2Vec by default."""

from __future__ import annotations

from contrastlearn.core.registry import MODALITIES
from contrastlearn.data.modality import Modality
from contrastlearn.modalities.timeseries.data import series_samples, series_splits
from contrastlearn.modalities.timeseries.files import SUFFIXES, read_series_file

TIMESERIES = MODALITIES.register("timeseries")(Modality(
    name="timeseries",
    description="time series: (n, channels, length) arrays, .npz, .ts, .arff and .csv files",
    split_arrays=series_splits,
    to_samples=series_samples,
    file_readers={suffix: read_series_file for suffix in SUFFIXES},
    preview="timeseries",
    default_recipe="ts2vec",
    protocols=("svm", "knn"),
    extra="timeseries",
))
