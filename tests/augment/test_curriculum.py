"""Augmentation-strength curricula (linear; cyclical after MCCL, Kesgin & Amasyali 2024, arXiv
2402.09141): values by hand, refusal of strengths outside [0, 1], the strength reaching every
room's views, and exact resume."""

from __future__ import annotations

import json

import pytest
import torch

from contrastlearn.api import build_views
from contrastlearn.augment.curriculum import (
    CyclicalStrength,
    LinearStrength,
    check_schedule,
    strength_rebuilder,
    training_strength,
)
from contrastlearn.augment.views import Views
from contrastlearn.config import RecipeError, recipe_from_dict
from contrastlearn.core.registry import AUGMENTATIONS, STRENGTH_SCHEDULES
from contrastlearn.data.arrays import ArrayDataset
from contrastlearn.engine.trainer import Trainer
from tests.conftest import tiny_recipe_dict
from tests.engine.recording import RecordingMethod, tiny_config


def values(schedule, total: int) -> list[float]:
    return [round(schedule(step, total), 6) for step in range(total)]


def test_linear_schedule_by_hand():
    assert values(LinearStrength(0.0, 1.0), 5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    # a ramp over the first half of 10 steps (steps 0..4), then held
    assert values(LinearStrength(0.2, 0.6, ramp_fraction=0.5), 10) == [
        0.2, 0.3, 0.4, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    assert values(LinearStrength(1.0, 0.0), 3) == [1.0, 0.5, 0.0]  # anti-curriculum


def test_cyclical_schedule_by_hand():
    # 2 cycles of 4 steps rising 0.2 -> 1 (position 0, 1/4, 2/4, 3/4); every 3rd step real
    schedule = CyclicalStrength(cycles=2, low=0.2, high=1.0, real_every=3)
    assert values(schedule, 8) == [0.2, 0.4, 0.0, 0.8, 0.2, 0.0, 0.6, 0.8]
    assert values(CyclicalStrength(cycles=1, low=0.0, high=1.0, real_every=None), 4) == [
        0.0, 0.25, 0.5, 0.75]
    # AdaInf's weaker views scale any schedule; no schedule and no scale: nothing to set
    scaled = training_strength(schedule, 0.5)
    assert values(scaled, 8) == [0.1, 0.2, 0.0, 0.4, 0.1, 0.0, 0.3, 0.4]
    assert values(training_strength(None, 0.5), 2) == [0.5, 0.5]
    assert training_strength(None, 1.0) is None


@pytest.mark.parametrize("name, kwargs, key", [
    ("linear", {"end": 1.5}, "end"), ("linear", {"start": -0.1}, "start"),
    ("cyclical", {"high": 1.2}, "high"), ("cyclical", {"low": -1}, "low"),
])
def test_a_schedule_outside_0_1_is_refused_at_load(name, kwargs, key):
    with pytest.raises(ValueError, match=f"{key} must be in \\[0, 1\\]"):
        STRENGTH_SCHEDULES.build(name, **kwargs)
    recipe = tiny_recipe_dict()
    recipe["train"]["strength_schedule"] = {"name": name, "kwargs": kwargs}
    with pytest.raises(RecipeError) as error:
        recipe_from_dict(recipe)
    message = str(error.value)
    assert "train.strength_schedule" in message and key in message and "\n" not in message


def test_a_custom_schedule_leaving_0_1_is_refused_before_training(tmp_path):
    def overshoot(step: int, total: int) -> float:
        return 0.5 + step / 4

    with pytest.raises(ValueError, match="strength 1.25 at step 3 of 6"):
        check_schedule(overshoot, 6)
    data = ArrayDataset(torch.randn(16, 1, 6, generator=torch.Generator().manual_seed(0)))
    factory, kwargs = AUGMENTATIONS.get("timeseries_views"), {"strength": 1.0}
    views = factory(**kwargs).rebuild_with(strength_rebuilder(factory, kwargs))
    method = RecordingMethod(6)
    trainer = Trainer(method, views, tiny_config(), progress=False, strength_schedule=overshoot)
    with pytest.raises(ValueError, match="train.strength_schedule gives augmentation strength"):
        trainer.fit(data)
    assert method.seen == []  # refused before the first step
    with pytest.raises(ValueError, match="must be in \\[0, 1\\]"):
        views.set_strength(1.01)


def test_views_without_a_strength_setting_are_refused_with_a_schedule():
    recipe = tiny_recipe_dict()
    recipe["views"] = {"name": "random_horizontal_flip", "kwargs": {"p": 0.5}}
    recipe["train"]["strength_schedule"] = {"name": "linear"}
    with pytest.raises(RecipeError, match="'random_horizontal_flip' has no strength setting"):
        recipe_from_dict(recipe)
    recipe["train"]["strength_schedule"] = None
    recipe["data"]["inflation"] = {"generated": "mixup"}  # strength_scale 0.5 needs it too
    with pytest.raises(RecipeError, match="data.inflation.strength_scale"):
        recipe_from_dict(recipe)


def token_rows() -> torch.Tensor:
    """Sentences as CLS (101) ... SEP (102) token ids, padded with 0."""
    rows = [[101, 5, 6, 7, 8, 9, 10, 11, 102, 0], [101, 12, 13, 14, 15, 16, 102, 0, 0, 0],
            [101, 17, 18, 19, 20, 21, 22, 23, 24, 102]]
    return torch.tensor(rows * 3)


ROOMS = {  # room: (views name, kwargs, a batch)
    "image": ("simclr_views", {"size": 8, "strength": 0.5}, torch.rand(
        6, 3, 8, 8, generator=torch.Generator().manual_seed(0))),
    "timeseries": ("timeseries_views", {"strength": 1.0}, torch.randn(
        6, 2, 16, generator=torch.Generator().manual_seed(0))),
    "text": ("eda_views", {"strength": 2.0}, token_rows()),
}


def made(views: Views, x: torch.Tensor, seed: int = 3) -> list[torch.Tensor]:
    return views(x, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_the_strength_reaches_every_rooms_views(room):
    name, kwargs, x = ROOMS[room]
    factory = AUGMENTATIONS.get(name)
    views = factory(**kwargs).rebuild_with(strength_rebuilder(factory, kwargs))
    full = made(views, x)
    views.set_strength(0.5)  # the policy rebuilt at half its configured strength
    half = factory(**{**kwargs, "strength": kwargs["strength"] * 0.5})
    for ours, reference in zip(made(views, x), made(half, x), strict=True):
        assert torch.equal(ours, reference)
    assert any(not torch.equal(a, b) for a, b in zip(made(views, x), full))
    views.set_strength(0.0)  # the no-augmentation control: the input itself
    for view in made(views, x):
        torch.testing.assert_close(view, x, atol=1e-5, rtol=0)
    views.set_strength(1.0)  # and back to the views as configured
    assert all(torch.equal(a, b) for a, b in zip(made(views, x), full))
    assert views.strength == 1.0


def test_build_views_makes_strength_settable_only_where_the_policy_has_one():
    recipe = recipe_from_dict(tiny_recipe_dict())
    assert build_views(recipe, (1, 8, 8)).adjustable
    recipe.views.name, recipe.views.kwargs = "random_horizontal_flip", {}
    views = build_views(recipe, (1, 8, 8))
    assert not views.adjustable
    with pytest.raises(ValueError, match="cannot change strength"):
        views.set_strength(0.5)


def test_a_curriculum_run_resumes_exactly(tmp_path):
    data = ArrayDataset(torch.randn(32, 1, 12, generator=torch.Generator().manual_seed(0)))
    factory, kwargs = AUGMENTATIONS.get("timeseries_views"), {"strength": 1.0}
    schedule = CyclicalStrength(cycles=2, low=0.2, high=1.0, real_every=3)

    def run(out, **settings):
        views = factory(**kwargs).rebuild_with(strength_rebuilder(factory, kwargs))
        torch.manual_seed(0)  # the same initial weights
        method = RecordingMethod(12)
        return Trainer(method, views, tiny_config(**settings), run_dir=out, progress=False,
                       strength_schedule=schedule), method

    (tmp_path / "whole").mkdir()
    (tmp_path / "part").mkdir()
    whole, whole_method = run(tmp_path / "whole")
    whole.fit(data)
    run(tmp_path / "part", max_steps=3)[0].fit(data)
    resumed, resumed_method = run(tmp_path / "part")
    resumed.resume()
    resumed.fit(data)

    def strengths(out):
        lines = (out / "metrics.jsonl").read_text().splitlines()
        return [json.loads(line)["augmentation_strength"] for line in lines]

    expected = [round(schedule(step, 8), 2) for step in range(8)]
    assert strengths(tmp_path / "whole") == expected == strengths(tmp_path / "part")
    for key, value in whole_method.state_dict().items():
        assert torch.equal(value, resumed_method.state_dict()[key]), key
    assert whole.views.strength == 1.0  # evaluation after training sees the recipe's views
