"""One huge value must not set the scale of a whole image dataset: outlier-dominated data are
scaled by a robust percentile, the outliers clipped, and the run says so."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from contrastlearn.data.arrays import DataError
from contrastlearn.data.outliers import clip_finite, outlier_limit
from contrastlearn.data.resolve import resolve_dataset
from contrastlearn.evaluation import knn_classifier


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return data.images.astype(np.float64), data.target


def _raw_knn(splits) -> float:
    return knn_classifier(splits.train.x.flatten(1), splits.train.y, splits.test.x.flatten(1),
                          splits.test.y).value


def test_one_huge_value_keeps_the_clean_scale_and_the_knn(digits):
    x, y = digits
    clean = resolve_dataset((x, y))
    dirty_x = x.copy()
    dirty_x[3, 4, 4] = 1e30
    with pytest.warns(RuntimeWarning, match=r"dominated by outliers .* 1 value\(s\) beyond"):
        dirty = resolve_dataset((dirty_x, y))
    assert dirty.info["input_scale"] == pytest.approx(clean.info["input_scale"])  # 16
    assert dirty.info["input_scale_method"] == "robust (99.9th percentile); 1 values clipped"
    assert float(dirty.train.x.abs().max()) <= 1.0
    assert "input_scale_method" not in clean.info
    accuracy = _raw_knn(clean)
    assert accuracy > 0.9 and _raw_knn(dirty) == pytest.approx(accuracy, abs=0.01)


def test_the_test_split_is_clipped_alike_and_negative_outliers_count(digits):
    x, y = digits
    dirty_x = x.copy()
    dirty_x[0, 0, 0] = -1e30
    with pytest.warns(RuntimeWarning):
        splits = resolve_dataset({"x": dirty_x[:1500], "y": y[:1500], "x_test": dirty_x[:10],
                                  "y_test": y[:10]})
    assert splits.info["input_scale"] == 16.0
    assert splits.info["input_scale_method"].endswith("2 values clipped")
    assert float(splits.test.x.min()) >= -1.0


def test_clean_and_sparse_images_keep_the_range_rule():
    sparse = np.zeros((50, 8, 8))
    sparse[::7, 2, 3] = 200.0  # mostly black: the non-zero values set the percentile
    sparse[1, 1, 1] = 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        splits = resolve_dataset({"x": sparse})
    assert splits.info["input_scale"] == 200.0 and "input_scale_method" not in splits.info


def test_inf_is_still_refused_next_to_an_outlier(digits):
    x, y = digits
    dirty_x = x.copy()
    dirty_x[0, 0, 0], dirty_x[1, 0, 0] = 1e30, np.inf
    with pytest.raises(DataError, match="NaN or Inf"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resolve_dataset((dirty_x, y))


def test_outlier_limit_and_clip_finite():
    values = torch.cat([torch.linspace(-5, 5, 5000), torch.tensor([1e9, float("nan")])])
    limit = outlier_limit(values)
    assert limit is not None and 4.9 < limit <= 5.0
    assert outlier_limit(torch.linspace(-5, 5, 5000)) is None
    assert outlier_limit(torch.zeros(10)) is None
    clipped = clip_finite(torch.tensor([-1e9, 1.0, float("inf"), float("nan")]), 2.0)
    assert clipped[:2].tolist() == [-2.0, 1.0]
    assert torch.isinf(clipped[2]) and torch.isnan(clipped[3])
