"""LoRA (Hu et al. 2021, arXiv 2106.09685): the adapted module equals the pretrained one at
initialisation, only the adapters train (and only they reach the optimizer), the update is
W + (alpha / r) B A in value and gradient, merging gives plain layers with the same outputs,
and bad settings are refused with the layer names to use."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from contrastlearn.core.lora import LoRALinear, apply_lora, has_lora, merge_lora
from contrastlearn.engine.optim import build_optimizer


class Block(nn.Module):
    """A tiny attention-like block: query/key/value projections, a norm and an output."""

    def __init__(self) -> None:
        super().__init__()
        self.query = nn.Linear(6, 4)
        self.key = nn.Linear(6, 4)
        self.value = nn.Linear(6, 4, bias=False)
        self.norm = nn.LayerNorm(6)
        self.output = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        attention = torch.softmax(self.query(x) @ self.key(x).T, dim=-1)
        return self.output(torch.cat([attention @ self.value(x), self.query(x)], dim=-1))


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(Block(), nn.ReLU(), nn.Linear(3, 2))


def inputs() -> torch.Tensor:
    return torch.randn(5, 6, generator=torch.Generator().manual_seed(1))


def randomise_adapters(module: nn.Module) -> None:
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, LoRALinear):
                layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=generator))


def test_at_initialisation_the_adapted_model_is_the_pretrained_one_exactly():
    plain = model()
    adapted = model()
    names = apply_lora(adapted, ["query", "value"], rank=2, alpha=4.0)
    assert names == ["0.query", "0.value"]
    assert torch.equal(adapted(inputs()), plain(inputs()))
    layer = adapted[0].query
    assert torch.count_nonzero(layer.lora_B) == 0 and torch.count_nonzero(layer.lora_A) > 0
    bound = 1 / math.sqrt(layer.in_features)  # Kaiming-uniform with a = sqrt(5), as nn.Linear
    assert float(layer.lora_A.detach().abs().max()) <= bound and layer.lora_A.shape == (2, 6)
    assert layer.lora_B.shape == (4, 2) and layer.scale == 2.0


def test_only_the_adapters_train_and_reach_the_optimizer():
    adapted = model()
    apply_lora(adapted, ["query"], rank=2, alpha=2.0)
    trainable = {name for name, p in adapted.named_parameters() if p.requires_grad}
    assert trainable == {"0.query.lora_A", "0.query.lora_B"}
    optimizer = build_optimizer(adapted, "sgd", lr=0.1, weight_decay=0.5)
    seen = [p for group in optimizer.param_groups for p in group["params"]]
    assert {id(p) for p in seen} == {id(adapted[0].query.lora_A), id(adapted[0].query.lora_B)}
    frozen = {name: p.detach().clone() for name, p in adapted.named_parameters()
              if not p.requires_grad}
    for _ in range(3):
        adapted(inputs()).pow(2).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
    assert all(torch.equal(p, frozen[name]) for name, p in adapted.named_parameters()
               if name in frozen)
    assert torch.count_nonzero(adapted[0].query.lora_B) > 0


def test_value_and_gradient_match_the_effective_weight_reference():
    """y = x (W + s B A)^T + b, written with the summed weight instead of two products."""
    base = nn.Linear(6, 4).double()
    layer = LoRALinear(base, rank=3, alpha=1.5)
    with torch.no_grad():
        layer.lora_B.copy_(torch.randn(4, 3, dtype=torch.float64,
                                       generator=torch.Generator().manual_seed(3)))
    x = inputs().double()
    target = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    loss = (layer(x) - target).pow(2).sum()
    loss.backward()
    a = layer.lora_A.detach().clone().requires_grad_(True)
    b = layer.lora_B.detach().clone().requires_grad_(True)
    weight = base.weight.detach() + (1.5 / 3) * torch.einsum("or,ri->oi", b, a)
    reference = (x @ weight.T + base.bias.detach() - target).pow(2).sum()
    reference.backward()
    torch.testing.assert_close(loss, reference)
    torch.testing.assert_close(layer.lora_A.grad, a.grad)
    torch.testing.assert_close(layer.lora_B.grad, b.grad)
    assert base.weight.grad is None


def test_merge_gives_plain_layers_with_the_same_outputs():
    plain_keys = set(model().state_dict())
    adapted = model()
    apply_lora(adapted, ["query", "value", "2"], rank=2, alpha=4.0)
    randomise_adapters(adapted)
    before = adapted(inputs())
    assert not torch.allclose(before, model()(inputs()))  # the adapters do change the output
    merged = merge_lora(adapted)
    assert merged == ["0.query", "0.value", "2"] and not has_lora(adapted)
    assert type(adapted[0].query) is nn.Linear and adapted[0].value.bias is None
    assert set(adapted.state_dict()) == plain_keys
    torch.testing.assert_close(adapted(inputs()), before, rtol=1e-5, atol=1e-6)
    assert merge_lora(adapted) == []


def test_adapter_dropout_acts_in_training_only_and_on_the_adapter_path():
    base = nn.Linear(6, 4)
    layer = LoRALinear(base, rank=2, alpha=2.0, dropout=0.9)
    with torch.no_grad():
        layer.lora_B.fill_(1.0)
    clean = LoRALinear(base, rank=2, alpha=2.0)
    with torch.no_grad():
        clean.lora_A.copy_(layer.lora_A)
        clean.lora_B.fill_(1.0)
    x = inputs()
    assert torch.equal(layer.eval()(x), clean(x))
    assert not torch.allclose(layer.train()(x), clean(x))
    with torch.no_grad():
        layer.lora_B.zero_()  # no adapter: dropout leaves the base path alone
    assert torch.equal(layer.train()(x), base(x))


def test_bad_settings_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"targets \['quer'\] match no nn.Linear of Sequential; "
                                         r".*0\.query, 0\.key, 0\.value, 0\.output, 2"):
        apply_lora(model(), ["query", "quer"], rank=2, alpha=2.0)
    for rank in (0, -1, 1.5):
        with pytest.raises(ValueError, match="rank must be an integer >= 1"):
            apply_lora(model(), ["query"], rank=rank, alpha=2.0)
    with pytest.raises(ValueError, match="non-empty list"):
        apply_lora(model(), [], rank=2, alpha=2.0)
    with pytest.raises(ValueError, match="non-empty list"):
        apply_lora(model(), "query", rank=2, alpha=2.0)
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        apply_lora(model(), ["query"], rank=2, alpha=0.0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        apply_lora(model(), ["query"], rank=2, alpha=2.0, dropout=1.0)
    adapted = model()
    apply_lora(adapted, ["query"], rank=2, alpha=2.0)
    with pytest.raises(ValueError, match="already has LoRA adapters .*merge_lora"):
        apply_lora(adapted, ["key"], rank=2, alpha=2.0)
    with pytest.raises(ValueError, match="it has none"):
        apply_lora(nn.Sequential(nn.ReLU()), ["query"], rank=2, alpha=2.0)
    with pytest.raises(TypeError, match="wraps an nn.Linear"):
        LoRALinear(nn.ReLU(), rank=2, alpha=2.0)
