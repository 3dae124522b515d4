"""The cab_kws method: its contrastive term against a naive-loop NT-Xent (value and gradient),
its reconstruction term against a direct MSE, training on a tiny batch, and refusals."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import contrastlearn.modalities.audio.encoders  # noqa: F401  (registers the encoders)
import contrastlearn.modalities.audio.methods  # noqa: F401  (registers the method)
from contrastlearn.core.registry import ENCODERS, METHODS

pytestmark = pytest.mark.usefixtures("one_thread")

TEMPERATURE = 0.2


def naive_nt_xent(z_a, z_b, temperature):
    """Two views, NT-Xent by a loop over the 2B anchors (SimCLR's eq. 1)."""
    rows = torch.cat([z_a, z_b])
    batch = z_a.shape[0]
    total = 0.0
    for i in range(2 * batch):
        positive = (i + batch) % (2 * batch)
        numerator = None
        denominator = 0.0
        for k in range(2 * batch):
            if k == i:
                continue
            cosine = torch.dot(rows[i], rows[k]) / (rows[i].norm() * rows[k].norm())
            term = torch.exp(cosine / temperature)
            denominator = denominator + term
            if k == positive:
                numerator = term
        total = total - torch.log(numerator / denominator)
    return total / (2 * batch)


def make_method(encoder_name="cab_kws", **kwargs):
    torch.manual_seed(0)
    encoder = ENCODERS.build(encoder_name, width=8)
    return METHODS.build("cab_kws", encoder=encoder, projection_dim=16, hidden_dim=32,
                         temperature=TEMPERATURE, gather=False, **kwargs)


def speed_volume_views(batch=6, samples=3200, seed=0):
    """Two views of random 'clips': a gain change, and a crude 1.25x speed-up by resampling."""
    generator = torch.Generator().manual_seed(seed)
    clips = 0.1 * torch.randn(batch, 1, samples, generator=generator)
    faster = F.interpolate(clips, scale_factor=1.25, mode="linear")[..., :samples]
    return [0.5 * clips, faster]


def embed(method, view):
    """The method's projection of one view, computed here step by step (eval mode)."""
    return method.projector(method.encoder.pool(method.encoder.bottleneck(view)))


@pytest.mark.parametrize("encoder_name", ["cab_kws", "audio_cnn"])
def test_contrastive_term_matches_naive_nt_xent(encoder_name):
    method = make_method(encoder_name).eval()
    views = speed_volume_views()
    output = method(views)
    expected = naive_nt_xent(embed(method, views[0]), embed(method, views[1]), TEMPERATURE)
    torch.testing.assert_close(output.metrics["contrastive"], expected.detach(),
                               rtol=1e-5, atol=1e-6)
    assert output.metrics["contrastive"].dim() == 0
    assert not output.metrics["contrastive"].requires_grad


def test_contrastive_gradient_matches_naive_nt_xent():
    method = make_method(reconstruction_weight=0.0).eval()
    views = speed_volume_views()
    method(views).loss.backward()
    ours = {name: p.grad.clone() for name, p in method.named_parameters() if p.grad is not None}
    method.zero_grad()
    naive_nt_xent(embed(method, views[0]), embed(method, views[1]), TEMPERATURE).backward()
    checked = 0
    for name, parameter in method.named_parameters():
        if name.startswith("decoder"):
            continue
        torch.testing.assert_close(ours[name], parameter.grad, rtol=1e-4, atol=1e-6, msg=name)
        checked += 1
    assert checked > 10


def test_reconstruction_term_is_the_mse_of_the_decoded_bottleneck():
    method = make_method().eval()
    views = speed_volume_views()
    output = method(views)
    errors = []
    for view in views:
        target = method.encoder.features(view)
        decoded = method.decoder(method.encoder.bottleneck(view), target.shape[-2:])
        assert decoded.shape == target.shape
        errors.append(((decoded - target) ** 2).mean())
    torch.testing.assert_close(output.metrics["reconstruction"], torch.stack(errors).mean())
    expected_loss = output.metrics["contrastive"] + 1.0 * output.metrics["reconstruction"]
    torch.testing.assert_close(output.loss.detach(), expected_loss)


def test_reconstruction_weight_scales_the_auxiliary_term():
    views = speed_volume_views()
    light = make_method(reconstruction_weight=0.5).eval()(views)
    heavy = make_method(reconstruction_weight=3.0).eval()(views)
    torch.testing.assert_close(heavy.loss - light.loss, 2.5 * light.metrics["reconstruction"])


def reconstruction_input_gradients(method, views, detach_target):
    inputs = [view.detach().requires_grad_(True) for view in views]
    errors = []
    for view in inputs:
        target = method.encoder.features(view)
        target = target.detach() if detach_target else target
        decoded = method.decoder(method.encoder.bottleneck(view), target.shape[-2:])
        errors.append(F.mse_loss(decoded, target))
    torch.stack(errors).mean().backward()
    return [view.grad for view in inputs]


def test_the_reconstruction_target_is_detached():
    """Gradient of the reconstruction term alone (full loss minus the weight-0 loss) w.r.t. the
    views: that of a direct MSE with a detached target, not of one with a live target."""
    method = make_method().eval()
    views = speed_volume_views()

    def input_gradients():
        inputs = [view.detach().requires_grad_(True) for view in views]
        method(inputs).loss.backward()
        return [view.grad for view in inputs]

    full = input_gradients()
    method.reconstruction_weight = 0.0
    contrastive_only = input_gradients()
    method.zero_grad()
    detached = reconstruction_input_gradients(method, views, detach_target=True)
    live = reconstruction_input_gradients(method, views, detach_target=False)
    for total, contrastive, expected, wrong in zip(full, contrastive_only, detached, live):
        torch.testing.assert_close(total - contrastive, expected, rtol=1e-3, atol=1e-7)
        assert not torch.allclose(total - contrastive, wrong, rtol=1e-3, atol=1e-7)


def test_log_mel_views_give_the_same_loss_as_waveform_views():
    method = make_method().eval()
    views = speed_volume_views()
    features = [method.encoder.frontend(view) for view in views]
    torch.testing.assert_close(method(features).loss, method(views).loss)
    mixed = method([views[0], features[1]])
    torch.testing.assert_close(mixed.loss, method(views).loss)


def test_a_few_steps_reduce_the_loss():
    method = make_method().train()
    views = speed_volume_views(batch=8)
    optimizer = torch.optim.Adam(method.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        output = method(views)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        losses.append(float(output.loss.detach()))
    assert math.isfinite(losses[-1])
    assert losses[-1] < 0.8 * losses[0]


def test_output_carries_embeddings_and_metrics():
    method = make_method()
    output = method(speed_volume_views())
    assert [tuple(z.shape) for z in output.embeddings] == [(6, 16), (6, 16)]
    assert {"contrastive", "reconstruction", "contrastive_accuracy"} <= set(output.metrics)
    assert all(not value.requires_grad for value in output.metrics.values()
               if isinstance(value, torch.Tensor))
    assert METHODS.get("cab_kws").default_views == "kws_speed_volume_views"


class FlatEncoder(nn.Module):
    """An encoder with `out_dim` but no bottleneck maps."""

    out_dim = 8

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(100, 8)

    def forward(self, x):
        return self.linear(x.flatten(1))


def test_encoder_without_bottleneck_is_refused():
    with pytest.raises(TypeError, match="use encoder 'cab_kws' or 'audio_cnn'"):
        METHODS.build("cab_kws", encoder=FlatEncoder())


def test_negative_reconstruction_weight_is_refused():
    with pytest.raises(ValueError, match="reconstruction_weight"):
        make_method(reconstruction_weight=-1.0)


def test_a_single_view_is_refused():
    with pytest.raises(ValueError, match="at least two"):
        make_method()(speed_volume_views()[:1])
