"""Encoders: shapes, out_dim, gradients, registry builds, determinism, parameter counts."""

from __future__ import annotations

import json

import pytest
import torch

import contrastlearn.encoders  # noqa: F401  (registers "mlp")
import contrastlearn.modalities.image.encoders  # noqa: F401  (registers image encoders)
from contrastlearn.core.registry import ENCODERS
from contrastlearn.encoders import MLPEncoder
from contrastlearn.modalities.image.encoders import ResNet, SmallCNN


def _count(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def _assert_all_grads(module: torch.nn.Module, output: torch.Tensor) -> None:
    output.square().mean().backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None, f"no gradient for {name}"
        assert torch.isfinite(parameter.grad).all(), f"non-finite gradient for {name}"


def test_all_encoders_registered() -> None:
    for name in ("resnet", "resnet18", "resnet34", "resnet50", "small_cnn", "mlp"):
        assert name in ENCODERS
        assert ENCODERS.describe(name)


@pytest.mark.parametrize(
    ("name", "expected_out_dim"),
    [("resnet18", 128), ("resnet34", 128), ("resnet50", 512)],
)
@pytest.mark.parametrize("in_channels", [1, 3, 5])
def test_resnet_shapes_small(name: str, expected_out_dim: int, in_channels: int) -> None:
    encoder = ENCODERS.build(
        name, in_channels=in_channels, width_multiplier=0.25, cifar_stem=True
    )
    assert encoder.out_dim == expected_out_dim
    output = encoder(torch.randn(2, in_channels, 8, 8))
    assert output.shape == (2, expected_out_dim)


def test_resnet_generic_name_with_depth_and_imagenet_stem() -> None:
    encoder = ENCODERS.build("resnet", depth=18, in_channels=3, width_multiplier=0.125)
    assert isinstance(encoder, ResNet)
    assert encoder.out_dim == 64
    assert encoder(torch.randn(2, 3, 32, 32)).shape == (2, 64)


def test_resnet_backward_reaches_every_parameter() -> None:
    encoder = ResNet(depth=50, in_channels=3, width_multiplier=0.125, cifar_stem=True)
    _assert_all_grads(encoder, encoder(torch.randn(4, 3, 8, 8)))


def test_resnet_zero_init_residual_makes_last_bn_zero() -> None:
    encoder = ResNet(depth=18, width_multiplier=0.125, cifar_stem=True, zero_init_residual=True)
    for block in encoder.stages.modules():
        if hasattr(block, "last_norm"):
            assert torch.all(block.last_norm().weight == 0)
    plain = ResNet(depth=18, width_multiplier=0.125, cifar_stem=True)
    assert all(
        torch.all(block.last_norm().weight == 1)
        for block in plain.stages.modules()
        if hasattr(block, "last_norm")
    )


def test_resnet_parameter_counts_match_reference() -> None:
    # torchvision's resnet18 / resnet50 minus the 1000-way classifier.
    assert _count(ResNet(depth=18, in_channels=3)) == 11_176_512
    assert _count(ResNet(depth=50, in_channels=3)) == 23_508_032
    assert ResNet(depth=18).out_dim == 512
    assert ResNet(depth=50).out_dim == 2048


def test_resnet_rejects_bad_depth_and_wrong_channels() -> None:
    with pytest.raises(ValueError, match="depth"):
        ResNet(depth=20)
    encoder = ResNet(depth=18, in_channels=3, width_multiplier=0.125, cifar_stem=True)
    with pytest.raises(ValueError, match="in_channels"):
        encoder(torch.randn(2, 1, 8, 8))


@pytest.mark.parametrize("size", [8, 13, 28, 32])
@pytest.mark.parametrize("in_channels", [1, 3, 5])
def test_small_cnn_any_channels_and_size(size: int, in_channels: int) -> None:
    encoder = ENCODERS.build("small_cnn", in_channels=in_channels, width=8, out_dim=16)
    assert encoder.out_dim == 16
    assert encoder(torch.randn(3, in_channels, size, size)).shape == (3, 16)


def test_small_cnn_without_linear_uses_last_channels() -> None:
    encoder = SmallCNN(in_channels=1, width=8, out_dim=None, num_blocks=4)
    assert encoder.out_dim == 64
    output = encoder(torch.randn(2, 1, 8, 8))
    assert output.shape == (2, 64)
    _assert_all_grads(encoder, output)


def test_small_cnn_backward_reaches_every_parameter() -> None:
    encoder = SmallCNN(in_channels=3, width=8, out_dim=32)
    _assert_all_grads(encoder, encoder(torch.randn(4, 3, 16, 16)))


@pytest.mark.parametrize(
    ("name", "kwargs", "shape"),
    [
        (
            "resnet18",
            {"in_channels": 3, "width_multiplier": 0.25, "cifar_stem": True},
            (4, 3, 8, 8),
        ),
        ("small_cnn", {"in_channels": 1, "width": 8, "out_dim": 16}, (4, 1, 8, 8)),
        ("mlp", {"in_dim": 64, "hidden_dims": [32], "out_dim": 8, "dropout": 0.1}, (4, 1, 8, 8)),
    ],
)
def test_eval_mode_is_deterministic_and_rebuildable_from_json(
    name: str, kwargs: dict, shape: tuple[int, ...]
) -> None:
    torch.manual_seed(0)
    encoder = ENCODERS.build(name, **kwargs)
    # Kwargs must survive a JSON round trip: the exported encoder is rebuilt from them.
    rebuilt = ENCODERS.build(name, **json.loads(json.dumps(kwargs)))
    encoder.train()
    x = torch.randn(*shape)
    encoder(x)  # update BN running statistics so eval differs from initialisation
    rebuilt.load_state_dict(encoder.state_dict())
    encoder.eval()
    rebuilt.eval()
    with torch.no_grad():
        first, second, third = encoder(x), encoder(x), rebuilt(x)
    assert torch.equal(first, second)
    assert torch.allclose(first, third)


def test_mlp_flattens_and_shapes() -> None:
    encoder = ENCODERS.build("mlp", in_dim=12, hidden_dims=[16, 16], out_dim=5)
    assert isinstance(encoder, MLPEncoder)
    assert encoder.out_dim == 5
    assert encoder(torch.randn(4, 3, 4)).shape == (4, 5)
    output = encoder(torch.randn(4, 12))
    assert output.shape == (4, 5)
    _assert_all_grads(encoder, output)


def test_mlp_without_batch_norm_or_hidden_layers() -> None:
    encoder = MLPEncoder(in_dim=6, hidden_dims=(), out_dim=3, batch_norm=False)
    assert encoder(torch.randn(1, 6)).shape == (1, 3)


def test_mlp_in_dim_mismatch_names_expected_and_got() -> None:
    encoder = MLPEncoder(in_dim=10, hidden_dims=(8,), out_dim=4)
    with pytest.raises(ValueError, match=r"in_dim=10.*got 12"):
        encoder(torch.randn(4, 3, 4))
