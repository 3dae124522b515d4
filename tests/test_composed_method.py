"""Recipes compose a method from the HEADS and OBJECTIVES registries by name."""

import pytest
import torch

import contrastlearn
from contrastlearn.config import load_recipe
from contrastlearn.core.registry import METHODS
from contrastlearn.methods import Composed, DecoupledContrastive, SimCLR
from contrastlearn.modalities.image.encoders import SmallCNN


def views_and_ids():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(16, 1, 8, 8, generator=generator)
    noisy = (images + 0.1 * torch.randn(images.shape, generator=generator)).clamp(0, 1)
    return [images, noisy], torch.arange(16)


def built(factory, **kwargs):
    torch.manual_seed(0)
    return factory(encoder=SmallCNN(in_channels=1, width=8, out_dim=16), **kwargs)


@pytest.mark.parametrize(("preset", "objective", "objective_kwargs", "preset_kwargs"), [
    (SimCLR, "infonce", {"temperature": 0.2}, {"temperature": 0.2}),
    (DecoupledContrastive, "dcl", {"temperature": 0.1, "weighted": True},
     {"temperature": 0.1, "weighted": True}),
])
def test_named_parts_give_the_preset_method(preset, objective, objective_kwargs, preset_kwargs):
    views, ids = views_and_ids()
    head = {"hidden_dim": 32, "out_dim": 8}
    composed = built(Composed, head="projection_mlp", head_kwargs=head, objective=objective,
                     objective_kwargs=objective_kwargs)
    reference = built(preset, hidden_dim=32, projection_dim=8, **preset_kwargs)
    ours, theirs = composed(views, ids=ids), reference(views, ids=ids)
    torch.testing.assert_close(ours.loss, theirs.loss)
    ours.loss.backward()
    theirs.loss.backward()
    for (name, a), (_, b) in zip(composed.named_parameters(), reference.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_labels_reach_only_objectives_that_need_them():
    views, ids = views_and_ids()
    labels = torch.arange(16) % 2
    simclr = built(Composed, head_kwargs={"hidden_dim": 32, "out_dim": 8})
    assert not simclr.needs_labels
    torch.testing.assert_close(simclr(views, ids=ids, labels=labels).loss,
                               simclr(views, ids=ids).loss)
    supervised = built(Composed, head_kwargs={"hidden_dim": 32, "out_dim": 8},
                       objective="supcon")
    assert supervised.needs_labels
    with pytest.raises(ValueError, match="supervised"):
        supervised(views, ids=ids)
    assert supervised(views, ids=ids, labels=labels).loss.isfinite()


def test_objectives_that_do_not_compare_views_are_refused():
    with pytest.raises(ValueError, match="does not compare view embeddings"):
        built(Composed, objective="hierarchical_contrastive")


def test_a_recipe_names_simclrs_pipeline_with_the_dcl_objective(tmp_path):
    recipe = load_recipe("digits-simclr").model_dump()
    recipe["method"] = {"name": "composed", "kwargs": {
        "head_kwargs": {"hidden_dim": 64, "out_dim": 32},
        "objective": "dcl", "objective_kwargs": {"temperature": 0.2}}}
    recipe["train"].update(max_steps=3, batch_size=64)
    recipe["eval"].update(protocols=["knn"], labels_per_class=[], raw_baseline=False)
    run = contrastlearn.pretrain(contrastlearn.Recipe.model_validate(recipe), progress=False,
                                 out=tmp_path / "run", overrides={"data.limit": 256})
    assert type(run.method.objective).__name__ == "DCL" and run.training.steps == 3
    assert "composed" in METHODS.names()
