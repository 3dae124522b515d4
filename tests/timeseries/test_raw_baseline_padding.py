"""The raw-input baseline of NaN-padded series (as PLAID's) is a real score, not an error
about NaN embeddings: the padding becomes 0 and the result says so."""

import math

import numpy as np

import contrastlearn
from contrastlearn.modalities.timeseries.data import series_splits
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder


def test_padded_series_get_a_raw_baseline_that_names_the_padding():
    rng = np.random.default_rng(0)
    labels = np.arange(40) % 2
    t = np.linspace(0, 4 * np.pi, 30)
    x = np.stack([np.sin((1 + label) * t + rng.normal()) for label in labels])[:, None, :]
    lengths = rng.integers(18, 31, size=40)
    for row, length in enumerate(lengths):
        x[row, :, length:] = np.nan  # shorter series end in NaN padding
    splits = series_splits(x.astype(np.float32), labels, name="padded", seed=0)
    encoder = TS2VecEncoder(in_channels=1, hidden_dim=4, out_dim=8, depth=1)
    results = contrastlearn.evaluate(encoder, splits, protocols=["knn"], labels_per_class=[],
                                     raw_baseline=True)
    raw = [r for r in results if r.settings["representation"] == "raw"]
    assert len(raw) == 1 and not math.isnan(raw[0].value)
    assert raw[0].settings["raw_features"] == "flattened; NaN padding of shorter series set to 0"
    assert raw[0].value > 0.6  # two frequencies: far above chance (0.5) even from raw values
