"""VIME: the reconstruction loss against an independent float64 loop (value and gradient), the
mask read back from the views, and the method's contract."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlearn.core.registry import METHODS
from contrastlearn.modalities.tabular.augment import VimeMask, changed_features
from contrastlearn.modalities.tabular.encoders import TabularMLP
from contrastlearn.modalities.tabular.methods.vime import reconstruction_loss
from contrastlearn.modalities.tabular.schema import TableLayout

pytestmark = pytest.mark.usefixtures("one_thread")

LAYOUT = TableLayout(2, 1, (3, 2))


def reference_reconstruction(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Row by row, feature by feature: squared errors of the 3 continuous columns, and for
    each categorical block the negative log softmax of the target level (none when the block
    is all zero), summed, divided by the 5 features, averaged over rows."""
    total = predicted.new_zeros(())
    for row in range(len(predicted)):
        row_total = predicted.new_zeros(())
        for column in range(3):
            row_total = row_total + (predicted[row, column] - target[row, column]) ** 2
        start = 3
        for size in (3, 2):
            block = target[row, start:start + size]
            if float(block.sum()) > 0:
                level = int(block.argmax())
                logits = predicted[row, start:start + size]
                log_norm = torch.log(sum(torch.exp(logits[k]) for k in range(size)))
                row_total = row_total + log_norm - logits[level]
            start += size
        total = total + row_total / 5
    return total / len(predicted)


def test_reconstruction_loss_matches_the_reference_in_value_and_gradient():
    generator = torch.Generator().manual_seed(0)
    target = torch.cat([torch.randn(4, 3, generator=generator),
                        torch.tensor([[1., 0, 0, 0, 1], [0, 0, 1, 1, 0], [0, 1, 0, 0, 0],
                                      [0, 0, 0, 0, 1]])], dim=1)  # row 2, 3: unseen blocks
    predicted = torch.randn(4, 8, generator=generator, dtype=torch.float64, requires_grad=True)
    loss = reconstruction_loss(predicted, target.double(), LAYOUT)
    expected = reference_reconstruction(predicted, target.double())
    assert math.isclose(float(loss.detach()), float(expected.detach()), rel_tol=1e-10)
    gradient, = torch.autograd.grad(loss, predicted)
    reference_gradient, = torch.autograd.grad(reference_reconstruction(predicted, target.double()),
                                              predicted)
    torch.testing.assert_close(gradient, reference_gradient)


def table_rows(batch: int = 32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    blocks = [torch.nn.functional.one_hot(torch.randint(size, (batch,), generator=generator),
                                          size).float() for size in (3, 2)]
    indicator = (torch.rand(batch, 1, generator=generator) < 0.3).float()
    return torch.cat([torch.randn(batch, 2, generator=generator), indicator, *blocks], dim=1)


def test_vime_trains_on_a_row_and_its_corrupted_copy():
    encoder = TabularMLP(num_continuous=3, cardinalities=[3, 2], hidden_dims=[16], out_dim=8)
    method = METHODS.build("vime", encoder=encoder, alpha=2.0)
    x = table_rows()
    corrupted, mask = VimeMask(0.5, layout=encoder.layout).corrupt(
        x, torch.Generator().manual_seed(0))
    assert bool((changed_features(x, corrupted, encoder.layout) <= mask).all())
    output = method([x, corrupted])
    output.loss.backward()
    assert set(output.metrics) == {"mask_loss", "reconstruction", "mask_accuracy", "mask_rate"}
    assert 0.2 < float(output.metrics["mask_rate"]) < 0.5
    assert encoder.mlp[0].weight.grad is not None
    assert method.default_views == "vime_views"


class _Plain(torch.nn.Module):
    """An encoder that does not say which table columns it reads."""

    out_dim = 4

    def forward(self, x):
        return x


def test_vime_refuses_encoders_without_a_layout_and_a_single_view():
    with pytest.raises(TypeError, match="tabular_mlp or ft_transformer"):
        METHODS.build("vime", encoder=_Plain())
    encoder = TabularMLP(num_continuous=3, cardinalities=[3, 2], hidden_dims=[16], out_dim=8)
    with pytest.raises(ValueError, match="vime_views"):
        METHODS.build("vime", encoder=encoder)([table_rows()])
