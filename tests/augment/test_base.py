"""Properties of the modality-agnostic combinators: Identity, Compose, RandomApply, OneOf,
Views. Uses tiny vector batches (B, D) and toy augmentations, so nothing here depends on a
modality."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from contrastlearn.augment.base import (
    Augmentation,
    Compose,
    Identity,
    OneOf,
    RandomApply,
    bernoulli_mask,
    uniform,
)
from contrastlearn.augment.views import ViewPipeline, Views


class AddConstant(Augmentation):
    """Deterministic: x + value."""

    def __init__(self, value: float) -> None:
        self.value = value

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return x + self.value


class Scale(Augmentation):
    """Deterministic: x * factor."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return x * self.factor


class AddNoise(Augmentation):
    """Random, per-sample: x + U(0, 1) noise drawn from the generator."""

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return x + torch.rand(x.shape, generator=generator, device=x.device)


class KeepFirst(Augmentation):
    """Changes the shape: keeps the first `width` features (a stand-in for a smaller crop)."""

    def __init__(self, width: int) -> None:
        self.width = width

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return x[:, : self.width]


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def batch() -> Tensor:
    return torch.arange(64 * 5, dtype=torch.float32).reshape(64, 5) / 100


# --------------------------------------------------------------------------- helpers


def test_uniform_range_and_shape():
    values = uniform(seeded(), (100, 3), -2.0, 3.0, "cpu")
    assert values.shape == (100, 3)
    assert values.min() >= -2.0 and values.max() < 3.0
    assert uniform(seeded(), 7, 0.0, 1.0, "cpu").shape == (7,)


def test_bernoulli_mask_extremes():
    assert not bernoulli_mask(seeded(), 50, 0.0, "cpu").any()
    assert bernoulli_mask(seeded(), 50, 1.0, "cpu").all()


# --------------------------------------------------------------------------- Identity


def test_identity_returns_the_batch(batch):
    assert torch.equal(Identity()(batch, seeded()), batch)


def test_empty_batch_is_passed_through():
    empty = torch.zeros(0, 5)
    for augmentation in (Identity(), AddNoise(), RandomApply(AddNoise(), 0.5)):
        assert augmentation(empty, seeded()).shape == (0, 5)


# --------------------------------------------------------------------------- Compose


def test_compose_applies_in_order(batch):
    assert torch.allclose(Compose([Scale(2.0), AddConstant(1.0)])(batch, seeded()), batch * 2 + 1)
    assert torch.allclose(
        Compose([AddConstant(1.0), Scale(2.0)])(batch, seeded()), (batch + 1) * 2
    )


def test_empty_compose_is_identity(batch):
    assert torch.equal(Compose([])(batch, seeded()), batch)


def test_compose_is_deterministic_and_uses_the_generator(batch):
    pipeline = Compose([AddNoise(), Scale(0.5), AddNoise()])
    first = pipeline(batch, seeded(1))
    assert torch.equal(first, pipeline(batch, seeded(1)))
    assert not torch.equal(first, pipeline(batch, seeded(2)))


# --------------------------------------------------------------------------- RandomApply


def test_random_apply_p0_is_identity(batch):
    assert torch.equal(RandomApply(AddConstant(1.0), p=0.0)(batch, seeded()), batch)


def test_random_apply_p1_always_applies(batch):
    assert torch.equal(RandomApply(AddConstant(1.0), p=1.0)(batch, seeded()), batch + 1)


def test_random_apply_mixes_per_sample(batch):
    out = RandomApply(AddConstant(1.0), p=0.5)(batch, seeded(3))
    changed = torch.isclose(out, batch + 1).all(dim=1)
    unchanged = torch.equal(out[~changed], batch[~changed])
    assert unchanged
    assert 0 < int(changed.sum()) < batch.shape[0]


def test_random_apply_rate_follows_p():
    x = torch.zeros(2000, 1)
    out = RandomApply(AddConstant(1.0), p=0.3)(x, seeded(4))
    assert abs(out.mean().item() - 0.3) < 0.05


