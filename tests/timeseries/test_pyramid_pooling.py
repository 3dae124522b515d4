"""Pyramid pooling of per-timestamp features: the whole series' max, then each part's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import contrastlearn
from contrastlearn.modalities.timeseries.encoders import (
    TS2VecEncoder,
    max_over_valid,
    pyramid_max_over_valid,
)
from contrastlearn.modalities.timeseries.methods.ts_tcc import TSTCC


def test_pyramid_matches_hand_computed_maxima():
    # one channel, 5 valid steps then padding: halves by count are steps 0-1 and 2-4
    features = torch.tensor([[1.0, 4.0, 2.0, 0.0, 3.0, 9.0]])[:, :, None]
    valid = torch.tensor([[True, True, True, True, True, False]])
    pooled = pyramid_max_over_valid(features, valid, (1, 2, 3))
    # thirds by count: steps 0-1, 2-3, 4
    assert pooled.tolist() == [[4.0, 4.0, 3.0, 4.0, 2.0, 3.0]]


def test_level_one_is_the_plain_max_and_padding_never_counts():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(4, 12, 3, generator=generator)
    valid = torch.ones(4, 12, dtype=torch.bool)
    valid[1, 7:] = False
    torch.testing.assert_close(pyramid_max_over_valid(features, valid, (1,)),
                               max_over_valid(features, valid))
    padded_alone = pyramid_max_over_valid(features[1:2, :7], valid[1:2, :7], (1, 2, 4))
    poisoned = features.clone()
    poisoned[1, 7:] = 1e6
    torch.testing.assert_close(pyramid_max_over_valid(poisoned, valid, (1, 2, 4))[1:2],
                               padded_alone)


def test_parts_are_counted_over_valid_timestamps_around_a_gap():
    # valid steps 0, 2, 3, 4 (step 1 is invalid): halves by count are {0, 2} and {3, 4}
    features = torch.tensor([[1.0, 9.0, 2.0, 3.0, 4.0]])[:, :, None]
    valid = torch.tensor([[True, False, True, True, True]])
    assert pyramid_max_over_valid(features, valid, (2,)).tolist() == [[2.0, 4.0]]


def test_parts_without_timestamps_pool_to_zero():
    features = torch.tensor([[[5.0], [7.0]]])
    valid = torch.tensor([[True, False]])
    assert pyramid_max_over_valid(features, valid, (2,)).tolist() == [[5.0, 0.0]]


def test_encoder_embedding_width_and_bad_levels():
    encoder = TS2VecEncoder(in_channels=2, hidden_dim=8, out_dim=16, depth=2,
                            pyramid=[1, 2]).eval()
    assert (encoder.out_dim, encoder.feature_dim) == (48, 16)
    x = torch.randn(3, 2, 30)
    features, valid = encoder.timestamps(x)
    assert features.shape == (3, 30, 16)
    torch.testing.assert_close(encoder(x), pyramid_max_over_valid(features, valid, (1, 2)))
    torch.testing.assert_close(encoder(x)[:, :16], max_over_valid(features, valid))
    assert TS2VecEncoder(depth=1, pyramid=np.array([1, 3])).pyramid == (1, 3)
    for bad in ([], [0], [1.5], [True]):
        with pytest.raises(ValueError, match="pyramid"):
            TS2VecEncoder(pyramid=bad)


def test_ts_tcc_sizes_its_heads_by_the_timestamp_width():
    encoder = TS2VecEncoder(hidden_dim=8, out_dim=16, depth=2, pyramid=[1, 2])
    method = TSTCC(encoder, hidden_dim=12, context_layers=1, context_heads=2,
                   feedforward_dim=8, timesteps=2)
    assert method.projector(torch.randn(2, 12)).shape == (2, 4)  # 16 // 4, not 48 // 4
    x = torch.randn(4, 1, 24)
    output = method([x * 1.1, x.flip(-1)], ids=torch.arange(4))
    assert torch.isfinite(output.loss)


@pytest.mark.slow  # a full recipe run
def test_pyramid_recipe_trains_the_ts2vec_weights_and_exports_its_readout(tmp_path,
                                                                          waves_file):
    overrides = {"train.steps": 6, "encoder.kwargs.depth": 2, "encoder.kwargs.out_dim": 16,
                 "encoder.kwargs.hidden_dim": 8, "eval.protocols": ["svm"],
                 "eval.raw_baseline": False}
    plain = contrastlearn.pretrain("ts2vec", dataset=str(waves_file), out=tmp_path / "plain",
                                   overrides=overrides, progress=False)
    pyramid = contrastlearn.pretrain("ts2vec-pyramid", dataset=str(waves_file),
                                     out=tmp_path / "pyramid", overrides=overrides,
                                     progress=False)
    plain_state, pyramid_state = plain.encoder.state_dict(), pyramid.encoder.state_dict()
    assert plain_state.keys() == pyramid_state.keys()
    for name, tensor in plain_state.items():
        torch.testing.assert_close(pyramid_state[name], tensor, rtol=0, atol=0)

    x_test = np.load(waves_file)["x_test"]
    reloaded = contrastlearn.embed(pyramid.run_dir, x_test)
    assert reloaded.shape == (20, 48)
    torch.testing.assert_close(reloaded[:, :16], contrastlearn.embed(plain.run_dir, x_test))
    assert pyramid.result("svm").settings["representation"] == "encoder"
