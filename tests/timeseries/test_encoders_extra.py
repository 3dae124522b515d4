"""FCN, ResNet and Transformer time-series encoders (the TS2VecEncoder contract: shapes,
channels, padding, timestamp masking, gradients, seeding, registry) and exact windowed
encoding of long series."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import contrastlearn
from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.timeseries.conv_encoders import FCNEncoder, ResNet1dEncoder
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder
from contrastlearn.modalities.timeseries.long_series import encode_in_windows
from contrastlearn.modalities.timeseries.transformer_encoder import (
    TimeSeriesTransformerEncoder,
    sinusoidal_positions,
)

SMALL = {  # registry name -> (class, small kwargs, expected out_dim)
    "fcn_encoder": (FCNEncoder, {"widths": [8, 16, 8]}, 8),
    "resnet1d_encoder": (ResNet1dEncoder, {"widths": [8, 16, 16], "out_dim": 12}, 12),
    "transformer_encoder": (TimeSeriesTransformerEncoder,
                            {"d_model": 16, "num_heads": 2, "dim_feedforward": 32,
                             "out_dim": 12}, 12),
}
NAMES = list(SMALL)


def build(name: str, in_channels: int = 2, **overrides) -> torch.nn.Module:
    _, kwargs, _ = SMALL[name]
    return ENCODERS.build(name, in_channels=in_channels, **{**kwargs, **overrides})


def padded_batch(channels: int = 2, length: int = 40, seed: int = 0) -> torch.Tensor:
    x = torch.randn(3, channels, length, generator=torch.Generator().manual_seed(seed))
    x[1, :, length // 2:] = float("nan")
    return x


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels,length", [(1, 1), (1, 3), (3, 2), (1, 64), (3, 257)])
def test_shapes_for_any_length_and_channel_count(name, channels, length):
    encoder = build(name, in_channels=channels).eval()
    x = torch.randn(2, channels, length)
    features, valid = encoder.timestamps(x)
    out_dim = SMALL[name][2]
    assert encoder.out_dim == out_dim and encoder.in_channels == channels
    assert features.shape == (2, length, out_dim) and valid.all()
    pooled = encoder(x)
    assert pooled.shape == (2, out_dim) and torch.isfinite(pooled).all()


def test_defaults_match_the_papers():
    fcn, resnet = FCNEncoder(), ResNet1dEncoder()
    fcn_convs = [m for m in fcn.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [(m.out_channels, m.kernel_size[0]) for m in fcn_convs] == [(128, 8), (256, 5),
                                                                       (128, 3)]
    assert fcn.out_dim == 128 and fcn.receptive_field == 1 + 7 + 4 + 2
    assert resnet.out_dim == 128 and resnet.receptive_field == 1 + 3 * (7 + 4 + 2)
    shortcuts = [block.shortcut for block in resnet.body]
    assert [isinstance(s, torch.nn.Identity) for s in shortcuts] == [False, False, True]
    transformer = TimeSeriesTransformerEncoder()
    assert transformer.out_dim == 128 and len(transformer.transformer.layers) == 2


@pytest.mark.parametrize("name", NAMES)
def test_channel_mismatch_is_a_clear_error(name):
    encoder = build(name, in_channels=2)
    with pytest.raises(ValueError, match="2 channel"):
        encoder(torch.randn(3, 3, 20))
    with pytest.raises(ValueError, match="batch, 2, length"):
        encoder.timestamps(torch.randn(2, 20))


@pytest.mark.parametrize("factory,kwargs,message", [
    (FCNEncoder, {"widths": [8, 8], "kernel_sizes": [3]}, "one kernel size per block"),
    (FCNEncoder, {"widths": []}, "positive and non-empty"),
    (ResNet1dEncoder, {"kernel_sizes": [8, 0]}, "positive"),
    (TimeSeriesTransformerEncoder, {"d_model": 10, "num_heads": 4}, "divisible"),
    (TimeSeriesTransformerEncoder, {"out_dim": 0}, "positive"),
])
def test_bad_sizes_are_rejected(factory, kwargs, message):
    with pytest.raises(ValueError, match=message):
        factory(**kwargs)


@pytest.mark.parametrize("name", ["fcn_encoder", "resnet1d_encoder"])
def test_conv_keep_mask_zeroes_input_timestamps(name):
    encoder = build(name).eval()
    x = padded_batch()
    keep = torch.ones(3, 40, dtype=torch.bool)
    torch.testing.assert_close(encoder.timestamps(x, keep)[0], encoder.timestamps(x)[0])
    keep[:, 5:9] = False
    zeroed = x.clone()
    zeroed[:, :, 5:9] = 0.0
    masked, valid = encoder.timestamps(x, keep)
    torch.testing.assert_close(masked, encoder.timestamps(zeroed)[0])
    assert not torch.allclose(masked, encoder.timestamps(x)[0])
    assert valid.sum(1).tolist() == [40, 20, 40]  # masking is not padding


def test_transformer_keep_mask_changes_features_but_not_validity():
    encoder = build("transformer_encoder").eval()
    x = padded_batch()
    keep = torch.ones(3, 40, dtype=torch.bool)
    plain = encoder.timestamps(x)[0]
    torch.testing.assert_close(encoder.timestamps(x, keep)[0], plain)
    keep[:, 5:9] = False
    masked, valid = encoder.timestamps(x, keep)
    assert not torch.allclose(masked[:, 10:], plain[:, 10:])  # attention spreads the change
    assert valid.sum(1).tolist() == [40, 20, 40]


def test_transformer_padding_never_changes_valid_features():
    encoder = build("transformer_encoder").eval()
    x = torch.randn(2, 2, 30)
    features, _ = encoder.timestamps(x)
    padded = torch.cat([x, torch.full((2, 2, 11), float("nan"))], dim=-1)
    padded_features, valid = encoder.timestamps(padded)
    assert valid.sum(1).tolist() == [30, 30]
    torch.testing.assert_close(padded_features[:, :30], features)
    torch.testing.assert_close(encoder(padded), encoder(x))
    # a short series in a batch of long ones is encoded as if alone
    batch = padded_batch()
    alone = encoder.timestamps(batch[1:2, :, :20])[0]
    torch.testing.assert_close(encoder.timestamps(batch)[0][1:2, :20], alone)
    # a series with no valid timestamp gives a zero embedding, not NaN
    empty = encoder(torch.full((2, 2, 5), float("nan")))
    assert torch.equal(empty, torch.zeros_like(empty))


@pytest.mark.parametrize("name", NAMES)
def test_padding_never_wins_the_max_and_stays_local(name):
    encoder = build(name).eval()
    x = padded_batch()
    features, valid = encoder.timestamps(x)
    assert valid.sum(1).tolist() == [40, 20, 40] and torch.isfinite(features).all()
    pooled = encoder(x)
    torch.testing.assert_close(pooled[1], features[1, :20].amax(0))
    reach = getattr(encoder, "receptive_field", 1) // 2  # conv nets: padding enters as zeros
    alone = encoder.timestamps(x[1:2, :, :20])[0]
    torch.testing.assert_close(features[1, : 20 - reach], alone[0, : 20 - reach])


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name):
    encoder = build(name).train()
    x = padded_batch()
    keep = torch.rand(3, 40, generator=torch.Generator().manual_seed(1)) > 0.2
    features, valid = encoder.timestamps(x, keep)
    (features[valid].square().mean() + encoder(x).mean()).backward()
    for parameter_name, parameter in encoder.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name


@pytest.mark.parametrize("name", NAMES)
def test_seeded_builds_and_passes_are_deterministic(name):
    x = padded_batch()
    outputs = []
    for _ in range(2):
        torch.manual_seed(7)
        encoder = build(name).train()  # dropout and batch statistics included
        outputs.append((encoder.state_dict(), encoder(x)))
    for key, value in outputs[0][0].items():
        torch.testing.assert_close(value, outputs[1][0][key], msg=key)
    torch.testing.assert_close(outputs[0][1], outputs[1][1])
    encoder = encoder.eval()
    torch.testing.assert_close(encoder(x), encoder(x))


@pytest.mark.parametrize("name", NAMES)
def test_registry_builds_from_json_kwargs(name):
    factory, kwargs, out_dim = SMALL[name]
    assert name in ENCODERS and ENCODERS.get(name) is factory
    encoder = ENCODERS.build(name, **json.loads(json.dumps({"in_channels": 3, **kwargs})))
    assert isinstance(encoder, factory) and encoder.out_dim == out_dim
    assert ENCODERS.describe(name)


def test_sinusoidal_positions_any_width():
    table = sinusoidal_positions(5, 7)
    assert table.shape == (5, 7)
    torch.testing.assert_close(table[0], torch.tensor([0.0, 1, 0, 1, 0, 1, 0]))
    torch.testing.assert_close(sinusoidal_positions(9, 8)[:5], sinusoidal_positions(5, 8))


@pytest.mark.parametrize("encoder", [
    TS2VecEncoder(in_channels=2, hidden_dim=8, out_dim=6, depth=3),
    FCNEncoder(in_channels=2, widths=[8, 8, 6]),
    ResNet1dEncoder(in_channels=2, widths=[6, 8, 8]),  # three even kernels: centred sides
], ids=["ts2vec", "fcn", "resnet1d"])
def test_windows_reproduce_full_conv_encoding(encoder):
    encoder = encoder.double().eval()
    x = padded_batch(length=150).double()
    full, valid = encoder.timestamps(x)
    assert encoder.receptive_field < 150  # so that windows really cut the series
    for window, batch_size in [(16, 256), (7, 2), (150, 1), (1000, 4)]:
        features, windowed_valid = encode_in_windows(encoder, x, window, batch_size=batch_size)
        torch.testing.assert_close(features, full)
        assert torch.equal(windowed_valid, valid)
    short, _ = encode_in_windows(encoder, x, 16, context=encoder.receptive_field // 2 - 1)
    assert not torch.allclose(short, full)  # the default context is also the least one


def test_windows_restore_mode_and_work_without_a_receptive_field():
    encoder = build("transformer_encoder").train()
    x = padded_batch(length=50)
    features, valid = encode_in_windows(encoder, x, window=12)
    assert encoder.training and not features.requires_grad
    assert features.shape == (3, 50, 12) and valid.sum(1).tolist() == [50, 25, 50]
    assert torch.isfinite(features).all()  # windows of padding only included
    whole, _ = encode_in_windows(encoder, x, window=50)
    torch.testing.assert_close(whole, encoder.eval().timestamps(x)[0])


@pytest.mark.parametrize("kwargs,error,message", [
    ({"window": 0}, ValueError, "window must be an integer >= 1"),
    ({"window": 2.5}, ValueError, "window"),
    ({"window": 4, "context": -1}, ValueError, "context must be an integer >= 0"),
    ({"window": 4, "batch_size": 0}, ValueError, "batch_size"),
    ({"window": 4, "x": torch.randn(2, 10)}, ValueError, r"\(batch, channels, length\)"),
    ({"window": 4, "x": torch.randn(0, 2, 10)}, ValueError, "at least one series"),
    ({"window": 4, "encoder": torch.nn.Linear(2, 2)}, TypeError, "timestamps"),
])
def test_window_arguments_are_checked(kwargs, error, message):
    arguments = {"encoder": build("fcn_encoder"), "x": torch.randn(2, 2, 10), **kwargs}
    with pytest.raises(error, match=message):
        encode_in_windows(**arguments)


@pytest.mark.slow
def test_fcn_trains_end_to_end_with_the_instance_recipe(tmp_path):
    generator = np.random.default_rng(0)
    t = np.linspace(0, 6.28, 32)
    labels = np.arange(24) % 2
    x = np.stack([np.sin((k + 1) * t + generator.normal()) for k in labels])[:, None, :]
    x[::5, :, 25:] = np.nan  # some shorter series
    path = tmp_path / "waves.npz"
    np.savez(path, x=x[:16], y=labels[:16], x_test=x[16:], y_test=labels[16:])
    run = contrastlearn.pretrain(
        "ts-instance", dataset=str(path), out=tmp_path / "run", progress=False,
        overrides={"encoder.name": "fcn_encoder", "encoder.kwargs": {}, "train.steps": 3,
                   "train.batch_size": 8, "eval.protocols": ["svm"],
                   "eval.raw_baseline": False})
    assert run.training.steps == 3 and run.recipe.encoder.name == "fcn_encoder"
    assert np.isfinite(run.result("svm").value)
    embeddings = contrastlearn.embed(run.run_dir, x[16:])
    assert embeddings.shape == (8, 128) and torch.isfinite(embeddings).all()
