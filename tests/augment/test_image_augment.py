"""Properties of every batched image augmentation, and of the SimCLR/BYOL/SwAV view presets.

Batches are tiny (16 x C x 12 x 16, deliberately not square) so the whole file runs in a few
seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor

from contrastlearn.augment.base import Augmentation, Compose, RandomApply
from contrastlearn.augment.views import Views
from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.image.augment import (
    ColorJitter,
    FusedGeometric,
    GaussianBlur,
    Grayscale,
    Normalize,
    RandomErasing,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
    Solarize,
    compose,
)
from contrastlearn.modalities.image.presets import (
    blur_kernel_size,
    byol_views,
    image_views,
    simclr_views,
    swav_views,
)

HEIGHT, WIDTH = 12, 16
BATCH = 16

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@dataclass(frozen=True)
class Case:
    """One image op under test."""

    name: str
    make: Callable[[], Augmentation]
    make_zero: Callable[[], Augmentation] | None  # strength 0: must be the identity
    random: bool = True  # draws per-sample parameters
    random_on_gray: bool = True  # still random when C == 1
    in_unit_range: bool = True  # keeps values in [0, 1]

    def __str__(self) -> str:
        return self.name


CASES = [
    Case("random_resized_crop", lambda: RandomResizedCrop((HEIGHT, WIDTH)),
         lambda: RandomResizedCrop((HEIGHT, WIDTH), scale=(1.0, 1.0))),
    Case("random_horizontal_flip", lambda: RandomHorizontalFlip(0.5),
         lambda: RandomHorizontalFlip(0.0)),
    Case("random_rotation", lambda: RandomRotation(45), lambda: RandomRotation(0)),
    Case("fused_crop_flip_rotation",
         lambda: compose([RandomResizedCrop((HEIGHT, WIDTH)), RandomHorizontalFlip(),
                          RandomRotation(20)]),
         lambda: compose([RandomResizedCrop((HEIGHT, WIDTH), scale=(1, 1)),
                          RandomHorizontalFlip(0.0), RandomRotation(0)])),
    Case("color_jitter", lambda: ColorJitter(0.8, 0.8, 0.8, 0.2),
         lambda: ColorJitter(0.0, 0.0, 0.0, 0.0)),
    Case("color_jitter_p", lambda: ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8),
         lambda: ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.0)),
    Case("random_grayscale", lambda: RandomGrayscale(0.5), lambda: RandomGrayscale(0.0),
         random_on_gray=False),
    Case("grayscale", Grayscale, None, random=False),
    Case("gaussian_blur", lambda: GaussianBlur(5, sigma=(0.1, 2.0)),
         lambda: GaussianBlur(5, sigma=(0.0, 0.0))),
    Case("solarize", lambda: Solarize(0.5), lambda: Solarize(1.0), random=False),
    Case("random_erasing", lambda: RandomErasing(p=0.7), lambda: RandomErasing(p=0.0)),
    Case("normalize", lambda: Normalize(0.5, 0.25), lambda: Normalize(0.0, 1.0),
         random=False, in_unit_range=False),
]
RANDOM_CASES = [case for case in CASES if case.random]
ZERO_CASES = [case for case in CASES if case.make_zero is not None]


def seeded(seed: int = 0, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def images(channels: int, batch: int = BATCH, device: str = "cpu", dtype=torch.float32,
           seed: int = 0) -> Tensor:
    """Smooth-ish random images in [0, 1] (a gradient plus noise), so that every op has
    something to change."""
    generator = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, WIDTH).view(1, 1, 1, WIDTH)
    noise = torch.rand(batch, channels, HEIGHT, WIDTH, generator=generator)
    return (0.5 * ramp + 0.5 * noise).to(device=device, dtype=dtype)


# --------------------------------------------------------------------------- contract


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_keeps_shape_dtype_device_and_range(case, channels, dtype, device):
    x = images(channels, device=device, dtype=dtype)
    out = case.make()(x, seeded(device=device))
    assert out.shape == x.shape
    assert out.dtype == dtype
    assert out.device == x.device
    assert torch.isfinite(out).all()
    if case.in_unit_range:
        assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("channels", [1, 3])
def test_deterministic_under_the_same_seed(case, channels):
    x = images(channels)
    augmentation = case.make()
    assert torch.equal(augmentation(x, seeded(5)), augmentation(x, seeded(5)))


@pytest.mark.parametrize("case", RANDOM_CASES, ids=str)
@pytest.mark.parametrize("channels", [1, 3])
def test_different_seeds_differ(case, channels):
    x = images(channels)
    augmentation = case.make()
    if channels == 1 and not case.random_on_gray:
        # colour-only ops leave one-channel images unchanged, whatever the seed
        assert torch.equal(augmentation(x, seeded(1)), x)
        return
    assert not torch.equal(augmentation(x, seeded(1)), augmentation(x, seeded(2)))


@pytest.mark.parametrize("case", ZERO_CASES, ids=str)
@pytest.mark.parametrize("channels", [1, 3])
def test_zero_strength_is_identity(case, channels):
    x = images(channels)
    out = case.make_zero()(x, seeded())
    # align_corners=False with an identity warp samples exactly at the pixel centres.
    torch.testing.assert_close(out, x, atol=1e-6, rtol=0)


@pytest.mark.parametrize("case", RANDOM_CASES, ids=str)
@pytest.mark.parametrize("channels", [1, 3])
def test_parameters_are_drawn_per_sample(case, channels):
    one = images(channels, batch=1)
    same = one.expand(BATCH, -1, -1, -1).contiguous()
    out = case.make()(same, seeded(3))
    if channels == 1 and not case.random_on_gray:
        assert torch.equal(out, same)
        return
    assert any(not torch.equal(out[0], out[index]) for index in range(1, BATCH))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_input_is_not_modified(case):
    x = images(3)
    before = x.clone()
    case.make()(x, seeded())
    assert torch.equal(x, before)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_rejects_bad_input(case):
    augmentation = case.make()
    with pytest.raises(ValueError, match=r"shape \(B, C, H, W\)"):
        augmentation(torch.rand(3, HEIGHT, WIDTH), seeded())
    with pytest.raises(ValueError, match=r"shape \(B, C, H, W\)"):
        augmentation(torch.rand(()), seeded())
    with pytest.raises(ValueError, match="floating-point"):
        augmentation(torch.zeros(2, 3, HEIGHT, WIDTH, dtype=torch.uint8), seeded())
    with pytest.raises(ValueError, match="torch.Tensor"):
        augmentation([[0.0]], seeded())


@pytest.mark.parametrize("case", CASES, ids=str)
def test_empty_batch(case):
    out = case.make()(torch.zeros(0, 3, HEIGHT, WIDTH), seeded())
    assert out.shape[0] == 0


def test_every_op_is_registered():
    built = {
        "random_resized_crop": {"size": 8, "scale": [0.5, 1.0]},
        "random_horizontal_flip": {"p": 0.5},
        "random_rotation": {"degrees": 10},
        "color_jitter": {"brightness": 0.4, "hue": 0.1, "p": 0.8},
        "random_grayscale": {"p": 0.2},
        "grayscale": {},
        "gaussian_blur": {"kernel_size": 3, "sigma": [0.1, 2.0]},
        "solarize": {"threshold": 0.5},
        "random_erasing": {"p": 0.5},
        "normalize": {"mean": [0.5], "std": [0.5]},
    }
    for name, kwargs in built.items():
        augmentation = AUGMENTATIONS.build(name, **kwargs)
        assert isinstance(augmentation, Augmentation), name
        assert augmentation(images(1), seeded()).shape[:2] == (BATCH, 1)


# --------------------------------------------------------------------------- geometry


def test_crop_output_size_can_differ_from_input():
    x = images(3)
    assert RandomResizedCrop(8)(x, seeded()).shape == (BATCH, 3, 8, 8)
    assert RandomResizedCrop((5, 9))(x, seeded()).shape == (BATCH, 3, 5, 9)
    assert RandomResizedCrop(32)(x, seeded()).shape == (BATCH, 3, 32, 32)


def test_crop_stays_inside_the_image():
    # A crop of a horizontal ramp is an increasing ramp within the input's value range.
    ramp = torch.linspace(0, 1, WIDTH).expand(BATCH, 1, HEIGHT, WIDTH).contiguous()
    out = RandomResizedCrop(10, scale=(0.1, 0.5))(ramp, seeded())
    assert (out[..., 1:] - out[..., :-1] >= -1e-6).all()
    assert not (out == out[..., :1]).all()


def test_crop_fallback_is_a_centred_crop():
    # Wide image, ratio outside (3/4, 4/3): no proposal fits, largest allowed centred crop.
    ramp = torch.linspace(0, 1, 40).expand(2, 1, 10, 40).contiguous()
    out = RandomResizedCrop((10, 40), scale=(1.0, 1.0))(ramp, seeded())
    torch.testing.assert_close(out.mean(), torch.tensor(0.5), atol=1e-4, rtol=0)
    assert out.min() > 0.3 and out.max() < 0.7


def test_crop_rejects_bad_settings():
    with pytest.raises(ValueError, match="scale"):
        RandomResizedCrop(8, scale=(0.5, 0.1))
    with pytest.raises(ValueError, match="scale"):
        RandomResizedCrop(8, scale=(0.5, 2.0))
    with pytest.raises(ValueError, match="size"):
        RandomResizedCrop(0)


def test_flip_mirrors():
    x = images(3)
    torch.testing.assert_close(RandomHorizontalFlip(1.0)(x, seeded()), x.flip(-1))


def test_rotation_by_180_degrees_turns_the_image_over():
    x = images(3)
    out = RandomRotation((180.0, 180.0))(x, seeded())
    torch.testing.assert_close(out, x.flip(-1).flip(-2), atol=1e-4, rtol=0)


def test_rotation_by_90_degrees_is_rot90_on_square_images():
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    out = RandomRotation((90.0, 90.0))(x, seeded())
    candidates = [torch.rot90(x, k, dims=(-2, -1)) for k in (1, -1)]
    assert any(torch.allclose(out, c, atol=1e-4) for c in candidates)


def test_rotation_fills_the_corners():
    out = RandomRotation((45.0, 45.0), fill=0.25)(torch.ones(1, 1, 16, 16), seeded())
    assert out[0, 0, 0, 0] == 0.25 and out[0, 0, 8, 8] == 1.0


def test_fused_warp_draws_like_the_unfused_chain():
    x = images(3)
    parts = [RandomResizedCrop((HEIGHT, WIDTH), scale=(0.3, 1.0)), RandomHorizontalFlip()]
    fused = compose(parts)
    assert isinstance(fused.augmentations[0], FusedGeometric)
    # The flip is exact either way, so crop+flip fused equals crop then flip.
    torch.testing.assert_close(fused(x, seeded(4)), Compose(parts)(x, seeded(4)))
    assert not isinstance(compose(parts, fuse=False).augmentations[0], FusedGeometric)


def test_compose_fuses_only_adjacent_geometry():
    steps = compose([RandomResizedCrop(8), RandomHorizontalFlip(), ColorJitter(0.4),
                     RandomRotation(10)]).augmentations
    assert [type(s) for s in steps] == [FusedGeometric, ColorJitter, RandomRotation]


# --------------------------------------------------------------------------- colour


def test_brightness_scales_and_clamps():
    x = images(3)
    out = ColorJitter(brightness=(2.0, 2.0))(x, seeded())
    torch.testing.assert_close(out, (2 * x).clamp(0, 1))


def test_zero_contrast_gives_the_mean_luma():
    out = ColorJitter(contrast=(0.0, 0.0))(images(3), seeded())
    assert torch.allclose(out, out.mean(dim=(1, 2, 3), keepdim=True), atol=1e-6)


def test_zero_saturation_gives_gray():
    x = images(3)
    out = ColorJitter(saturation=(0.0, 0.0))(x, seeded())
    torch.testing.assert_close(out, Grayscale()(x, seeded()), atol=1e-6, rtol=0)


def test_hue_matches_kornia():
    import kornia
    x = images(3)
    x[:, :, 0] = x[:, :1, 0]  # gray pixels (no hue)
    x[:, 1, 1] = x[:, 0, 1]  # ties between the red and green maximum
    out = ColorJitter(hue=(0.3, 0.3))(x, seeded())
    reference = kornia.enhance.adjust_hue(x, torch.full((BATCH,), 0.3 * 2 * torch.pi))
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=0)


def test_full_hue_turn_is_identity():
    x = images(3)
    torch.testing.assert_close(ColorJitter(hue=(0.5, 0.5))(ColorJitter(hue=(0.5, 0.5))(
        x, seeded()), seeded()), x, atol=1e-5, rtol=0)


def test_color_jitter_probability_is_per_sample():
    same = images(3, batch=1).expand(64, -1, -1, -1).contiguous()
    out = ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.5)(same, seeded())
    kept = (out == same).flatten(1).all(dim=1)
    assert 0 < int(kept.sum()) < 64


def test_color_jitter_rejects_bad_settings():
    with pytest.raises(ValueError, match="brightness"):
        ColorJitter(brightness=-0.1)
    with pytest.raises(ValueError, match="hue"):
        ColorJitter(hue=0.6)
    with pytest.raises(ValueError, match="p must be"):
        ColorJitter(p=2.0)


def test_grayscale_makes_equal_channels_and_ignores_one_channel():
    out = Grayscale()(images(3), seeded())
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])
    gray = images(1)
    assert torch.equal(Grayscale()(gray, seeded()), gray)


# --------------------------------------------------------------------------- filters


def test_blur_matches_kornia_for_a_fixed_sigma():
    import kornia
    x = images(3)
    out = GaussianBlur(5, sigma=(1.3, 1.3))(x, seeded())
    reference = kornia.filters.gaussian_blur2d(x, (5, 5), (1.3, 1.3), border_type="reflect")
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kernel_size", [3, 9, 31])
def test_blur_keeps_constant_images(kernel_size):
    # 31 is wider than the image: the filter-matrix path with repeated reflection.
    x = torch.full((2, 3, 6, 7), 0.3)
    torch.testing.assert_close(GaussianBlur(kernel_size)(x, seeded()), x)


def test_blur_smooths():
    x = images(1)
    out = GaussianBlur(5, sigma=(2.0, 2.0))(x, seeded())
    assert out.var() < x.var()


def test_blur_rejects_even_kernels():
    with pytest.raises(ValueError, match="odd"):
        GaussianBlur(4)


def test_solarize_inverts_above_the_threshold():
    x = images(3)
    torch.testing.assert_close(Solarize(0.5)(x, seeded()), torch.where(x > 0.5, 1 - x, x))
    with pytest.raises(ValueError, match="threshold"):
        Solarize(1.5)


def test_erasing_fills_one_rectangle_per_sample():
    x = torch.ones(64, 2, 20, 20)
    out = RandomErasing(p=1.0, scale=(0.05, 0.2), value=0.0)(x, seeded())
    erased = out[:, 0] == 0
    assert torch.equal(erased, out[:, 1] == 0)
    area = erased.flatten(1).sum(dim=1).float() / 400
    assert (area > 0.02).all() and (area < 0.3).all()
    rows, cols = erased.any(dim=2), erased.any(dim=1)
    assert torch.equal(erased.flatten(1).sum(1), rows.sum(1) * cols.sum(1))  # a rectangle


def test_erasing_with_a_value_per_channel():
    out = RandomErasing(p=1.0, value=(0.25, 0.5, 0.75))(torch.ones(4, 3, 10, 10), seeded())
    for channel, value in enumerate((0.25, 0.5, 0.75)):
        assert (out[:, channel] == value).any()
    with pytest.raises(ValueError, match="channels"):
        RandomErasing(p=1.0, value=(0.1, 0.2))(torch.ones(4, 3, 10, 10), seeded())


def test_normalize_per_channel_and_channel_check():
    x = images(3)
    out = Normalize([0.1, 0.2, 0.3], [0.5, 0.5, 2.0])(x, seeded())
    torch.testing.assert_close(out[:, 2], (x[:, 2] - 0.3) / 2.0)
    with pytest.raises(ValueError, match="channels"):
        Normalize([0.1, 0.2, 0.3], [1.0, 1.0, 1.0])(images(1), seeded())
    with pytest.raises(ValueError, match="std"):
        Normalize(0.0, 0.0)


# --------------------------------------------------------------------------- presets


def test_simclr_views_count_sizes_and_range():
    views = simclr_views(8, blur=True)
    assert isinstance(views, Views) and views.num_views == 2
    out = views(images(3), seeded())
    assert [tuple(v.shape) for v in out] == [(BATCH, 3, 8, 8)] * 2
    assert all(v.min() >= 0 and v.max() <= 1 for v in out)
    assert not torch.equal(out[0], out[1])
    assert simclr_views(8, num_views=4).num_views == 4


def test_simclr_views_are_deterministic():
    views = simclr_views(8, blur=True)
    first, second = views(images(3), seeded(2)), views(images(3), seeded(2))
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_one_channel_presets_drop_colour_only_steps():
    pipeline = simclr_views(8, in_channels=1).pipelines[0].augmentation
    assert not any(isinstance(step, RandomGrayscale) for step in pipeline.augmentations)
    jitter = next(s for s in pipeline.augmentations if isinstance(s, ColorJitter))
    assert jitter.saturation == (1.0, 1.0) and jitter.hue == (0.0, 0.0)
    out = simclr_views(8, in_channels=1)(images(1), seeded())
    assert [tuple(v.shape) for v in out] == [(BATCH, 1, 8, 8)] * 2


def test_simclr_blur_default_follows_image_size():
    def has_blur(views: Views) -> bool:
        steps = views.pipelines[0].augmentation.augmentations
        return any(isinstance(getattr(s, "augmentation", s), GaussianBlur) for s in steps)

    assert not has_blur(simclr_views(32))
    assert has_blur(simclr_views(96))
    assert has_blur(simclr_views(32, blur=True))


@pytest.mark.parametrize("build", [
    lambda: simclr_views((HEIGHT, WIDTH), strength=0.0),
    lambda: byol_views((HEIGHT, WIDTH), strength=0.0),
    lambda: swav_views((HEIGHT, WIDTH), num_local=0, strength=0.0),
])
def test_zero_strength_preset_is_identity(build):
    x = images(3)
    for view in build()(x, seeded()):
        torch.testing.assert_close(view, x, atol=1e-6, rtol=0)


def test_byol_views_are_asymmetric():
    views = byol_views(8)
    assert views.num_views == 2
    first, second = (p.augmentation.augmentations for p in views.pipelines)
    assert any(type(s) is GaussianBlur for s in first)  # blur p = 1.0
    assert not any(isinstance(s, RandomApply) and isinstance(s.augmentation, Solarize)
                   for s in first)  # solarize p = 0
    applied = {type(s.augmentation): s.p for s in second if isinstance(s, RandomApply)}
    assert applied == {GaussianBlur: 0.1, Solarize: 0.2}
    out = views(images(3), seeded())
    assert [tuple(v.shape) for v in out] == [(BATCH, 3, 8, 8)] * 2


def test_swav_multi_crop_shapes():
    views = swav_views(10, 6)
    assert views.num_views == 8
    out = views(images(3), seeded())
    assert [tuple(v.shape[-2:]) for v in out] == [(10, 10)] * 2 + [(6, 6)] * 6
    assert swav_views(10, 6, num_global=2, num_local=0).num_views == 2
    assert swav_views(size=224).pipelines[1].augmentation.augmentations[0].augmentations[
        0].size == (96, 96)


def test_swav_size_fills_in_for_global_size():
    with pytest.raises(ValueError, match="global_size"):
        swav_views()
    first = swav_views(size=16, local_size=8).pipelines[0].augmentation.augmentations[0]
    assert first.augmentations[0].size == (16, 16)
    # The recipe builder passes size= from the data; an explicit global_size wins.
    explicit = swav_views(12, 8, size=16).pipelines[0].augmentation.augmentations[0]
    assert explicit.augmentations[0].size == (12, 12)


def test_presets_build_by_name_and_from_the_registry():
    assert image_views("simclr", size=8).num_views == 2
    assert image_views("byol_views", size=8).num_views == 2
    assert image_views("swav", size=16, local_size=8, num_local=2).num_views == 4
    with pytest.raises(ValueError, match="known presets"):
        image_views("dino", size=8)
    views = AUGMENTATIONS.build("simclr_views", size=8, scale=[0.5, 1.0], strength=0.5)
    assert len(views(images(1), seeded())) == 2
    for name in ("simclr_views", "byol_views", "swav_views"):
        assert name in AUGMENTATIONS


def test_normalizing_presets():
    views = simclr_views(8, mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    assert isinstance(views.pipelines[0].augmentation.augmentations[-1], Normalize)
    with pytest.raises(ValueError, match="both mean and std"):
        simclr_views(8, mean=0.5)


def test_blur_kernel_size_is_ten_percent_and_odd():
    assert blur_kernel_size(224) == 23
    assert blur_kernel_size(96) == 9
    assert blur_kernel_size(32) == 3
    assert blur_kernel_size(8) == 3
