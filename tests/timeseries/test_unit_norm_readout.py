"""A unit-norm readout: TS2Vec's pooled embedding divided by its Euclidean norm."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.methods.ts2vec import TS2Vec
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder


def _pair(**kwargs) -> tuple[TS2VecEncoder, TS2VecEncoder]:
    torch.manual_seed(0)
    plain = TS2VecEncoder(in_channels=2, hidden_dim=8, out_dim=16, depth=3, **kwargs).eval()
    unit = TS2VecEncoder(in_channels=2, hidden_dim=8, out_dim=16, depth=3, unit_norm=True,
                         **kwargs).eval()
    unit.load_state_dict(plain.state_dict())  # the readout adds no parameters
    return plain, unit


@pytest.mark.parametrize("kwargs", [{}, {"pyramid": [1, 2]}, {"readout_layers": [1]}])
def test_embedding_is_the_plain_embedding_over_its_norm(kwargs):
    plain, unit = _pair(**kwargs)
    x = torch.randn(5, 2, 20)
    x[2, :, 11:] = float("nan")  # padding
    expected = plain(x)
    expected = expected / expected.pow(2).sum(dim=1, keepdim=True).sqrt()
    embedding = unit(x)
    assert embedding.shape == (5, plain.out_dim) and unit.out_dim == plain.out_dim
    torch.testing.assert_close(embedding, expected)
    torch.testing.assert_close(embedding.norm(dim=1), torch.ones(5))


def test_per_timestamp_features_and_the_ts2vec_loss_are_unchanged():
    plain, unit = _pair()
    x = torch.randn(6, 2, 24)
    torch.testing.assert_close(unit.timestamps(x)[0], plain.timestamps(x)[0], rtol=0, atol=0)
    torch.manual_seed(1)  # the same dropout draws for both
    first = TS2Vec(plain.train(), seed=3)([x], ids=torch.arange(6)).loss
    torch.manual_seed(1)
    second = TS2Vec(unit.train(), seed=3)([x], ids=torch.arange(6)).loss
    assert torch.isfinite(first)
    torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_an_all_zero_embedding_stays_finite():
    _, unit = _pair()
    with torch.no_grad():
        for parameter in unit.parameters():
            parameter.zero_()
    embedding = unit(torch.randn(2, 2, 10))
    assert torch.isfinite(embedding).all() and (embedding == 0).all()


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_a_non_boolean_unit_norm_is_refused(bad):
    with pytest.raises(ValueError, match="unit_norm"):
        TS2VecEncoder(unit_norm=bad)
