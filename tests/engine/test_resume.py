"""A run stopped after k steps and resumed ends bit-identical to an uninterrupted run."""

import pytest
import torch

from contrastlearn.api import pretrain
from contrastlearn.config import recipe_from_dict
from contrastlearn.engine.checkpoint import load_checkpoint
from tests.conftest import tiny_recipe_dict


@pytest.mark.parametrize("method", ["simclr", "moco_v2", "byol", "swav"])
def test_resume_is_bit_identical(tmp_path, method):
    kwargs = {"moco_v2": {"queue_size": 96, "hidden_dim": 32},
              "swav": {"num_prototypes": 10, "hidden_dim": 32}}.get(method, {"hidden_dim": 32})
    recipe = recipe_from_dict(tiny_recipe_dict(method, **kwargs))
    full = pretrain(recipe, out=tmp_path / "full", progress=False, evaluate_after=False)

    stopped = pretrain(recipe, out=tmp_path / "part", progress=False, evaluate_after=False,
                       overrides={"train.max_steps": 3, "train.checkpoint_every_steps": 1})
    assert stopped.training.steps == 3
    resumed = pretrain(out=tmp_path / "part", resume=True, progress=False, evaluate_after=False,
                       overrides={"train.max_steps": None})
    # the override of max_steps must be carried by the resumed run's recipe
    assert resumed.training.steps == full.training.steps
    full_state = full.method.state_dict()
    for key, value in resumed.method.state_dict().items():
        assert torch.equal(value, full_state[key]), key
    lines = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len((tmp_path / "full" / "metrics.jsonl").read_text().splitlines())


def test_checkpoint_holds_everything_needed(tmp_path):
    recipe = recipe_from_dict(tiny_recipe_dict())
    pretrain(recipe, out=tmp_path / "run", progress=False, evaluate_after=False)
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert {"method", "optimizer", "train_state", "rng"} <= set(state)
    assert state["train_state"]["step"] == 8
    assert not list((tmp_path / "run" / "checkpoints").glob("*.tmp"))
