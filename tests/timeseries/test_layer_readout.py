"""A multi-layer readout: hidden blocks' outputs pooled alongside TS2Vec's final features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder, max_over_valid
from contrastlearn.modalities.timeseries.methods.ts2vec import TS2Vec


def _pair(**kwargs) -> tuple[TS2VecEncoder, TS2VecEncoder]:
    torch.manual_seed(0)
    plain = TS2VecEncoder(in_channels=2, hidden_dim=8, out_dim=16, depth=3).eval()
    tapped = TS2VecEncoder(in_channels=2, hidden_dim=8, out_dim=16, depth=3, **kwargs).eval()
    tapped.load_state_dict(plain.state_dict())  # the readout adds no parameters
    return plain, tapped


def test_embedding_is_the_final_max_then_each_tapped_block_max():
    plain, tapped = _pair(readout_layers=[2, 0])
    assert tapped.readout_layers == (0, 2)
    assert (tapped.out_dim, tapped.feature_dim) == (16 + 2 * 8, 16)
    outputs = {}
    for index in (0, 2):
        tapped.blocks[index].register_forward_hook(
            lambda module, inputs, output, index=index: outputs.__setitem__(index, output))
    x = torch.randn(4, 2, 20)
    x[1, :, 13:] = float("nan")  # padding: its block outputs must not win the max
    embedding = tapped(x)
    valid = torch.isfinite(x).all(dim=1)
    expected = [plain(x)] + [max_over_valid(outputs[i].transpose(1, 2), valid) for i in (0, 2)]
    torch.testing.assert_close(embedding, torch.cat(expected, dim=-1))


def test_timestamps_without_layers_are_unchanged_and_with_layers_are_wider():
    plain, tapped = _pair(readout_layers=[1])
    x = torch.randn(3, 2, 15)
    features, valid = tapped.timestamps(x)
    torch.testing.assert_close(features, plain.timestamps(x)[0])
    wide, _ = tapped.timestamps(x, layers=[1, 2])
    assert wide.shape == (3, 15, 16 + 2 * 8)
    torch.testing.assert_close(wide[..., :16], features)


def test_ts2vec_training_loss_ignores_the_readout():
    plain, tapped = _pair(readout_layers=[0, 1, 2])
    x = torch.randn(6, 2, 24)
    torch.manual_seed(1)  # the same dropout draws for both
    first = TS2Vec(plain.train(), seed=3)([x], ids=torch.arange(6)).loss
    torch.manual_seed(1)
    second = TS2Vec(tapped.train(), seed=3)([x], ids=torch.arange(6)).loss
    assert torch.isfinite(first)
    torch.testing.assert_close(first, second, rtol=0, atol=0)


@pytest.mark.parametrize("bad", [[3], [-1], [0, 0], [True], [1.0]])
def test_bad_readout_layers_are_refused(bad):
    with pytest.raises(ValueError, match="readout_layers"):
        TS2VecEncoder(depth=3, readout_layers=bad)
    with pytest.raises(ValueError, match="readout_layers"):
        TS2VecEncoder(depth=3).timestamps(torch.randn(1, 1, 8), layers=bad)


def test_numpy_layer_indices_are_accepted():
    assert TS2VecEncoder(depth=3, readout_layers=np.array([2, 1])).readout_layers == (1, 2)
