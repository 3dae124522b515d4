"""TS2Vec: the hierarchical loss against a naive loop, the encoder, the overlapping crops, and
the method end to end on NaN-padded series, where it must beat its untrained encoder."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import contrastlearn
from contrastlearn.modalities.timeseries.augment import overlapping_crops
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder
from contrastlearn.modalities.timeseries.methods.ts2vec import TS2Vec
from contrastlearn.objectives.hierarchical import (
    HierarchicalContrastive,
    instance_contrastive,
    temporal_contrastive,
)
from tests.learning import assert_learned, untrained_score
from tests.objectives.pyramid import pyramid_loss
from tests.timeseries.resume import assert_resumes_exactly


def naive_contrast(first, second, over_batch: bool) -> float:
    """Loop reference: every item of both views finds its counterpart among the others."""
    first, second = first.double(), second.double()
    if over_batch:  # groups are timestamps, items are series
        first, second = first.transpose(0, 1), second.transpose(0, 1)
    losses = []
    for a, b in zip(first, second):
        items = torch.cat([a, b])
        count = len(a)
        for i in range(2 * count):
            others = [j for j in range(2 * count) if j != i]
            scores = torch.stack([items[i] @ items[j] for j in others])
            target = others.index(i + count if i < count else i - count)
            losses.append(-torch.log_softmax(scores, 0)[target])
    return float(torch.stack(losses).mean())


def naive_hierarchical(first, second, alpha=0.5, temporal_unit=0) -> float:
    return pyramid_loss(first, second, lambda a, b, _: naive_contrast(a, b, False),
                        lambda a, b, _: naive_contrast(a, b, False), alpha, temporal_unit)


@pytest.mark.parametrize("length,alpha,unit", [(7, 0.5, 0), (8, 0.3, 1), (1, 0.5, 0)])
def test_hierarchical_loss_matches_naive_loops(length, alpha, unit):
    generator = torch.Generator().manual_seed(length)
    first = torch.randn(3, length, 4, generator=generator)
    second = torch.randn(3, length, 4, generator=generator)
    got = HierarchicalContrastive(alpha, unit)(first, second).loss
    assert float(got) == pytest.approx(naive_hierarchical(first, second, alpha, unit), rel=1e-5)


def test_contrast_terms_and_gradients():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(4, 5, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 5, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    assert float(instance_contrastive(a, b).detach()) == pytest.approx(
        naive_contrast(a.detach(), b.detach(), True))
    assert float(temporal_contrastive(a, b).detach()) == pytest.approx(
        naive_contrast(a.detach(), b.detach(), False))
    assert float(instance_contrastive(a[:1], b[:1])) == 0.0
    torch.autograd.gradcheck(lambda x, y: HierarchicalContrastive()(x, y).loss, (a, b))
    with pytest.raises(ValueError, match="one shape"):
        HierarchicalContrastive()(a, b[:, :4])


def test_encoder_shapes_padding_and_channels():
    encoder = TS2VecEncoder(in_channels=2, hidden_dim=8, out_dim=16, depth=3).eval()
    x = torch.randn(3, 2, 30)
    x[1, :, 20:] = float("nan")
    features, valid = encoder.timestamps(x)
    assert features.shape == (3, 30, 16) and valid.sum(1).tolist() == [30, 20, 30]
    pooled = encoder(x)
    assert pooled.shape == (3, 16) and torch.isfinite(pooled).all()
    torch.testing.assert_close(pooled[1], features[1, :20].amax(0))
    assert encoder.receptive_field == 1 + 2 * 2 * (1 + 2 + 4 + 8)
    with pytest.raises(ValueError, match="2 channel"):
        encoder(torch.randn(3, 3, 30))


def test_overlapping_crops_share_their_overlap():
    x = torch.arange(40.0).expand(6, 2, -1).clone()
    first, second, overlap = overlapping_crops(x, torch.Generator().manual_seed(3))
    assert overlap >= 2
    torch.testing.assert_close(first[:, :, -overlap:], second[:, :, :overlap], equal_nan=True)
    same = overlapping_crops(x, torch.Generator().manual_seed(3))
    torch.testing.assert_close(same[0], first, equal_nan=True)
    with pytest.raises(ValueError, match="shorter"):
        overlapping_crops(torch.randn(2, 1, 3), torch.Generator(), min_overlap=4)


def test_method_step_is_seeded_and_advances_its_generator():
    torch.manual_seed(0)
    encoder = TS2VecEncoder(in_channels=1, hidden_dim=8, out_dim=16, depth=2)
    method = TS2Vec(encoder, seed=5)
    x = torch.randn(4, 1, 32)
    before = method.rng_state.clone()
    output = method([x])
    assert math.isfinite(float(output.loss.detach())) and output.loss.requires_grad
    assert not torch.equal(before, method.rng_state)
    assert output.embeddings[0].shape == (4, 16)
    flat = torch.nn.Linear(3, 3)
    flat.out_dim = 3
    with pytest.raises(TypeError, match="per-timestamp"):
        TS2Vec(flat)


def test_reconstruction_term_adds_its_weighted_error_to_the_ts2vec_loss():
    torch.manual_seed(0)
    encoder = TS2VecEncoder(in_channels=2, hidden_dim=8, out_dim=16, depth=2).eval()
    plain = TS2Vec(encoder, seed=5)
    assert plain.decoder is None and "decoder.weight" not in plain.state_dict()
    weighted = [TS2Vec(encoder, seed=5, reconstruction_weight=w) for w in (1.0, 3.0)]
    weighted[1].decoder.load_state_dict(weighted[0].decoder.state_dict())
    x = torch.randn(6, 2, 30)
    x[2, :, 22:] = float("nan")  # padding: never a reconstruction target
    base = plain([x]).loss
    outputs = [method([x]) for method in weighted]
    error = outputs[0].metrics["reconstruction"]
    assert error > 0 and torch.isfinite(outputs[1].loss)
    torch.testing.assert_close(outputs[0].loss, base + error)
    torch.testing.assert_close(outputs[1].loss, base + 3 * error)
    outputs[0].loss.backward()
    assert weighted[0].decoder.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="reconstruction_weight"):
        TS2Vec(encoder, reconstruction_weight=-1.0)


def test_reconstruction_error_is_the_masked_timestamps_error():
    """An independent reference: a decoder that outputs zeros scores the mean square of the
    input values at the timestamps the step masked, which are the ones whose latent features
    it zeroed (an encoder that records its `keep` masks and crops)."""
    torch.manual_seed(0)
    encoder = TS2VecEncoder(in_channels=1, hidden_dim=8, out_dim=16, depth=2).eval()
    seen = []
    original = encoder.timestamps

    def recording(crop, keep=None, layers=()):
        seen.append((crop, keep))
        return original(crop, keep, layers)

    encoder.timestamps = recording
    method = TS2Vec(encoder, seed=1, reconstruction_weight=1.0)
    torch.nn.init.zeros_(method.decoder.weight)
    torch.nn.init.zeros_(method.decoder.bias)
    error = method([torch.randn(4, 1, 25)]).metrics["reconstruction"]
    expected = [crop[:, 0][~keep & torch.isfinite(crop[:, 0])].square().mean()
                for crop, keep in seen]
    torch.testing.assert_close(error, (expected[0] + expected[1]) / 2)


@pytest.mark.parametrize("recipe", [
    "ts2vec", *(pytest.param(name, marks=pytest.mark.slow)
                for name in ("ts2vec-recon", "ts2vec-recon-universum"))])
def test_ts2vec_recipe_learns_end_to_end_and_resumes(tmp_path, noisy_waves_file, recipe):
    path = str(noisy_waves_file)
    overrides = {"train.steps": 60, "encoder.kwargs.depth": 2, "encoder.kwargs.out_dim": 32,
                 "eval.protocols": ["svm", "knn"]}
    run = contrastlearn.pretrain(recipe, dataset=path, out=tmp_path / "run",
                                 overrides=overrides, progress=False)
    assert run.training.steps == 60 and run.training.status == "completed"
    svm = run.result("svm")
    assert svm.split == "test"
    assert_learned(svm.value, untrained_score(recipe, "svm", path, overrides))
    assert (run.run_dir / "report.html").is_file()
    embeddings = contrastlearn.embed(run.run_dir, np.load(path)["x_test"])
    assert embeddings.shape == (90, 32) and torch.isfinite(embeddings).all()

    assert_resumes_exactly(run, recipe, path, overrides, tmp_path, stop_at=30)


@pytest.mark.slow  # a full recipe run
def test_instance_contrast_recipe_learns_on_series(tmp_path, noisy_waves_file):
    path = str(noisy_waves_file)
    overrides = {"train.steps": 60, "encoder.kwargs.depth": 2, "encoder.kwargs.out_dim": 32,
                 "eval.protocols": ["svm"], "eval.raw_baseline": False}
    run = contrastlearn.pretrain("ts-instance", dataset=path, out=tmp_path / "inst",
                                 progress=False, overrides=overrides)
    assert run.recipe.method.name == "simclr" and run.training.steps == 60
    assert_learned(run.result("svm").value,
                   untrained_score("ts-instance", "svm", path, overrides))
    assert (run.run_dir / "plots" / "views.png").is_file()
