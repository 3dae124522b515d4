"""FastDropout: the drop rate, the scaling, determinism under a seed, identity in eval."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.modalities.recsys.fast_dropout import FastDropout, dropout_mask


@pytest.mark.parametrize("rate", [0.1, 0.2, 0.5, 0.9])
def test_the_kept_share_is_one_minus_the_rate(rate):
    torch.manual_seed(0)
    kept = dropout_mask(torch.Size([400, 500]), rate, torch.device("cpu")).double().mean()
    assert abs(float(kept) - (1 - rate)) < 0.005


def test_scaling_determinism_identity_and_bad_rate():
    x = torch.ones(64, 33)
    layer = FastDropout(0.25)
    torch.manual_seed(3)
    first = layer(x)
    torch.manual_seed(3)
    assert torch.equal(first, layer(x))
    assert set(first.unique().tolist()) <= {0.0, torch.tensor(1 / 0.75).item()}
    assert first.shape == x.shape and first.dtype == x.dtype
    layer.eval()
    assert torch.equal(layer(x), x)
    assert torch.equal(FastDropout(0.0)(x), x)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        FastDropout(1.0)
