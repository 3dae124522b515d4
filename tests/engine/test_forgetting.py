"""Forgetting guards (`train.forgetting_guard`): the L2-SP term (Li et al. 2018, arXiv
1802.01483) and the feature-distillation term against hand-written references in value and
gradient, the reference kept through a state-dict round trip and a resumed run, the term
logged as a metric, and the settings that cannot work refused."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from contrastlearn.api import pretrain
from contrastlearn.config import Component, TrainConfig, recipe_from_dict
from contrastlearn.engine.checkpoint import load_checkpoint, save_checkpoint
from contrastlearn.engine.forgetting import (
    DistillGuard,
    L2InitGuard,
    build_forgetting_guard,
    check_guard_options,
)
from tests.conftest import tiny_recipe_dict


def encoder(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Dropout(0.5), nn.Linear(5, 3)).double()


def moved(module: nn.Module, seed: int = 1) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator,
                                       dtype=parameter.dtype))
    return module


def batch() -> torch.Tensor:
    return torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))


def test_l2_init_is_zero_at_the_start_with_zero_gradient():
    model = encoder()
    term = L2InitGuard(model, weight=0.3)(model)
    term.backward()
    assert float(term.detach()) == 0.0
    assert all(torch.count_nonzero(p.grad) == 0 for p in model.parameters())


def test_l2_init_value_and_gradient_match_a_loop_over_the_start_weights():
    model = encoder()
    start = {name: value.clone() for name, value in model.state_dict().items()}
    model[0].bias.requires_grad_(False)  # frozen parameters are not part of the penalty
    guard = L2InitGuard(model, weight=0.3)
    moved(model)
    term = guard(model)
    term.backward()
    expected = 0.0
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        for now, then in zip(parameter.detach().flatten().tolist(),
                             start[name].flatten().tolist()):
            expected += 0.3 * (now - then) ** 2
        torch.testing.assert_close(parameter.grad, 0.6 * (parameter.detach() - start[name]))
    assert math.isclose(float(term.detach()), expected, rel_tol=1e-12)
    assert model[0].bias.grad is None
    assert guard.initial.numel() == sum(p.numel() for p in model.parameters()) - 5


def test_distill_value_and_gradient_against_a_row_loop_and_no_gradient_to_the_copy():
    model = encoder()
    guard = DistillGuard(model, weight=0.7).train()  # the copy stays in eval mode
    assert not guard.initial.training
    moved(model)
    model.eval()  # no dropout in the live encoder, so the reference is deterministic
    x = batch()
    term = guard(model, x)
    term.backward()
    reference_model = moved(encoder()).eval()
    start = encoder().eval()
    total = 0.0
    for row in x:
        a, b = reference_model(row), start(row).detach()
        total = total + (1 - (a @ b) / (a.norm() * b.norm()))
    expected = 0.7 * total / len(x)
    expected.backward()
    torch.testing.assert_close(term, expected)
    for ours, theirs in zip(model.parameters(), reference_model.parameters()):
        torch.testing.assert_close(ours.grad, theirs.grad)
    assert all(p.grad is None and not p.requires_grad for p in guard.initial.parameters())
    model.train()  # with dropout in the encoder, the copy still sees clean inputs
    assert float(guard(model, x).detach()) != 0.0 and not guard.initial.training


@pytest.mark.parametrize("kind", ["l2_init", "distill"])
def test_the_reference_survives_a_state_dict_round_trip(kind):
    model = encoder()
    guard = build_forgetting_guard(Component(name=kind, kwargs={"weight": 0.5}), model)
    moved(model)
    rebuilt = build_forgetting_guard(Component(name=kind, kwargs={"weight": 0.5}), model)
    assert float(rebuilt(model.eval(), batch()).detach()) == pytest.approx(0.0, abs=1e-12)
    rebuilt.load_state_dict(guard.state_dict())
    torch.testing.assert_close(rebuilt(model, batch()), guard(model, batch()))
    assert float(rebuilt(model, batch()).detach()) > 0


def test_settings_that_cannot_work_are_refused():
    model = encoder()
    with pytest.raises(ValueError, match="cannot be used with train.strategy fsdp"):
        build_forgetting_guard(Component(name="l2_init", kwargs={"weight": 1.0}), model,
                               sharded=True)
    with pytest.raises(ValueError, match=r"unknown train.forgetting_guard 'l2'.*'distill', "
                                         r"'l2_init'"):
        build_forgetting_guard(Component(name="l2", kwargs={"weight": 1.0}), model)
    for kwargs in ({}, {"weight": 1.0, "scale": 2}):
        with pytest.raises(ValueError, match="takes kwargs.weight only"):
            build_forgetting_guard(Component(name="distill", kwargs=kwargs), model)
    for weight in (0, -1.0, math.nan, "big", True):
        with pytest.raises(ValueError, match="needs kwargs.weight, a positive number"):
            build_forgetting_guard(Component(name="l2_init", kwargs={"weight": weight}), model)
    with pytest.raises(ValueError, match="no trainable parameters"):
        L2InitGuard(encoder().requires_grad_(False), weight=1.0)
    guard = L2InitGuard(model, weight=1.0)
    model[0].requires_grad_(False)
    with pytest.raises(ValueError, match="trainable parameters changed"):
        guard(model)
    guarded = Component(name="l2_init", kwargs={"weight": 1.0})
    with pytest.raises(ValueError, match="forgetting_guard cannot be combined with "
                                         "train.gradient_cache_chunk"):
        check_guard_options(TrainConfig(forgetting_guard=guarded, gradient_cache_chunk=8))
    check_guard_options(TrainConfig(forgetting_guard=guarded))
    assert build_forgetting_guard(None, model) is None


@pytest.fixture
def no_report(monkeypatch):
    """The training runs here write no HTML report and no view preview (seconds of plotting
    that other tests cover)."""
    import contrastlearn.api as api

    monkeypatch.setattr(api, "write_report", lambda *args, **kwargs: None)
    monkeypatch.setattr(api, "_write_preview", lambda *args, **kwargs: None)


def guarded_recipe(kind: str = "l2_init", weight: float = 1.0, batch_size: int = 16):
    recipe = tiny_recipe_dict()
    recipe["data"]["limit"] = 4 * batch_size
    recipe["train"].update(batch_size=batch_size, diagnostics=False,
                           forgetting_guard={"name": kind, "kwargs": {"weight": weight}})
    return recipe_from_dict(recipe)


def logged(run_dir) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [record for record in map(json.loads, lines) if "loss" in record]


@pytest.mark.parametrize("kind", ["l2_init", "distill"])
def test_the_trainer_adds_and_logs_the_term_and_checkpoints_the_reference(tmp_path, kind,
                                                                         no_report):
    run = pretrain(guarded_recipe(kind), out=tmp_path / "run", progress=False,
                   evaluate_after=False, overrides={"train.max_steps": 2})
    terms = [record["forgetting_guard"] for record in logged(tmp_path / "run")]
    assert len(terms) == 2 and terms[1] > 0
    if kind == "l2_init":
        assert terms[0] == 0.0  # the first step's term is taken at the start weights
    reference = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")[
        "forgetting_guard"]
    expected = ({"initial"} if kind == "l2_init"
                else {f"initial.{key}" for key in run.encoder.state_dict()})
    assert set(reference) == expected
    first = next(iter(reference.values())).flatten()[:10]  # the start, not the trained weights
    assert not torch.equal(first, next(run.encoder.parameters()).detach().flatten()[:10])


def test_a_resumed_run_is_pulled_towards_the_checkpointed_reference(tmp_path, no_report):
    """The resumed trainer takes theta_0 from the checkpoint, not from the rebuilt encoder:
    a reference shifted by 0.5 in the checkpoint shows in the next step's term."""
    recipe = guarded_recipe(weight=0.01)
    pretrain(recipe, out=tmp_path / "run", progress=False, evaluate_after=False,
             overrides={"train.max_steps": 2})
    path = tmp_path / "run" / "checkpoints" / "last.ckpt"
    state = load_checkpoint(path)
    state["forgetting_guard"]["initial"] += 0.5
    save_checkpoint(path, state)
    pretrain(out=tmp_path / "run", resume=True, progress=False, evaluate_after=False,
             overrides={"train.max_steps": 3})
    terms = [record["forgetting_guard"] for record in logged(tmp_path / "run")]
    count = state["forgetting_guard"]["initial"].numel()
    assert terms[1] < 0.01 * count * 0.25 / 100  # before the shift: a small drift
    assert terms[2] == pytest.approx(0.01 * count * 0.25, rel=0.2)


