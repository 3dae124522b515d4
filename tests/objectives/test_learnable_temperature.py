"""A learnable temperature is clamped after the optimizer step, as CLIP does (Radford et al.,
2021, arXiv 2103.00020), never inside the forward: at the bound its gradient stays non-zero,
the clamp brings it back exactly to the bound, and the trainer applies it after every step
for every method, including those that override `after_optimizer_step`."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import contrastlearn
from contrastlearn.config import recipe_from_dict
from contrastlearn.methods.base import Method
from contrastlearn.methods.simclr import SimCLR
from contrastlearn.objectives import InfoNCE
from contrastlearn.objectives.infonce import MIN_LEARNABLE_TEMPERATURE
from tests.conftest import tiny_recipe_dict

BOUND = math.log(1.0 / MIN_LEARNABLE_TEMPERATURE)  # the largest log(1 / temperature)


def aligned_views() -> list[torch.Tensor]:
    """Two identical views of three items e0 + 0.1 e_i, i = 1..3 (cosine COSINE between two
    items): a sharper softmax always lowers the loss, so the gradient pushes
    log(1 / temperature) up, past any bound; the margin is small enough that the softmax does
    not saturate at a temperature of 0.01."""
    view = torch.zeros(3, 4, dtype=torch.float64)
    view[:, 0] = 1.0
    view[:, 1:] = 0.1 * torch.eye(3, dtype=torch.float64)
    return [view, view.clone()]


COSINE = 1 / 1.01


class Linear(nn.Module):
    """Starts as the identity, so that the method first sees `aligned_views` as they are."""

    out_dim = 4

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 4, dtype=torch.float64)
        with torch.no_grad():
            self.layer.weight.copy_(torch.eye(4))
            self.layer.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class OverridingMethod(Method):
    """Overrides `after_optimizer_step` without calling super, as MoCo and BYOL do."""

    def __init__(self) -> None:
        super().__init__(Linear())
        self.objective = InfoNCE(0.05, learnable_temperature=True).double()
        self.updates = 0

    def training_step(self, views, *, labels, ids):
        return self.objective([self.encoder(view) for view in views], ids=ids)

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        self.updates += 1


@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_gradient_is_not_zero_at_or_above_the_bound(offset):
    objective = InfoNCE(0.05, learnable_temperature=True).double()
    with torch.no_grad():
        objective.log_inverse_temperature.fill_(BOUND + offset)
    objective(aligned_views()).loss.backward()
    gradient = objective.log_inverse_temperature.grad
    assert gradient is not None and float(gradient) < 0  # it wants an even lower temperature
    # and it is the gradient at the unclamped value of each anchor's loss, whose 4 negatives
    # (2 per view) all have cosine COSINE: -log(e^t / (e^t + 4 e^(t COSINE))), t = e^scale
    scale = torch.tensor(BOUND + offset, dtype=torch.float64, requires_grad=True)
    reference = torch.log1p(4 * torch.exp(-scale.exp() * (1 - COSINE)))
    (expected,) = torch.autograd.grad(reference, scale)
    torch.testing.assert_close(gradient, expected)


def test_a_step_past_the_bound_is_clamped_back_exactly():
    method = OverridingMethod()
    with torch.no_grad():
        method.objective.log_inverse_temperature.fill_(BOUND - 1e-3)
    optimizer = torch.optim.SGD(method.parameters(), lr=10.0)
    method(aligned_views()).loss.backward()
    optimizer.step()
    assert float(method.objective.log_inverse_temperature.detach()) > BOUND  # past it
    method.after_optimizer_step(0, 1)  # the override does not clamp ...
    assert float(method.objective.log_inverse_temperature.detach()) > BOUND
    method.constrain_parameters()  # ... the trainer's own hook does
    assert float(method.objective.log_inverse_temperature.detach()) == BOUND
    assert method(aligned_views()).metrics["temperature"] == pytest.approx(0.01)


def test_constrain_parameters_leaves_values_inside_the_bound_and_fixed_temperatures():
    learnable = SimCLR(Linear(), projection_dim=3, hidden_dim=4, temperature=0.2,
                       learnable_temperature=True)
    before = float(learnable.objective.log_inverse_temperature.detach())
    learnable.constrain_parameters()
    assert float(learnable.objective.log_inverse_temperature.detach()) == before
    fixed = SimCLR(Linear(), projection_dim=3, hidden_dim=4, temperature=0.005)
    fixed.constrain_parameters()  # a fixed temperature below 0.01 is the user's choice
    assert fixed.objective.inverse_temperature() == pytest.approx(200.0)


def test_training_never_leaves_the_bound(tmp_path, monkeypatch):
    """End to end through `contrastlearn.pretrain`: a gradient hook pushes the temperature
    down at every step; the trainer clamps it after each optimizer step, so every forward
    sees a temperature >= 0.01 while the optimizer did cross the bound."""
    crossed, after = [], []
    original_init, original_clamp = InfoNCE.__init__, InfoNCE.clamp_temperature_

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if self.learnable_temperature:
            self.log_inverse_temperature.register_hook(lambda grad: torch.full_like(grad, -1.0))

    def clamp(self):
        if self.learnable_temperature:
            crossed.append(float(self.log_inverse_temperature.detach()) > BOUND)
        original_clamp(self)
        if self.learnable_temperature:
            after.append(float(self.log_inverse_temperature.detach()))

    monkeypatch.setattr(InfoNCE, "__init__", init)
    monkeypatch.setattr(InfoNCE, "clamp_temperature_", clamp)
    raw = tiny_recipe_dict("simclr", hidden_dim=16, temperature=0.01,
                           learnable_temperature=True)
    raw["data"]["limit"] = 128
    raw["train"].update({"epochs": 1, "batch_size": 32, "lr": 0.01, "optimizer": "sgd",
                         "warmup_epochs": 0})
    run = contrastlearn.pretrain(recipe_from_dict(raw), out=tmp_path / "run", progress=False,
                                 evaluate_after=False)
    steps = run.training.steps
    assert steps == 4 and len(after) == steps  # one clamp per optimizer step
    assert any(crossed)  # the optimizer did push past the bound ...
    bound = float(torch.tensor(BOUND, dtype=torch.float32))  # the parameter is float32
    assert all(value <= bound for value in after)  # ... and never stayed past it
    assert after[-1] == bound
    temperatures = [record["temperature"] for record in run.training.history]
    assert len(temperatures) == steps
    assert all(t >= MIN_LEARNABLE_TEMPERATURE * (1 - 1e-6) for t in temperatures)
    assert temperatures[-1] == pytest.approx(MIN_LEARNABLE_TEMPERATURE)


FAMILY = {
    "dcl": lambda learnable, t: contrastlearn.objectives.DCL(t, learnable_temperature=learnable),
    "dclw": lambda learnable, t: contrastlearn.objectives.DCLW(
        t, learnable_temperature=learnable),
    "supcon": lambda learnable, t: contrastlearn.objectives.SupCon(
        t, learnable_temperature=learnable),
    "infonce": lambda learnable, t: InfoNCE(t, learnable_temperature=learnable),
}


@pytest.mark.parametrize("name", sorted(FAMILY))
@pytest.mark.parametrize("ids", [None, torch.tensor([0, 1, 2, 3, 4, 0])])  # fast and masked
def test_every_infonce_family_loss_learns_its_temperature(name, ids):
    """At its initial value the learnable temperature gives the fixed loss; its gradient is
    the derivative of the fixed loss in log(1 / temperature), by central differences; the
    clamp holds it at >= 0.01."""
    generator = torch.Generator().manual_seed(5)
    views = [torch.randn(6, 5, generator=generator, dtype=torch.float64) for _ in range(2)]
    labels = torch.tensor([0, 1, 1, 2, 0, 2])
    kwargs = {"labels": labels, "ids": ids}
    temperature, step = 0.2, 1e-5
    learnable = FAMILY[name](True, temperature).double()
    loss = learnable(views, **kwargs).loss
    torch.testing.assert_close(loss, FAMILY[name](False, temperature)(views, **kwargs).loss)
    loss.backward()
    higher = FAMILY[name](False, temperature * math.exp(-step))(views, **kwargs).loss
    lower = FAMILY[name](False, temperature * math.exp(step))(views, **kwargs).loss
    expected = (higher - lower) / (2 * step)  # d loss / d log(1 / temperature)
    torch.testing.assert_close(learnable.log_inverse_temperature.grad, expected,
                               rtol=1e-5, atol=1e-8)
    with torch.no_grad():
        learnable.log_inverse_temperature.fill_(BOUND + 1.0)
    learnable.clamp_temperature_()
    assert float(learnable.log_inverse_temperature.detach()) == pytest.approx(BOUND)


def test_supcon_refuses_a_rescaling_it_cannot_apply_to_a_learned_temperature():
    with pytest.raises(ValueError, match="base_temperature"):
        contrastlearn.objectives.SupCon(0.1, base_temperature=0.07, learnable_temperature=True)
