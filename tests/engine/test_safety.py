"""Bad situations: foreign, damaged and pickled checkpoints, NaN/Inf in the state, NaN losses."""

import json
import os
import pickle

import pytest
import torch

from contrastlearn.api import pretrain
from contrastlearn.config import recipe_from_dict
from contrastlearn.engine.checkpoint import (
    CheckpointError,
    NonFiniteState,
    load_checkpoint,
    save_checkpoint,
)
from contrastlearn.engine.trainer import TrainingDiverged
from tests.conftest import tiny_recipe_dict


class Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickle_payload_is_refused_without_executing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.ckpt"
    torch.save({"format": "contrastlearn-checkpoint-v1", "x": Payload()}, path)
    with pytest.raises(CheckpointError, match="refusing"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)
    assert not (tmp_path / "pwned").exists()


def test_foreign_and_corrupt_checkpoints_are_refused(tmp_path):
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a contrastlearn checkpoint"):
        load_checkpoint(foreign)
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError):
        load_checkpoint(corrupt)
    good = tmp_path / "good.ckpt"
    save_checkpoint(good, {"w": torch.ones(2)})
    assert torch.equal(load_checkpoint(good)["w"], torch.ones(2))


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    from contrastlearn.engine.trainer import Trainer

    recipe = recipe_from_dict(tiny_recipe_dict())
    run = pretrain(recipe, out=tmp_path / "run", progress=False, evaluate_after=False,
                   overrides={"train.max_steps": 2})
    checkpoint = run.run_dir / "checkpoints" / "last.ckpt"
    before = checkpoint.read_bytes()
    trainer = Trainer(run.method, _views(recipe), recipe.train,
                      run_dir=run.run_dir, progress=False)
    with torch.no_grad():
        next(run.method.parameters()).fill_(float("inf"))
    with pytest.raises(TrainingDiverged, match="training state"):
        trainer.save()
    assert checkpoint.read_bytes() == before
    assert json.loads((run.run_dir / "training.json").read_text())["status"] == "diverged"


def _views(recipe):
    from contrastlearn.api import build_views

    return build_views(recipe, (1, 8, 8))


def test_nan_loss_stops_run_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    recipe = recipe_from_dict(tiny_recipe_dict())
    out = tmp_path / "run"
    pretrain(recipe, out=out, progress=False, evaluate_after=False,
             overrides={"train.max_steps": 4, "train.checkpoint_every_steps": 2})
    checkpoint = out / "checkpoints" / "last.ckpt"
    before = checkpoint.read_bytes()

    from contrastlearn.methods.simclr import SimCLR

    original = SimCLR.training_step

    def poisoned(self, views, *, labels, ids):
        output = original(self, views, labels=labels, ids=ids)
        output.loss = output.loss * float("nan")
        return output

    monkeypatch.setattr(SimCLR, "training_step", poisoned)
    with pytest.raises(TrainingDiverged, match="last good checkpoint"):
        pretrain(out=out, resume=True, progress=False, evaluate_after=False,
                 overrides={"train.max_steps": None})
    assert checkpoint.read_bytes() == before
    assert load_checkpoint(checkpoint)["train_state"]["step"] == 4
    summary = json.loads((out / "training.json").read_text())
    assert summary["status"] == "diverged" and "loss" in summary["warnings"][-1]
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "diverged" and events[-1]["what"] == "loss"
    page = (out / "report.html").read_text()
    assert "training diverged" in page


def test_inf_in_a_batchnorm_buffer_or_optimizer_moment_is_never_checkpointed(tmp_path):
    """Parameters alone are not enough: a BatchNorm running variance of inf (what a learning
    rate of 1e6 leaves) or an inf Adam moment would make the kept checkpoint unresumable."""
    from contrastlearn.engine.trainer import Trainer

    recipe = recipe_from_dict(tiny_recipe_dict())
    run = pretrain(recipe, out=tmp_path / "run", progress=False, evaluate_after=False,
                   overrides={"train.max_steps": 2})
    checkpoint = run.run_dir / "checkpoints" / "last.ckpt"
    before = checkpoint.read_bytes()
    trainer = Trainer(run.method, _views(recipe), recipe.train, run_dir=run.run_dir,
                      progress=False)
    running_vars = [buffer for name, buffer in run.method.named_buffers()
                    if name.endswith("running_var")]
    assert running_vars, "the tiny recipe's encoder has BatchNorm"
    running_vars[0].fill_(float("inf"))
    with pytest.raises(TrainingDiverged, match="running_var"):
        trainer.save()
    assert checkpoint.read_bytes() == before
    state = load_checkpoint(checkpoint)  # a real state, with the optimizer's moments
    state.pop("format")
    first = next(iter(state["optimizer"]["state"].values()))
    first[next(key for key, value in first.items() if value.is_floating_point()
               and value.dim() > 0)].fill_(float("nan"))
    with pytest.raises(NonFiniteState, match="optimizer"):
        save_checkpoint(checkpoint, state)
    assert checkpoint.read_bytes() == before


def test_a_damaged_checkpoint_is_refused_and_the_previous_one_is_kept(tmp_path):
    state = {"w": torch.arange(4000, dtype=torch.float32), "moment": torch.ones(3000)}
    path = tmp_path / "last.ckpt"
    save_checkpoint(path, state)
    save_checkpoint(path, {**state, "w": state["w"] + 1})
    previous = tmp_path / "previous.ckpt"
    assert torch.equal(load_checkpoint(previous)["w"], state["w"])
    content = bytearray(path.read_bytes())
    content[len(content) // 2:len(content) // 2 + 5000] = bytes(5000)  # zero 5,000 bytes
    path.write_bytes(bytes(content))
    with pytest.raises(CheckpointError, match="damaged.*--resume previous"):
        load_checkpoint(path)
    assert torch.equal(load_checkpoint(previous)["moment"], torch.ones(3000))


def test_a_checkpoint_of_the_older_format_still_loads(tmp_path):
    path = tmp_path / "old.ckpt"
    torch.save({"format": "contrastlearn-checkpoint-v1", "w": torch.ones(2)}, path)
    assert torch.equal(load_checkpoint(path)["w"], torch.ones(2))
