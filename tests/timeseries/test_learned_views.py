"""Learned views: AutoTCL's parametric augmentation, the wrapper that trains any method on it,
the generator's own lr scale, and TS2Vec cropping across two views."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import contrastlearn
from contrastlearn.core.registry import VIEW_GENERATORS
from contrastlearn.engine.optim import build_optimizer
from contrastlearn.methods.learned_views import LearnedViews, frozen
from contrastlearn.methods.simclr import SimCLR
from contrastlearn.modalities.timeseries.augment import overlapping_crops
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder
from contrastlearn.modalities.timeseries.learned_augmentation import (
    ParametricAugmentation,
    gaussian_mmd,
)
from contrastlearn.modalities.timeseries.methods.ts2vec import TS2Vec
from tests.learning import assert_learned, untrained_score


def _padded_batch(channels: int = 2) -> torch.Tensor:
    x = torch.randn(6, channels, 30, generator=torch.Generator().manual_seed(1))
    x[1, :, 22:] = float("nan")
    x[4, :, 9:] = float("nan")
    return x


def _small_generator(channels: int = 2) -> ParametricAugmentation:
    torch.manual_seed(0)
    return ParametricAugmentation(channels, hidden_dim=8, feature_dim=4, depth=1)


def test_naive_mmd_reference():
    a = torch.randn(3, 2, generator=torch.Generator().manual_seed(2)).double()
    b = torch.randn(4, 2, generator=torch.Generator().manual_seed(3)).double()
    points = list(a) + list(b)
    pairs = [(p, q) for p in points for q in points]
    squared = [float(((p - q) ** 2).sum()) for p, q in pairs]
    bandwidth = sum(squared) / (len(points) ** 2 - len(points))

    def k(p, q):
        d = float(((p - q) ** 2).sum())
        return sum(math.exp(-d / (bandwidth * 2.0 ** (i - 2))) for i in range(5))

    def mean_kernel(xs, ys):
        return sum(k(p, q) for p, q in itertools.product(xs, ys)) / (len(xs) * len(ys))

    reference = mean_kernel(a, a) + mean_kernel(b, b) - 2 * mean_kernel(a, b)
    assert float(gaussian_mmd(a, b)) == pytest.approx(reference, rel=1e-9)
    assert float(gaussian_mmd(a, a)) == pytest.approx(0.0, abs=1e-12)


def test_views_keep_shape_dtype_padding_and_are_seeded():
    generator, x = _small_generator(), _padded_batch()
    view, made = generator(x, torch.Generator().manual_seed(5))
    again, _ = generator(x, torch.Generator().manual_seed(5))
    other, _ = generator(x, torch.Generator().manual_seed(6))
    assert view.shape == x.shape and view.dtype == x.dtype
    assert torch.equal(torch.isnan(view), torch.isnan(x))
    assert torch.equal(view.nan_to_num(), again.nan_to_num())
    assert not torch.equal(view.nan_to_num(), other.nan_to_num())
    assert set(made["mask"].unique().tolist()) <= {0.0, 1.0}
    # the view is x scaled per timestamp by g in (0, 1) where the mask keeps it, zero elsewhere
    ratio = (view / x)[torch.isfinite(x) & (x.abs() > 1e-3)]
    assert bool(((ratio >= 0) & (ratio < 1)).all())


def test_generator_loss_trains_only_the_generator():
    generator, x = _small_generator(), _padded_batch()
    encoder = TS2VecEncoder(2, hidden_dim=8, out_dim=8, depth=1)
    view, made = generator(x, torch.Generator().manual_seed(0))
    with frozen(encoder) as encode:
        output = generator.loss(encode, x, view, made)
    output.loss.backward()
    assert all(p.grad is None for p in encoder.parameters())
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in generator.parameters())
    assert encoder.training  # mode restored
    assert {"mmd", "informative", "kept_fraction", "smoothness"} <= set(output.metrics)


def test_wrapper_adds_the_learned_view_and_sums_losses():
    encoder = TS2VecEncoder(2, hidden_dim=8, out_dim=8, depth=1)
    torch.manual_seed(0)
    method = LearnedViews(TS2Vec(encoder, seed=0), _small_generator(), seed=0)
    x = _padded_batch()
    output = method([x], labels=None, ids=torch.arange(6))
    assert "aug_mmd" in output.metrics and "instance_loss" in output.metrics
    inner = float(output.loss.detach()) - float(output.metrics["aug_loss"])
    assert math.isfinite(inner) and inner > 0
    output.loss.backward()
    assert all(p.grad is not None for p in method.generator.parameters())
    assert method.encoder is encoder


def test_wrapper_works_with_an_instance_method_and_replaces_the_last_view():
    seen = []

    class Recording(SimCLR):
        def training_step(self, views, *, labels, ids):
            seen.append([v.clone() for v in views])
            return super().training_step(views, labels=labels, ids=ids)

    encoder = TS2VecEncoder(2, hidden_dim=8, out_dim=8, depth=1)
    method = LearnedViews(Recording(encoder, hidden_dim=16, projection_dim=8), _small_generator(),
                          seed=0)
    first, second = _padded_batch(), _padded_batch() * 2
    method([first, second], labels=None, ids=torch.arange(6))
    assert len(seen[0]) == 2 and torch.equal(seen[0][0].nan_to_num(), first.nan_to_num())
    assert not torch.equal(seen[0][1].nan_to_num(), second.nan_to_num())


def test_generator_state_resumes_exactly():
    encoder = TS2VecEncoder(2, hidden_dim=8, out_dim=8, depth=1)
    method = LearnedViews(TS2Vec(encoder, seed=0), _small_generator(), seed=3)
    x = _padded_batch()
    state = {k: v.clone() for k, v in method.state_dict().items()}
    method.eval()
    first = method([x], labels=None, ids=torch.arange(6)).metrics["aug_kept_fraction"]
    method.load_state_dict(state)
    again = method([x], labels=None, ids=torch.arange(6)).metrics["aug_kept_fraction"]
    assert float(first) == float(again)


def test_generator_without_loss_is_rejected():
    encoder = TS2VecEncoder(1, hidden_dim=8, out_dim=8, depth=1)
    with pytest.raises(TypeError, match="loss"):
        LearnedViews(TS2Vec(encoder), torch.nn.Identity())


def test_lr_scale_makes_its_own_parameter_groups():
    encoder = TS2VecEncoder(1, hidden_dim=8, out_dim=8, depth=1)
    method = LearnedViews(TS2Vec(encoder), _small_generator(1))
    optimizer = build_optimizer(method, "adamw", 1e-3, 0.01)
    scales = {}
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            scales[id(parameter)] = (group["lr_scale"], group["weight_decay"])
    assert {scales[id(p)][0] for p in method.generator.parameters()} == {10.0}
    assert {scales[id(p)][0] for p in encoder.parameters()} == {1.0}
    assert scales[id(encoder.input_projection.bias)] == (1.0, 0.0)
    assert len(scales) == len(list(method.parameters()))


def test_ts2vec_crops_across_two_views():
    x = torch.arange(40.0).reshape(2, 1, 20)
    other = -x
    first, second, overlap = overlapping_crops(x, torch.Generator().manual_seed(0), 2, other)
    shared_first, shared_second = first[..., -overlap:], second[..., :overlap]
    assert torch.equal(torch.isnan(shared_first), torch.isnan(shared_second))
    finite = torch.isfinite(shared_first)
    assert torch.equal(shared_first[finite], -shared_second[finite])
    with pytest.raises(ValueError, match="shape"):
        overlapping_crops(x, torch.Generator(), 2, other[:1])


@pytest.mark.slow  # a full recipe run
def test_registered_and_learns_end_to_end(tmp_path, noisy_waves_file):
    assert "autotcl" in VIEW_GENERATORS
    path = str(noisy_waves_file)
    overrides = {"train.steps": 60, "encoder.kwargs.depth": 2, "encoder.kwargs.out_dim": 32,
                 "eval.protocols": ["svm"], "eval.raw_baseline": False}
    run = contrastlearn.pretrain("ts-learned-aug", dataset=path, out=tmp_path / "run",
                                 progress=False, overrides=overrides)
    assert run.results[0].protocol == "svm"
    assert_learned(run.results[0].value,
                   untrained_score("ts-learned-aug", "svm", path, overrides))
    logged = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert "aug_mmd" in logged
    loaded = contrastlearn.load_encoder(tmp_path / "run" / "encoder")
    assert isinstance(loaded, TS2VecEncoder)