def test_guarded_runs_resume_exactly_and_stay_nearer_the_start(tmp_path, no_report):
    recipe = guarded_recipe(weight=100.0, batch_size=64)
    settings = {"train.max_steps": 4, "train.checkpoint_every_steps": 2}
    whole = pretrain(recipe, out=tmp_path / "whole", progress=False, evaluate_after=False,
                     overrides=settings)
    pretrain(recipe, out=tmp_path / "part", progress=False, evaluate_after=False,
             overrides={**settings, "train.max_steps": 2})
    resumed = pretrain(out=tmp_path / "part", resume=True, progress=False,
                       evaluate_after=False, overrides={"train.max_steps": 4})
    whole_state = whole.method.state_dict()
    for key, value in resumed.method.state_dict().items():
        assert torch.equal(value, whole_state[key]), key
    plain = pretrain(recipe, out=tmp_path / "plain", progress=False, evaluate_after=False,
                     overrides={**settings, "train.forgetting_guard": None})
    start = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.ckpt")
    initial = start["forgetting_guard"]["initial"]

    def distance(run) -> float:
        now = torch.cat([p.detach().flatten() for p in run.encoder.parameters()
                         if p.requires_grad])
        return float((now - initial).norm())

    assert distance(whole) < 0.5 * distance(plain)
