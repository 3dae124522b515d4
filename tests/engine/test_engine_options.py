"""Engine options: optimizers, schedules, precision, clipping, EMA and the kNN monitor."""

import json
import math

import pytest
import torch
from torch import nn

import contrastlearn
from contrastlearn.api import load_run_data
from contrastlearn.config import recipe_from_dict
from contrastlearn.core.ema import make_momentum_copy, update_momentum
from contrastlearn.core.schedule import cosine_momentum, warmup_cosine
from contrastlearn.engine.optim import LARS, build_optimizer
from tests.conftest import tiny_recipe_dict


def test_warmup_cosine_values():
    assert warmup_cosine(0, 100, 10, 1.0) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10, 1.0) == pytest.approx(1.0)
    assert warmup_cosine(10, 100, 10, 1.0) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10, 1.0) == pytest.approx(0.5)
    assert warmup_cosine(100, 100, 10, 1.0, min_ratio=0.1) == pytest.approx(0.1)


def test_cosine_momentum_rises_to_one():
    assert cosine_momentum(0, 100, 0.99) == pytest.approx(0.99)
    assert cosine_momentum(50, 100, 0.99) == pytest.approx(0.995)
    assert cosine_momentum(100, 100, 0.99) == pytest.approx(1.0)


def test_ema_update_matches_formula():
    online = nn.Linear(3, 2)
    target = make_momentum_copy(online)
    assert all(not p.requires_grad for p in target.parameters())
    before = target.weight.clone()
    with torch.no_grad():
        online.weight.add_(1.0)
    update_momentum(online, target, 0.9)
    assert torch.allclose(target.weight, 0.9 * before + 0.1 * online.weight)


def test_lars_trust_ratio_step():
    weight = nn.Parameter(torch.tensor([3.0, 4.0]))  # norm 5
    optimizer = LARS([weight], lr=1.0, momentum=0.0, eta=0.1)
    weight.grad = torch.tensor([0.0, 2.0])  # norm 2 -> trust 0.1 * 5 / 2 = 0.25
    optimizer.step()
    assert torch.allclose(weight.detach(), torch.tensor([3.0, 3.5]))


@pytest.mark.parametrize("name", ["sgd", "adamw", "lars"])
def test_optimizers_skip_decay_on_biases_and_norms(name):
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    optimizer = build_optimizer(model, name, lr=0.1, weight_decay=0.5)
    decays = {tuple(p.shape): group["weight_decay"]
              for group in optimizer.param_groups for p in group["params"]}
    assert decays[(4, 4)] == 0.5 and decays[(4,)] == 0.0


@pytest.mark.parametrize(
    "train",
    [
        {"precision": "bf16-mixed"},
        {"optimizer": "lars", "lr": 0.5},
    ],
)
def test_training_options_run(tmp_path, train):
    raw = tiny_recipe_dict()
    raw["train"].update(train)
    run = contrastlearn.pretrain(recipe_from_dict(raw), out=tmp_path / "run", progress=False,
                                 evaluate_after=False)
    records = [r for r in run.training.history if "loss" in r]
    assert all(math.isfinite(r["loss"]) for r in records)



def test_gradient_clipping_bounds_the_applied_gradient(tmp_path, monkeypatch):
    """The logged norm is the one before clipping; the optimizer must see the clipped one."""
    applied = []
    original_step = torch.optim.SGD.step

    def recording_step(self, *args, **kwargs):
        norms = [p.grad.norm() for group in self.param_groups for p in group["params"]
                 if p.grad is not None]
        applied.append(float(torch.linalg.vector_norm(torch.stack(norms))))
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", recording_step)
    raw = tiny_recipe_dict()
    raw["train"].update({"gradient_clip": 0.01, "optimizer": "sgd", "lr": 0.05})
    run = contrastlearn.pretrain(recipe_from_dict(raw), out=tmp_path / "run", progress=False,
                                 evaluate_after=False)
    logged = [r["grad_norm"] for r in run.training.history if "grad_norm" in r]
    assert max(logged) > 0.01  # clipping had something to do
    assert applied and max(applied) <= 0.01 * 1.001


def test_knn_monitor_logs_every_epoch(tmp_path):
    raw = tiny_recipe_dict()
    raw["train"]["knn_monitor"] = True
    run = contrastlearn.pretrain(recipe_from_dict(raw), out=tmp_path / "run", progress=False,
                                 evaluate_after=False)
    lines = [json.loads(line) for line in (run.run_dir / "metrics.jsonl").read_text().splitlines()]
    monitor = [line for line in lines if "knn_monitor_top1" in line]
    assert [line["epoch"] for line in monitor] == [1, 2]
    # the last epoch's monitor measured the final encoder on the held-out split
    final = contrastlearn.evaluate(run.encoder, load_run_data(run.recipe), protocols=["knn"],
                                   labels_per_class=[])[0]
    assert monitor[-1]["knn_monitor_top1"] == pytest.approx(final.value)


@pytest.mark.parametrize("every_seconds,expected_steps", [(0.0, [2, 4, 6]), (3600.0, [6])])
def test_epoch_checkpoints_are_throttled_by_time(tmp_path, monkeypatch, every_seconds,
                                                 expected_steps):
    from contrastlearn.engine import trainer as trainer_module

    saved_steps = []
    real_save = trainer_module.save_checkpoint

    def counting_save(path, state):
        saved_steps.append(state["train_state"]["step"])
        real_save(path, state)

    monkeypatch.setattr(trainer_module, "save_checkpoint", counting_save)
    recipe = tiny_recipe_dict()
    recipe["data"]["limit"] = 128
    recipe["train"].update({"epochs": 3, "checkpoint_every_seconds": every_seconds})
    contrastlearn.pretrain(recipe_from_dict(recipe), out=tmp_path / "run", progress=False,
                           evaluate_after=False)
    assert saved_steps == expected_steps  # 2 steps per epoch; the last step always saves
