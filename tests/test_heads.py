"""Heads: shapes, out_dim, gradients, registry builds and prototype normalisation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from contrastlearn.core.registry import HEADS
from contrastlearn.heads import Identity, PredictionMLP, ProjectionMLP, SwAVPrototypes


def _assert_all_grads(module: torch.nn.Module, output: torch.Tensor) -> None:
    output.square().mean().backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None, f"no gradient for {name}"


@pytest.mark.parametrize(
    ("name", "kwargs", "out_dim"),
    [
        ("projection_mlp", {"in_dim": 16, "hidden_dim": 32, "out_dim": 8}, 8),
        ("projection_mlp", {"in_dim": 16, "hidden_dim": 32, "out_dim": 8, "num_layers": 3}, 8),
        ("projection_mlp", {"in_dim": 16, "out_dim": 8, "num_layers": 1}, 8),
        ("projection_mlp", {"in_dim": 16, "hidden_dim": 32, "batch_norm": False}, 128),
        (
            "projection_mlp",
            {"in_dim": 16, "hidden_dim": 32, "out_dim": 8, "num_layers": 3,
             "last_batch_norm": True},
            8,
        ),
        ("prediction_mlp", {"in_dim": 16, "hidden_dim": 8}, 16),
        ("prediction_mlp", {"in_dim": 16, "hidden_dim": 8, "out_dim": 4}, 4),
        ("swav_prototypes", {"in_dim": 16, "num_prototypes": 10}, 10),
        ("identity_head", {"in_dim": 16}, 16),
    ],
)
def test_every_head_builds_by_name_with_shape_and_grads(
    name: str, kwargs: dict, out_dim: int
) -> None:
    head = HEADS.build(name, **kwargs)
    assert head.out_dim == out_dim
    h = torch.randn(6, 16, requires_grad=True)
    z = head(h)
    assert z.shape == (6, out_dim)
    _assert_all_grads(head, z)
    assert h.grad is not None


def test_registered_names() -> None:
    assert {"projection_mlp", "prediction_mlp", "swav_prototypes", "identity_head"} <= set(
        HEADS.names()
    )


def test_projection_layer_counts_and_last_batch_norm() -> None:
    three = ProjectionMLP(in_dim=8, hidden_dim=16, out_dim=4, num_layers=3)
    linears = [m for m in three.modules() if isinstance(m, torch.nn.Linear)]
    norms = [m for m in three.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(linears) == 3 and len(norms) == 2
    simsiam = ProjectionMLP(in_dim=8, hidden_dim=16, out_dim=4, num_layers=3, last_batch_norm=True)
    assert isinstance(simsiam.layers[-1], torch.nn.BatchNorm1d)
    simsiam.train()
    z = simsiam(torch.randn(32, 8))
    assert torch.allclose(z.mean(dim=0), torch.zeros(4), atol=1e-5)
    plain = ProjectionMLP(in_dim=8, hidden_dim=16, batch_norm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in plain.modules())
    with pytest.raises(ValueError, match="num_layers"):
        ProjectionMLP(in_dim=8, num_layers=0)


def test_prediction_mlp_defaults_to_in_dim() -> None:
    assert PredictionMLP(in_dim=24).out_dim == 24


def test_swav_prototypes_are_cosine_scores_and_normalize_in_place() -> None:
    head = SwAVPrototypes(in_dim=8, num_prototypes=5)
    norms = head.prototypes.weight.norm(dim=1)
    assert torch.allclose(norms, torch.ones(5), atol=1e-6)
    z = torch.randn(7, 8) * 10
    scores = head(z)
    expected = F.normalize(z, dim=1) @ F.normalize(head.prototypes.weight, dim=1).T
    assert torch.allclose(scores, expected, atol=1e-6)

    optimizer = torch.optim.SGD(head.parameters(), lr=1.0)
    head(torch.randn(7, 8)).sum().backward()
    optimizer.step()
    assert not torch.allclose(head.prototypes.weight.norm(dim=1), torch.ones(5), atol=1e-4)
    weight_before = head.prototypes.weight
    head.normalize_()
    assert head.prototypes.weight is weight_before  # in place: the optimizer still tracks it
    assert torch.allclose(head.prototypes.weight.norm(dim=1), torch.ones(5), atol=1e-6)


def test_identity_head_passes_through_and_rejects_other_out_dim() -> None:
    head = Identity(in_dim=4)
    h = torch.randn(3, 4)
    assert head(h) is h
    assert Identity(in_dim=4, out_dim=4).out_dim == 4
    with pytest.raises(ValueError, match="out_dim"):
        Identity(in_dim=4, out_dim=8)


def test_eval_mode_normalises_with_the_running_statistics() -> None:
    """In eval mode a row's projection is Linear -> (x - running mean) / running std -> ReLU ->
    Linear: it does not depend on the rest of the batch, and the statistics stay put. In train
    mode the batch's own statistics are used, so a row's output depends on its batch."""
    torch.manual_seed(0)
    head = ProjectionMLP(in_dim=8, hidden_dim=16, out_dim=4)
    head(torch.randn(16, 8) * 3 + 1)  # one train-mode batch moves the running statistics
    first, norm, _, last = head.layers
    mean, var = norm.running_mean.clone(), norm.running_var.clone()
    h = torch.randn(5, 8)
    head.eval()
    with torch.no_grad():
        hidden = (first(h) - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias
        torch.testing.assert_close(head(h), last(hidden.relu()))
        torch.testing.assert_close(head(h[:2]), head(h)[:2])
    assert torch.equal(norm.running_mean, mean) and torch.equal(norm.running_var, var)
    head.train()
    with torch.no_grad():
        assert not torch.allclose(head(h[:2]), head(h)[:2])
