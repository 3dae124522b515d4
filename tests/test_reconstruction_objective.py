"""Masked reconstruction error against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.objectives.reconstruction import masked_mse


def test_hand_computed_error_over_the_chosen_timestamps_only():
    predicted = torch.tensor([[[1.0, 2.0], [0.0, 0.0], [3.0, -1.0]]], requires_grad=True)
    target = torch.tensor([[[0.0, 2.0], [float("nan"), 5.0], [1.0, 1.0]]])
    where = torch.tensor([[True, False, True]])
    error = masked_mse(predicted, target, where)
    # chosen squared errors: (1, 0) at step 0 and (4, 4) at step 2, over 4 values
    assert error.item() == pytest.approx(9 / 4)
    error.backward()
    assert predicted.grad[0, 1].tolist() == [0.0, 0.0]  # NaN target never reaches a gradient
    assert predicted.grad[0, 0].tolist() == pytest.approx([2 * 1 / 4, 0.0])


def test_no_chosen_timestamp_gives_zero_and_bad_shapes_are_refused():
    x = torch.randn(2, 3, 1)
    assert masked_mse(x, x + 1, torch.zeros(2, 3, dtype=torch.bool)).item() == 0.0
    with pytest.raises(ValueError, match="masked_mse"):
        masked_mse(x, torch.randn(2, 3, 2), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="masked_mse"):
        masked_mse(x, x, torch.ones(3, 2, dtype=torch.bool))
