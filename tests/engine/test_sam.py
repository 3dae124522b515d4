"""Sharpness-aware minimisation (Foret et al., 2021, arXiv 2010.01412) as a wrapper of any
optimizer: the gradient at w + rho g/||g||, the weights put back bit for bit, BatchNorm
statistics counted once, exact resume, and a clear refusal of options that split a batch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from contrastlearn.api import pretrain
from contrastlearn.config import recipe_from_dict
from contrastlearn.engine.sam import sharpness_aware_gradients
from tests.conftest import tiny_recipe_dict


def test_gradient_is_taken_at_the_sharpness_aware_point():
    """f(w) = 0.5 w^T A w: g = A w, e = rho g / ||g||, and SAM's gradient is A (w + e)."""
    matrix = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    module = nn.Module()
    module.weight = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    before = module.weight.detach().clone()

    def backward() -> None:
        (0.5 * module.weight @ matrix @ module.weight).backward()

    backward()
    gradient = matrix @ before
    rho = 0.3
    expected = matrix @ (before + rho * gradient / gradient.norm())
    sharpness_aware_gradients(module, rho, backward)
    torch.testing.assert_close(module.weight.grad, expected)
    assert torch.equal(module.weight.detach(), before)  # the weights come back exactly


def test_batchnorm_statistics_count_the_batch_once():
    layer = nn.BatchNorm1d(3)
    inputs = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    layer(inputs).pow(2).sum().backward()
    running_mean, count = layer.running_mean.clone(), int(layer.num_batches_tracked)
    sharpness_aware_gradients(layer, 0.05, lambda: layer(inputs).pow(2).sum().backward())
    assert torch.equal(layer.running_mean, running_mean)
    assert int(layer.num_batches_tracked) == count
    assert layer.momentum == 0.1


@pytest.mark.slow  # three runs
def test_a_sam_run_resumes_exactly_and_differs_from_plain_training(tmp_path):
    recipe = recipe_from_dict(tiny_recipe_dict())
    settings = {"train.sam_rho": 0.05, "train.max_steps": 6, "train.checkpoint_every_steps": 3}
    whole = pretrain(recipe, out=tmp_path / "whole", progress=False, evaluate_after=False,
                     overrides=settings)
    pretrain(recipe, out=tmp_path / "part", progress=False, evaluate_after=False,
             overrides={**settings, "train.max_steps": 3})
    resumed = pretrain(out=tmp_path / "part", resume=True, progress=False,
                       evaluate_after=False, overrides={"train.max_steps": 6})
    plain = pretrain(recipe, out=tmp_path / "plain", progress=False, evaluate_after=False,
                     overrides={"train.max_steps": 6})
    whole_state, resumed_state = whole.encoder.state_dict(), resumed.encoder.state_dict()
    assert all(torch.equal(whole_state[key], resumed_state[key]) for key in whole_state)
    assert any(not torch.equal(whole_state[key], value)
               for key, value in plain.encoder.state_dict().items())


@pytest.mark.parametrize("option", [{"train.accumulate_batches": 2},
                                    {"train.gradient_cache_chunk": 8}])
def test_options_that_split_a_batch_are_refused_with_both_names(tmp_path, option):
    recipe = recipe_from_dict(tiny_recipe_dict())
    with pytest.raises(ValueError, match=f"sam_rho.*{next(iter(option))}"):
        pretrain(recipe, out=tmp_path / "run", progress=False, evaluate_after=False,
                 overrides={"train.sam_rho": 0.05, "train.max_steps": 1, **option})