def test_random_apply_is_deterministic(batch):
    augmentation = RandomApply(AddNoise(), p=0.5)
    assert torch.equal(augmentation(batch, seeded(5)), augmentation(batch, seeded(5)))
    assert not torch.equal(augmentation(batch, seeded(5)), augmentation(batch, seeded(6)))


def test_random_apply_keeps_input_untouched(batch):
    before = batch.clone()
    RandomApply(AddConstant(1.0), p=0.5)(batch, seeded())
    assert torch.equal(batch, before)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_random_apply_rejects_bad_p(p):
    with pytest.raises(ValueError, match="p must be in"):
        RandomApply(Identity(), p=p)


class DropLastColumn(Augmentation):
    """Changes the sample shape, as token deletion does."""

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return x[..., :-1]


def test_partial_application_needs_a_shape_keeping_augmentation():
    x = torch.arange(24.0).reshape(8, 3)
    generator = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="must keep the sample shape"):
        RandomApply(DropLastColumn(), p=0.5)(x, generator)
    with pytest.raises(ValueError, match="must keep the sample shape"):
        OneOf([Identity(), DropLastColumn()])(x, generator)
    assert RandomApply(DropLastColumn(), p=1.0)(x, generator).shape == (8, 2)  # all rows: fine


# --------------------------------------------------------------------------- OneOf


def test_one_of_applies_exactly_one_per_sample(batch):
    out = OneOf([AddConstant(1.0), AddConstant(10.0)])(batch, seeded(7))
    first = torch.isclose(out, batch + 1).all(dim=1)
    second = torch.isclose(out, batch + 10).all(dim=1)
    assert bool((first ^ second).all())
    assert first.any() and second.any()


def test_one_of_respects_weights(batch):
    out = OneOf([AddConstant(1.0), AddConstant(10.0)], weights=[1.0, 0.0])(batch, seeded())
    assert torch.allclose(out, batch + 1)


def test_one_of_is_deterministic(batch):
    augmentation = OneOf([AddConstant(1.0), AddNoise()])
    assert torch.equal(augmentation(batch, seeded(8)), augmentation(batch, seeded(8)))


def test_one_of_rejects_bad_settings():
    with pytest.raises(ValueError, match="at least one"):
        OneOf([])
    with pytest.raises(ValueError, match="one weight per augmentation"):
        OneOf([Identity(), Identity()], weights=[1.0])


# --------------------------------------------------------------------------- Views


def test_views_count_and_shapes(batch):
    views = Views([AddNoise(), ViewPipeline(AddNoise(), count=3)])
    assert views.num_views == 4
    out = views(batch, seeded())
    assert len(out) == 4
    assert all(view.shape == batch.shape for view in out)


def test_views_of_one_pipeline_differ(batch):
    first, second = Views([ViewPipeline(AddNoise(), count=2)])(batch, seeded())
    assert not torch.equal(first, second)


def test_multi_crop_shapes(batch):
    views = Views([
        ViewPipeline(Compose([AddNoise(), KeepFirst(4)]), count=2),
        ViewPipeline(Compose([AddNoise(), KeepFirst(2)]), count=6),
    ])
    shapes = [tuple(view.shape) for view in views(batch, seeded())]
    assert shapes == [(64, 4)] * 2 + [(64, 2)] * 6


def test_views_are_deterministic(batch):
    views = Views([ViewPipeline(AddNoise(), count=2)])
    first = views(batch, seeded(9))
    second = views(batch, seeded(9))
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_views_reject_empty_or_zero_count():
    with pytest.raises(ValueError, match="at least one pipeline"):
        Views([])
    with pytest.raises(ValueError, match="count >= 1"):
        Views([ViewPipeline(Identity(), count=0)])


def test_reprs_name_the_parts():
    text = repr(Views([ViewPipeline(RandomApply(Scale(2.0), p=0.5), count=2)]))
    assert "2x" in text and "RandomApply" in text and "Scale" in text
