"""The small ViT: shapes, token removal that keeps positions, the two patch scores, bad sizes
named in one line, registration and construction from a recipe."""

from __future__ import annotations

import pytest
import torch

import contrastlearn.modalities.image  # noqa: F401  (registers the image encoders)
from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.image.vit import VisionTransformer

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = dict(image_size=8, patch_size=2, in_channels=1, dim=16, depth=2, heads=2)


def small_vit(**overrides) -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(**{**SMALL, **overrides}).eval()


def images(batch: int = 3, channels: int = 1, size: int = 8) -> torch.Tensor:
    return torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(1))


def test_default_sizes_fit_28x28_digits():
    vit = VisionTransformer()
    x = torch.randn(2, 1, 28, 28)
    assert vit.num_patches == 49 and vit.out_dim == 192
    assert vit(x).shape == (2, 192)
    assert vit.patch_tokens(x).shape == (2, 49, 192)
    assert vit.modality == "image"


def test_shapes_with_and_without_removal():
    vit = small_vit(in_channels=3)
    x = images(channels=3)
    keep = torch.tensor([[0, 5, 9]] * 3)
    assert vit.num_patches == 16
    assert vit(x).shape == (3, 16)
    assert vit(x, keep=keep).shape == (3, 16)
    assert vit.patch_tokens(x).shape == (3, 16, 16)
    assert vit.cls_attention(x).shape == (3, 16)


def test_keeping_every_patch_equals_no_removal():
    vit, x = small_vit(), images()
    every = torch.arange(16).expand(3, -1)
    torch.testing.assert_close(vit(x, keep=every), vit(x), rtol=0, atol=1e-6)


def test_kept_patches_keep_their_positions():
    """A patch kept alone sees its own position embedding: keeping patch 2 of an image equals
    keeping patch 7 of the image whose patch 7 is patch 2's pixels, only when positions are
    equal, so different positions give different outputs on the same pixels."""
    vit, x = small_vit(), images(batch=1)
    moved = x.clone()
    moved[..., 2:4, 6:8] = x[..., 0:2, 4:6]  # patch 2's pixels placed at patch 7
    at_two = vit(x, keep=torch.tensor([[2]]))
    at_seven = vit(moved, keep=torch.tensor([[7]]))
    assert not torch.allclose(at_two, at_seven, atol=1e-4)
    with torch.no_grad():
        vit.pos_embed.zero_()
    torch.testing.assert_close(vit(x, keep=torch.tensor([[2]])),
                               vit(moved, keep=torch.tensor([[7]])), rtol=0, atol=1e-6)


def test_different_keep_sets_give_different_outputs_per_sample():
    vit, x = small_vit(), images()
    first = vit(x, keep=torch.tensor([[0, 1, 2, 3]] * 3))
    second = vit(x, keep=torch.tensor([[0, 1, 2, 3], [12, 13, 14, 15], [0, 1, 2, 3]]))
    assert torch.allclose(first[[0, 2]], second[[0, 2]], atol=1e-6)
    assert not torch.allclose(first[1], second[1], atol=1e-4)


def test_order_of_kept_indices_does_not_matter():
    vit, x = small_vit(), images(batch=1)
    torch.testing.assert_close(vit(x, keep=torch.tensor([[9, 1, 4]])),
                               vit(x, keep=torch.tensor([[1, 4, 9]])), rtol=0, atol=1e-6)


def test_gradients_reach_every_parameter_through_removal():
    vit = small_vit().train()
    vit(images(), keep=torch.tensor([[0, 3, 7]] * 3)).square().sum().backward()
    missing = [name for name, p in vit.named_parameters() if p.grad is None
               or not p.grad.abs().sum() > 0]
    assert missing == []


def test_cls_attention_is_a_distribution_over_patches():
    vit, x = small_vit(), images()
    scores = vit.cls_attention(x)
    assert (scores >= 0).all()
    # each layer's weights over [CLS] + patches sum to 1, so the patch share is below 1
    assert (scores.sum(dim=1) < 1).all() and (scores.sum(dim=1) > 0.5).all()


