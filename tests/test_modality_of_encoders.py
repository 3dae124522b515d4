"""`evaluate` and `embed` read the modality an encoder records, never its shape."""

import numpy as np
import pytest
import torch
from torch import nn

import contrastlearn
from contrastlearn.api import modality_of
from contrastlearn.data.arrays import DataError
from contrastlearn.export import export_encoder, load_encoder, read_encoder_config
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder


def series(count: int = 40, length: int = 48):
    rng = np.random.default_rng(0)
    labels = np.arange(count) % 2
    t = np.linspace(0, 4 * np.pi, length)
    x = np.stack([np.sin((1 + 2 * label) * t + rng.normal()) for label in labels])
    return x[:, None, :].astype(np.float32), labels


def test_a_series_encoder_evaluates_series_arrays_not_images():
    # (1, 48) series were once read as images: "images of (1, 48) pixels are too small"
    x, y = series()
    encoder = TS2VecEncoder(in_channels=1, hidden_dim=8, out_dim=16, depth=2)
    results = contrastlearn.evaluate(encoder, (x, y), labels_per_class=[])
    assert {result.protocol for result in results} == {"svm", "knn"}  # the room's protocols
    assert contrastlearn.embed(encoder, x[:5]).shape == (5, 16)


def test_the_export_records_the_modality_and_loading_keeps_it(tmp_path):
    encoder = TS2VecEncoder(in_channels=1, hidden_dim=8, out_dim=16, depth=2)
    export_encoder(encoder, tmp_path / "enc", name="ts2vec_encoder",
                   kwargs={"in_channels": 1, "hidden_dim": 8, "out_dim": 16, "depth": 2})
    assert read_encoder_config(tmp_path / "enc")["modality"] == "timeseries"
    loaded = load_encoder(tmp_path / "enc")
    assert modality_of(loaded) == "timeseries"
    x, _ = series(6)
    torch.testing.assert_close(contrastlearn.embed(loaded, x), contrastlearn.embed(encoder, x))


class Plain(nn.Module):
    out_dim = 4

    def forward(self, x):
        return x.flatten(1)[:, :4]


def test_a_module_that_records_no_modality_must_be_told():
    x, y = series()
    with pytest.raises(DataError, match=r"cannot tell which kind of data Plain reads: pass "
                                        r"modality=\.\.\. \(one of audio, graph, image, "
                                        r"multimodal, recsys, tabular, text, timeseries"):
        contrastlearn.evaluate(Plain(), (x, y))
    results = contrastlearn.evaluate(Plain(), (x, y), modality="timeseries", protocols=["knn"],
                                     labels_per_class=[])
    assert results[0].protocol == "knn"
    with pytest.raises(DataError, match="unknown modality 'video'"):
        contrastlearn.embed(Plain(), x, modality="video")
