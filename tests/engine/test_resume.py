"""A run stopped after k steps and resumed ends bit-identical to an uninterrupted run."""

import pytest
import torch

from contrastlearn.api import pretrain
from contrastlearn.config import recipe_from_dict
from contrastlearn.engine.checkpoint import load_checkpoint
from tests.conftest import tiny_recipe_dict

pytestmark = pytest.mark.usefixtures("no_report")


@pytest.mark.parametrize("method", [
    "simclr", "moco_v2",
    *(pytest.param(name, marks=pytest.mark.slow) for name in ("byol", "swav", "simclr-dataset")),
])
def test_resume_is_bit_identical(tmp_path, method):
    kwargs = {"moco_v2": {"queue_size": 96, "hidden_dim": 32},
              # the prototypes unfreeze at step 4, after the stop at step 3
              "swav": {"num_prototypes": 10, "hidden_dim": 32, "freeze_prototypes_steps": 4},
              }.get(method, {"hidden_dim": 32})
    recipe = recipe_from_dict(tiny_recipe_dict(method.removesuffix("-dataset"), **kwargs))
    dataset = None
    if method.endswith("-dataset"):  # a user's torch Dataset goes through a DataLoader
        generator = torch.Generator().manual_seed(0)
        dataset = torch.utils.data.TensorDataset(torch.rand(320, 1, 8, 8, generator=generator),
                                                 torch.arange(320) % 4)
    full = pretrain(recipe, dataset=dataset, out=tmp_path / "full", progress=False,
                    evaluate_after=False)

    stopped = pretrain(recipe, dataset=dataset, out=tmp_path / "part", progress=False,
                       evaluate_after=False,
                       overrides={"train.max_steps": 3, "train.checkpoint_every_steps": 1})
    assert stopped.training.steps == 3
    resumed = pretrain(out=tmp_path / "part", dataset=dataset, resume=True, progress=False,
                       evaluate_after=False, overrides={"train.max_steps": None})
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
    assert state["train_state"]["batch_size"] == 64 and state["train_state"]["num_samples"] == 256
    assert state["optimizer"]["state"], "optimizer moments must be saved"
    assert len(state["rng"]) == 1, "one set of random states per process"
    assert state["rng"][0]["views"].dtype == torch.uint8


def test_resume_with_other_batch_size_is_refused(tmp_path):
    recipe = recipe_from_dict(tiny_recipe_dict())
    pretrain(recipe, out=tmp_path / "run", progress=False, evaluate_after=False,
             overrides={"train.max_steps": 2})
    with pytest.raises(ValueError, match="batch size 64 on 256 samples"):
        pretrain(out=tmp_path / "run", resume=True, progress=False, evaluate_after=False,
                 overrides={"train.batch_size": 32, "train.max_steps": None})
    assert not list((tmp_path / "run" / "checkpoints").glob("*.tmp"))