def test_cls_attention_matches_explicit_attention_weights():
    """Reference: per layer, softmax(q k^T / sqrt(d)) written out with einsum in float64."""
    vit, x = small_vit().double(), images().double()
    tokens = vit._embed(x, None)
    expected = torch.zeros(3, 16, dtype=torch.float64)
    for block in vit.blocks:
        h = block.norm1(tokens)
        q, k, _ = block.qkv(h).chunk(3, dim=-1)
        q = q.reshape(3, -1, 2, 8)
        k = k.reshape(3, -1, 2, 8)
        weights = torch.einsum("bnhd,bmhd->bhnm", q, k).div(8**0.5).softmax(dim=-1)
        expected += weights[:, :, 0, 1:].mean(dim=1)
        tokens = block(tokens)
    torch.testing.assert_close(vit.cls_attention(x), expected / 2)


@pytest.mark.parametrize("kwargs, words", [
    (dict(image_size=10, patch_size=4), "not divisible by patch_size"),
    (dict(dim=10, heads=3), "not divisible by heads"),
    (dict(depth=0), "depth must be >= 1"),
    (dict(mlp_ratio=0), "mlp_ratio must be > 0"),
])
def test_bad_sizes_are_named_with_the_fix(kwargs, words):
    with pytest.raises(ValueError, match=words) as error:
        VisionTransformer(**{**SMALL, **kwargs})
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("x, words", [
    (torch.randn(2, 3, 8, 8), r"\(batch, 1, 8, 8\).*Set in_channels and image_size"),
    (torch.randn(2, 1, 12, 12), r"got \(2, 1, 12, 12\)"),
])
def test_images_of_the_wrong_shape_are_named(x, words):
    with pytest.raises(ValueError, match=words):
        small_vit()(x)


@pytest.mark.parametrize("keep, words", [
    (torch.tensor([[0, 1]] * 3, dtype=torch.int32), "int64"),
    (torch.tensor([0, 1, 2]), "int64 \\(batch=3, K\\)"),
    (torch.tensor([[0, 1]] * 2), "batch=3"),
    (torch.tensor([[0, 16]] * 3), r"outside \[0, 16\)"),
    (torch.tensor([[-1, 2]] * 3), r"outside \[0, 16\)"),
])
def test_bad_keep_is_named(keep, words):
    with pytest.raises(ValueError, match=words):
        small_vit()(images(), keep=keep)


def test_registered_and_built_from_a_recipe_with_channels_from_the_data():
    from contrastlearn.api import build_encoder
    from contrastlearn.config import recipe_from_dict
    from contrastlearn.data.arrays import ArrayDataset, DatasetSplits
    from tests.conftest import tiny_recipe_dict

    assert ENCODERS.get("vit_tiny") is VisionTransformer
    recipe = tiny_recipe_dict()
    recipe["encoder"] = {"name": "vit_tiny", "kwargs": {"image_size": 8, "patch_size": 2,
                                                        "dim": 16, "depth": 1, "heads": 2}}
    splits = DatasetSplits(train=ArrayDataset(torch.rand(4, 3, 8, 8)), test=None)
    encoder, kwargs = build_encoder(recipe_from_dict(recipe), splits, progress=False)
    assert isinstance(encoder, VisionTransformer) and kwargs["in_channels"] == 3
    assert encoder(torch.rand(2, 3, 8, 8)).shape == (2, 16)


def test_onnx_export_of_the_plain_forward(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from contrastlearn.onnx_export import export_onnx

    vit = small_vit()
    path = export_onnx(vit, tmp_path / "vit.onnx", example=images(batch=2),
                       exporter="torchscript")
    x = images(batch=5)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["embeddings"], {"inputs": x.numpy()})[0]
    with torch.no_grad():
        expected = vit(x).numpy()
    assert got.shape == (5, 16)
    assert abs(got - expected).max() < 1e-4


def test_attentive_removal_pipeline_with_an_ema_copy():
    """The composition Attentive Mask CLIP uses: score patches with a frozen EMA copy, keep the
    most text-related half, run the online encoder on them with gradients."""
    from contrastlearn.augment.token_keep import attentive_keep, text_relevance
    from contrastlearn.core.ema import make_momentum_copy, update_momentum

    online = small_vit().train()
    target = make_momentum_copy(online)
    x, texts = images(), torch.randn(3, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        keep = attentive_keep(text_relevance(target.patch_tokens(x), texts), 0.5)
        by_attention = attentive_keep(target.cls_attention(x), 0.5)
    assert keep.shape == by_attention.shape == (3, 8)
    online(x, keep=keep).sum().backward()
    assert online.cls_token.grad is not None and target.cls_token.grad is None
    update_momentum(online, target, 0.99)
