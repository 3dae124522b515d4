"""Weight averaging: the running mean matches a hand-computed mean, resumes exactly, and is
what a run with `train.average_weights` exports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import contrastlearn
from contrastlearn.engine.averaging import WeightAverage
from contrastlearn.engine.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("no_report")


def test_running_mean_matches_the_mean_of_the_steps():
    module = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    average = WeightAverage(module)
    seen = []
    for step in range(4):
        with torch.no_grad():
            module[0].weight.add_(float(step + 1))
            module[1].running_mean.add_(0.5)
        module[1].num_batches_tracked += 1
        seen.append(module[0].weight.detach().clone())
        average.update()
    expected = torch.stack(seen).mean(dim=0)
    torch.testing.assert_close(average.average["0.weight"], expected)
    assert "1.num_batches_tracked" not in average.average  # integers are not averaged
    restored = WeightAverage(module)
    restored.load_state_dict(average.state_dict())
    restored.apply()
    torch.testing.assert_close(module[0].weight, expected)
    torch.testing.assert_close(module[1].running_mean, torch.full((2,), 1.25))


def test_nothing_to_apply_before_the_first_update():
    module = nn.Linear(2, 2)
    before = module.weight.detach().clone()
    WeightAverage(module).apply()
    assert torch.equal(module.weight, before)


SERIES = {"x": np.random.default_rng(0).normal(size=(32, 1, 24))}


def _run(tmp_path, name, **train):
    overrides = {"encoder.kwargs.depth": 1, "encoder.kwargs.hidden_dim": 8,
                 "encoder.kwargs.out_dim": 8, "train.steps": 6, "train.average_weights": True,
                 "train.checkpoint_every_steps": 1, **{f"train.{k}": v for k, v in train.items()}}
    return contrastlearn.pretrain("ts2vec", dataset=SERIES, out=tmp_path / name,
                                  overrides=overrides, progress=False, evaluate_after=False)


def test_averaged_run_resumes_exactly_and_exports_the_average(tmp_path):
    whole = _run(tmp_path, "whole")
    _run(tmp_path, "split", max_steps=3)
    resumed = contrastlearn.pretrain(out=tmp_path / "split", resume=True, dataset=SERIES,
                                     progress=False,
                                     evaluate_after=False, overrides={"train.max_steps": None})
    for a, b in zip(whole.encoder.state_dict().values(), resumed.encoder.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    state = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.ckpt")
    assert state["weight_average"]["count"] == 6
    average = state["weight_average"]["average"]
    exported = whole.encoder.state_dict()
    assert all(torch.equal(exported[name], value) for name, value in average.items())
    live = state["method"]["encoder.input_projection.weight"]
    assert not torch.equal(live, exported["input_projection.weight"])
