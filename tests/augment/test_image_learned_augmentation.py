"""AutoTCL's learned views for images (`autotcl_image`): property tests, the generator's loss
through a frozen encoder, and a short SimCLR run with learned views on the digits."""

from __future__ import annotations

import math

import pytest
import torch

import contrastlearn
import contrastlearn.api
from contrastlearn.core.registry import VIEW_GENERATORS
from contrastlearn.methods.learned_views import frozen
from contrastlearn.modalities.image.encoders import SmallCNN
from contrastlearn.modalities.image.learned_augmentation import ImageParametricAugmentation


def _images(channels: int = 3) -> torch.Tensor:
    return torch.rand(5, channels, 12, 12, generator=torch.Generator().manual_seed(1))


def _generator(channels: int = 3, **settings) -> ImageParametricAugmentation:
    torch.manual_seed(0)
    return ImageParametricAugmentation(channels, hidden_dim=8, depth=2, **settings)


def _turn_warp_on(generator: ImageParametricAugmentation) -> None:
    with torch.no_grad():
        generator.affine_head.bias.copy_(torch.tensor([0.5, -1.0, 2.0, 1.0, 0.3, -2.0]))


def test_views_keep_shape_dtype_range_and_are_seeded():
    generator, x = _generator(), _images()
    _turn_warp_on(generator)
    view, made = generator(x, torch.Generator().manual_seed(5))
    again, _ = generator(x, torch.Generator().manual_seed(5))
    other, _ = generator(x, torch.Generator().manual_seed(6))
    assert view.shape == x.shape and view.dtype == x.dtype
    assert view.min().item() >= 0 and view.max().item() <= 1
    assert torch.equal(view, again) and not torch.equal(view, other)
    assert made["mask"].shape == (5, 12, 12) and made["valid"].all()
    assert set(made["mask"].unique().tolist()) <= {0.0, 1.0}


def test_strength_zero_gives_the_images_back():
    generator, x = _generator(strength=0.0, max_affine=0.5), _images()
    _turn_warp_on(generator)
    view, _ = generator(x, torch.Generator().manual_seed(0))
    assert torch.equal(view, x)


def test_without_warp_the_view_is_x_times_gain_where_the_mask_keeps_it():
    generator, x = _generator(max_affine=0.0), _images()
    view, made = generator(x, torch.Generator().manual_seed(2))
    gains = generator.parameters_of(x)[1][0]
    torch.testing.assert_close(view, x * gains * made["mask"][:, None])
    assert 0 < float(made["mask"].mean()) < 1


def test_the_warp_is_bounded_by_strength_and_max_affine():
    generator, x = _generator(strength=0.5, max_affine=0.2), _images()
    _turn_warp_on(generator)
    view, made = generator(x, torch.Generator().manual_seed(3))
    _, (gains, affine), _ = generator.parameters_of(x)
    assert affine.abs().max().item() <= 1
    from contrastlearn.modalities.image.augment import warp_affine

    unwarped = x * (1 - 0.5 * (1 - gains * made["mask"][:, None]))
    theta = torch.eye(2, 3) + 0.1 * affine.view(-1, 2, 3)
    matrix = torch.cat([theta, torch.tensor([[[0.0, 0.0, 1.0]]]).expand(5, 1, 3)], dim=1)
    torch.testing.assert_close(view, warp_affine(unwarped, matrix, (12, 12)))
    assert not torch.allclose(view, unwarped)


def test_generator_loss_is_finite_and_trains_only_the_generator():
    generator, x = _generator(1), _images(1)
    encoder = SmallCNN(1, width=4, out_dim=8)
    view, made = generator(x, torch.Generator().manual_seed(0))
    with frozen(encoder) as encode:
        output = generator.loss(encode, x, view, made)
    output.loss.backward()
    assert math.isfinite(output.loss.item())
    assert all(p.grad is None for p in encoder.parameters())
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in generator.parameters())
    assert float(generator.affine_head.weight.grad.abs().sum()) > 0  # the warp learns
    assert encoder.training


@pytest.mark.parametrize("settings, message", [
    ({"strength": 1.5}, "strength in \\[0, 1\\]"), ({"max_affine": -0.1}, "max_affine >= 0"),
    ({"depth": 0}, "depth >= 1")])
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        ImageParametricAugmentation(3, **settings)


def test_wrong_images_are_refused_with_the_fix():
    generator = _generator(3)
    with pytest.raises(ValueError, match="built for 3 channel"):
        generator(_images(1), torch.Generator())
    with pytest.raises(ValueError, match="shape \\(B, C, H, W\\)"):
        generator(torch.rand(3, 8, 8), torch.Generator())


def test_simclr_with_learned_image_views_trains_end_to_end(tmp_path, monkeypatch):
    for hook in ("write_report", "_write_preview"):  # the pictures take longer than training
        monkeypatch.setattr(contrastlearn.api, hook, lambda *args, **kwargs: None)
    assert VIEW_GENERATORS.get("autotcl_image") is ImageParametricAugmentation
    overrides = {"data.limit": 128, "train.steps": 3, "train.batch_size": 32,
                 "encoder.kwargs.width": 8, "method.kwargs.hidden_dim": 16,
                 "method.kwargs.projection_dim": 8, "learned_views.kwargs.hidden_dim": 4,
                 "train.log_every_steps": 1, "eval.labels_per_class": [],
                 "eval.protocols": ["knn"]}
    run = contrastlearn.pretrain("fashion-mnist-simclr-learned-aug", dataset="digits",
                                 out=tmp_path / "run", progress=False, overrides=overrides)
    assert run.training.steps == 3 and math.isfinite(run.results[0].value)
    logged = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert "aug_mmd" in logged and "aug_kept_fraction" in logged
    assert isinstance(contrastlearn.load_encoder(tmp_path / "run" / "encoder"), SmallCNN)
