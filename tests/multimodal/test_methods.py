"""The multimodal methods: every one trains every room's encoder through the shared space, and
CLIP learns (trained beats untrained on held-out retrieval and zero-shot)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import contrastlearn
from contrastlearn.config import recipe_from_dict
from contrastlearn.core.registry import AUGMENTATIONS, ENCODERS, METHODS, MODALITIES
from contrastlearn.data.resolve import filled_encoder_kwargs, prepare_for_encoder, resolve_dataset
from tests.multimodal.test_room import ENCODERS_SPEC, records

pytestmark = pytest.mark.usefixtures("one_thread")


def three_way_records(count: int = 48) -> dict:
    data = records(count)
    rng = np.random.default_rng(1)
    series = rng.normal(size=(count, 1, 16)).astype(np.float32)
    series[:, 0, :4] += data["y"][:, None]
    data["x"]["timeseries"] = series
    return data


SERIES_ENCODER = {"name": "mlp", "kwargs": {"hidden_dims": [16], "out_dim": 8}}


def encoder_and_batch(data: dict, specs: dict):
    splits = resolve_dataset(data, modality="multimodal")
    factory = ENCODERS.get("multimodal_encoder")
    encoder = factory(**filled_encoder_kwargs(factory, {"encoders": specs, "embed_dim": 8},
                                              splits))
    splits = prepare_for_encoder(splits, encoder)
    return encoder, splits.train.batch_x(torch.arange(16))


def views_of(batch, encoder, count: int = 1):
    offered = MODALITIES.get("multimodal").view_inputs((), encoder)
    views = AUGMENTATIONS.get("paired_views")(views={"image": {"name": "simclr_views"}},
                                              count=count, **offered)
    return views(batch, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name, kwargs, count", [
    ("clip", {}, 1),
    ("siglip", {"chunk_size": 4}, 1),
    ("clip_gap", {}, 1),
    ("clip_ssl", {"ssl_objective": "vicreg", "hidden_dim": 16, "projection_dim": 8}, 2),
    ("clip_ssl", {"ssl_objective": "infonce", "hidden_dim": 16, "projection_dim": 8}, 2),
])
def test_two_modality_methods_train_both_encoders(name, kwargs, count):
    encoder, batch = encoder_and_batch(records(), ENCODERS_SPEC)
    method = METHODS.build(name, encoder=encoder, **kwargs)
    output = method(views_of(batch, encoder, count), ids=torch.arange(16))
    assert torch.isfinite(output.loss)
    output.loss.backward()
    for room in ("image", "text"):
        grads = [p.grad for p in encoder.encoders[room].parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), room


@pytest.mark.parametrize("name", ["symile", "pairwise_clip"])
def test_three_modality_methods_train_every_encoder(name):
    specs = {**ENCODERS_SPEC, "timeseries": SERIES_ENCODER}
    encoder, batch = encoder_and_batch(three_way_records(), specs)
    method = METHODS.build(name, encoder=encoder)
    output = method([batch], ids=torch.arange(16))
    output.loss.backward()
    for room in specs:
        assert any(p.grad is not None and p.grad.abs().sum() > 0
                   for p in encoder.encoders[room].parameters()), room
    with pytest.raises(ValueError, match="exactly 2 modalities"):
        METHODS.build("clip", encoder=encoder)


def test_clip_ssl_needs_two_views():
    encoder, batch = encoder_and_batch(records(), ENCODERS_SPEC)
    method = METHODS.build("clip_ssl", encoder=encoder, hidden_dim=16, projection_dim=8)
    with pytest.raises(ValueError, match="count: 2"):
        method([batch], ids=torch.arange(16))


VIT = {"name": "vit_tiny", "kwargs": {"patch_size": 2, "dim": 16, "depth": 1,
                                      "heads": 2}}


@pytest.mark.parametrize("selection, score", [("attentive", "cls_attention"),
                                              ("attentive", "text"), ("random", "text")])
def test_attentive_mask_clip_keeps_a_share_of_the_patches(selection, score):
    encoder, batch = encoder_and_batch(records(), {**ENCODERS_SPEC, "image": VIT})
    method = METHODS.build("attentive_mask_clip", encoder=encoder, keep_ratio=0.25,
                           selection=selection, score=score, momentum=0.5)
    text = encoder.embed("text", batch.parts["text"])
    keep = method.kept_patches(batch.parts["image"], text)
    assert keep.shape == (16, 4) and keep.dtype == torch.int64  # 16 patches, a quarter kept
    output = method([batch], ids=torch.arange(16))
    output.loss.backward()
    before = [p.clone() for p in method.momentum_image.parameters()]
    with torch.no_grad():
        for parameter in encoder.encoders["image"].parameters():
            parameter.add_(1.0)
    method.after_optimizer_step(1, 10)
    assert any(not torch.equal(a, b) for a, b in zip(before, method.momentum_image.parameters()))


def test_attentive_mask_clip_needs_a_patch_encoder():
    encoder, _ = encoder_and_batch(records(), ENCODERS_SPEC)
    with pytest.raises(TypeError, match="vit_tiny"):
        METHODS.build("attentive_mask_clip", encoder=encoder)


@pytest.mark.slow
@pytest.mark.usefixtures("no_report")
def test_clip_learns_to_match_images_and_captions(tmp_path):
    """Trained CLIP beats the same encoder at step 0 on held-out zero-shot accuracy and
    text->image retrieval (images whose bright quadrant is the class named by the caption)."""
    def run(epochs: int, out: str) -> dict:
        recipe = recipe_from_dict({
            "seed": 0, "data": {"modality": "multimodal"}, "views": {"name": "paired_views"},
            "encoder": {"name": "multimodal_encoder",
                        "kwargs": {"embed_dim": 8, "encoders": ENCODERS_SPEC}},
            "method": {"name": "clip"},
            "train": {"epochs": epochs, "batch_size": 32, "lr": 0.003, "accelerator": "cpu",
                      "max_steps": None if epochs else 1, "warmup_epochs": 0},
            "eval": {"labels_per_class": [], "protocols": ["knn"], "raw_baseline": False},
        })
        if not epochs:
            recipe.train.epochs, recipe.train.lr = 1, 1e-9
        result = contrastlearn.pretrain(recipe, dataset=records(240), out=tmp_path / out,
                                        progress=False)
        return {(r.protocol, r.metric): r.value for r in result.results}

    untrained, trained = run(0, "untrained"), run(30, "trained")
    assert trained[("zero_shot", "top1")] > untrained[("zero_shot", "top1")] + 0.2
    key = ("text_to_image_retrieval", "recall@1")
    assert trained[key] > untrained[key]


def test_three_modalities_are_judged_jointly_and_pairwise():
    specs = {**ENCODERS_SPEC, "timeseries": SERIES_ENCODER}
    splits = resolve_dataset(three_way_records(), modality="multimodal")
    factory = ENCODERS.get("multimodal_encoder")
    encoder = factory(**filled_encoder_kwargs(factory, {"encoders": specs, "embed_dim": 8},
                                              splits))
    splits = prepare_for_encoder(splits, encoder)
    results = splits.extras["cross_modal"].evaluate(encoder)
    joint = {(r.settings["direction"], r.settings["scoring"]) for r in results
             if "scoring" in r.settings and r.metric == "recall@1"}
    assert ("image_and_text->timeseries", "multilinear") in joint
    assert any(r.protocol == "image_and_text_to_timeseries_multilinear_retrieval"
               for r in results)
    assert ("image_and_timeseries->text", "pairwise_sum") in joint
    assert {r.protocol for r in results} >= {"image_to_text_retrieval", "modality_gap",
                                             "zero_shot", "linear_probe"}
