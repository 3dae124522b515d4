"""DCCF (Ren et al. 2023, arXiv 2305.02759): the contrastive term and the mask generator
against naive loops, the encoder's propagation against a dense reference, one training step,
a short training run, and bad options."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlearn.core.registry import ENCODERS, METHODS
from contrastlearn.modalities.recsys.datasets import InteractionDataset
from contrastlearn.modalities.recsys.dccf_encoder import (
    DCCFEncoder,
    DCCFPropagation,
    adaptive_edge_weights,
    adaptive_propagation,
)
from contrastlearn.modalities.recsys.encoders import LightGCN
from contrastlearn.modalities.recsys.graph_ops import normalized_adjacency
from contrastlearn.modalities.recsys.interactions import Interactions
from contrastlearn.modalities.recsys.methods.dccf import DCCF, intent_contrastive_loss

pytestmark = pytest.mark.usefixtures("one_thread")


def random_graph(num_users: int = 6, num_items: int = 8, count: int = 20,
                 seed: int = 0) -> Interactions:
    """`count` distinct random (user, item) pairs; user 0 and item 0 always have an edge."""
    generator = torch.Generator().manual_seed(seed)
    keys = torch.randperm(num_users * num_items, generator=generator)[:count]
    keys = torch.unique(torch.cat([keys, torch.tensor([0])]))
    return Interactions(keys // num_items, keys % num_items, num_users, num_items)


def build(graph: Interactions, dim: int = 8, layers: int = 2, num_intents: int = 4,
          **kwargs) -> tuple[DCCF, InteractionDataset]:
    torch.manual_seed(0)
    encoder = DCCFEncoder(graph.num_users, graph.num_items, len(graph), dim=dim, layers=layers,
                          num_intents=num_intents)
    method = DCCF(encoder, **kwargs)
    data = InteractionDataset.of(graph)
    method.prepare(data, torch.device("cpu"))
    return method, data


def naive_cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def naive_edge_weights(nodes: torch.Tensor, rows: list[int], cols: list[int]) -> list[float]:
    """Per edge (cos + 1) / 2, divided by the sum over the edges leaving its row."""
    table = nodes.tolist()
    strength = [(naive_cosine(table[r], table[c]) + 1) / 2 for r, c in zip(rows, cols)]
    weights = []
    for edge, row in enumerate(rows):
        row_sum = sum(s for s, r in zip(strength, rows) if r == row)
        weights.append(strength[edge] / row_sum if row_sum > 0 else 0.0)
    return weights


def naive_infonce(anchors: torch.Tensor, positives: torch.Tensor,
                  temperature: float) -> torch.Tensor:
    """Row by row: -log(exp(s_ii) / sum_j exp(s_ij)), s the cosine over the temperature."""
    terms = []
    for i in range(anchors.shape[0]):
        scores = torch.stack([
            (anchors[i] @ positives[j]) / (anchors[i].norm() * positives[j].norm()) / temperature
            for j in range(positives.shape[0])])
        terms.append(-torch.log(torch.exp(scores[i]) / torch.exp(scores).sum()))
    return torch.stack(terms).mean()


def test_contrastive_term_matches_naive_reference_value_and_gradient():
    generator = torch.Generator().manual_seed(1)
    num_users, num_items, dim, layers = 5, 6, 4, 2

    def parts() -> list[torch.Tensor]:
        return [torch.randn(num_users + num_items, dim, generator=generator,
                            dtype=torch.float64, requires_grad=True) for _ in range(layers)]

    propagated, intents, graph_aug, intent_aug = parts(), parts(), parts(), parts()
    outputs = [torch.zeros(num_users + num_items, dim, dtype=torch.float64)]
    propagation = DCCFPropagation(outputs, propagated, intents, graph_aug, intent_aug)
    users, items, temperature = torch.tensor([0, 2, 3]), torch.tensor([1, 4, 5, 0]), 0.3
    loss = intent_contrastive_loss(propagation, users, items, num_users, temperature)

    reference = torch.zeros((), dtype=torch.float64)
    for layer in range(layers):
        for view in (intents, graph_aug, intent_aug):
            reference = reference + naive_infonce(propagated[layer][users],
                                                  view[layer][users], temperature)
            reference = reference + naive_infonce(propagated[layer][items + num_users],
                                                  view[layer][items + num_users], temperature)
    leaves = propagated + intents + graph_aug + intent_aug
    got = torch.autograd.grad(loss, leaves)
    expected = torch.autograd.grad(reference, leaves)
    torch.testing.assert_close(loss, reference)
    for got_grad, expected_grad in zip(got, expected):
        torch.testing.assert_close(got_grad, expected_grad)
    assert all(grad.abs().sum() > 0 for grad in got)


def test_mask_generator_edge_weights_match_naive_loop():
    graph = Interactions(torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 2]), 4, 4)
    edges = normalized_adjacency(graph).indices()  # user 3 and item 3 have no edge
    generator = torch.Generator().manual_seed(2)
    nodes = torch.randn(8, 5, generator=generator, dtype=torch.float64)
    rows, cols = edges[0].tolist(), edges[1].tolist()
    weights = adaptive_edge_weights(nodes, edges[0], edges[1])
    torch.testing.assert_close(weights, torch.tensor(naive_edge_weights(nodes, rows, cols),
                                                     dtype=torch.float64))
    row_sums = torch.zeros(8, dtype=torch.float64).index_add(0, edges[0], weights)
    has_edge = torch.zeros(8, dtype=torch.bool)
    has_edge[edges[0]] = True
    torch.testing.assert_close(row_sums[has_edge], torch.ones(int(has_edge.sum()),
                                                              dtype=torch.float64))


def test_adaptive_propagation_is_the_weighted_graph_and_differentiable():
    graph = random_graph(seed=3)
    adjacency = normalized_adjacency(graph).to(torch.float64)
    num_nodes = graph.num_users + graph.num_items
    generator = torch.Generator().manual_seed(3)
    similarity_nodes = torch.randn(num_nodes, 4, generator=generator, dtype=torch.float64,
                                   requires_grad=True)
    nodes = torch.randn(num_nodes, 3, generator=generator, dtype=torch.float64,
                        requires_grad=True)
    rows, cols = adjacency.indices().tolist()
    dense = torch.zeros(num_nodes, num_nodes, dtype=torch.float64)
    for (row, col), weight in zip(zip(rows, cols),
                                  naive_edge_weights(similarity_nodes.detach(), rows, cols)):
        dense[row, col] = weight
    out = adaptive_propagation(similarity_nodes, adjacency, nodes)
    torch.testing.assert_close(out, dense @ nodes)
    gradients = torch.autograd.grad(out.pow(2).sum(), (similarity_nodes, nodes))
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in gradients)
    assert torch.autograd.gradcheck(
        lambda similar, values: adaptive_propagation(similar, adjacency, values),
        (similarity_nodes, nodes))


def dense_dccf(encoder: DCCFEncoder) -> torch.Tensor:
    """DCCF's final node matrix written with dense matrices and per-edge loops."""
    adjacency = encoder.adjacency().to_dense()
    rows, cols = adjacency.nonzero(as_tuple=True)
    rows, cols = rows.tolist(), cols.tolist()
    users = encoder.num_users

    def learned(nodes: torch.Tensor) -> torch.Tensor:
        dense = torch.zeros_like(adjacency)
        for (row, col), weight in zip(zip(rows, cols), naive_edge_weights(nodes, rows, cols)):
            dense[row, col] = weight
        return dense

    def intents(nodes: torch.Tensor) -> torch.Tensor:
        parts = []
        for part, prototypes in ((nodes[:users], encoder.user_intents),
                                 (nodes[users:], encoder.item_intents)):
            affinity = torch.exp(part @ prototypes)
            parts.append((affinity / affinity.sum(dim=1, keepdim=True)) @ prototypes.T)
        return torch.cat(parts)

    current = torch.cat([encoder.user_embedding.weight, encoder.item_embedding.weight]).detach()
    total = current
    for _ in range(encoder.layers):
        propagated = adjacency @ current
        intent = intents(current).detach()
        current = (propagated + intent + learned(propagated) @ current
                   + learned(intent) @ current + current)
        total = total + current
    return total


def test_encoder_propagation_matches_dense_reference_and_ranks_with_it():
    graph = random_graph(seed=4)
    method, _ = build(graph)
    encoder = method.encoder
    with torch.no_grad():
        users, items = encoder.propagate()
        expected = dense_dccf(encoder)
        torch.testing.assert_close(torch.cat([users, items]), expected, rtol=1e-4, atol=1e-5)
        everyone = torch.arange(graph.num_users)
        torch.testing.assert_close(encoder.user_representations(everyone), users)
        torch.testing.assert_close(encoder.item_representations(), items)
        plain = LightGCN.propagate(encoder)  # the mean of layers, with DCCF's layers
        assert not torch.allclose(plain[0], users)
    assert ENCODERS.get("dccf") is DCCFEncoder and METHODS.get("dccf") is DCCF


def test_training_step_gives_finite_loss_and_gradients():
    graph = random_graph(seed=5)
    method, data = build(graph)
    batch = data.batch_x(torch.arange(len(data.x)))
    output = method([batch], labels=None, ids=None)
    assert output.loss.dim() == 0 and torch.isfinite(output.loss)
    assert set(output.metrics) == {"bpr", "l2", "intent_l2", "contrastive"}
    assert all(value.dim() == 0 and not value.requires_grad
               for value in output.metrics.values())
    assert output.metrics["contrastive"] > 0
    output.loss.backward()
    encoder = method.encoder
    for parameter in (encoder.user_embedding.weight, encoder.item_embedding.weight,
                      encoder.user_intents, encoder.item_intents):
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all()
        assert parameter.grad.abs().sum() > 0


def test_contrastive_weight_and_temperature_enter_the_loss():
    graph = random_graph(seed=6)
    losses = []
    for kwargs in ({"cl_weight": 0.0}, {"cl_weight": 0.5}, {"cl_weight": 0.5,
                                                              "temperature": 0.2}):
        method, data = build(graph, **kwargs)
        torch.manual_seed(1)  # the same negatives
        output = method([data.batch_x(torch.arange(len(data.x)))], labels=None, ids=None)
        losses.append(output.loss.item())
    assert losses[0] < losses[1] and losses[1] != losses[2]


def test_a_few_dozen_adam_steps_lower_the_loss():
    graph = random_graph(num_users=10, num_items=12, count=40, seed=7)
    method, data = build(graph)
    optimizer = torch.optim.Adam(method.parameters(), lr=0.02)
    batch = data.batch_x(torch.arange(len(data.x)))
    losses, parts = [], []
    for _ in range(40):
        optimizer.zero_grad()
        output = method([batch], labels=None, ids=None)
        output.loss.backward()
        optimizer.step()
        losses.append(output.loss.item())
        parts.append({name: value.item() for name, value in output.metrics.items()})
    assert sum(losses[-5:]) / 5 < 0.9 * sum(losses[:5]) / 5
    assert parts[-1]["bpr"] < 0.5 * parts[0]["bpr"]
    assert parts[-1]["contrastive"] < parts[0]["contrastive"]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"temperature": 0.0}, "temperature must be > 0"),
    ({"temperature": -1.0}, "temperature must be > 0"),
    ({"cl_weight": -0.1}, "cl_weight must be >= 0"),
    ({"emb_reg": -1e-5}, "emb_reg must be >= 0"),
    ({"cen_reg": -1e-3}, "cen_reg must be >= 0"),
])
def test_bad_options_raise_one_line_errors(kwargs, fragment):
    encoder = DCCFEncoder(3, 4, dim=4, num_intents=2)
    with pytest.raises(ValueError, match=fragment) as error:
        DCCF(encoder, **kwargs)
    assert "\n" not in str(error.value)


def test_bad_encoder_and_intent_count():
    with pytest.raises(ValueError, match="num_intents >= 1") as error:
        DCCFEncoder(3, 4, num_intents=0)
    assert "\n" not in str(error.value)
    with pytest.raises(TypeError, match="encoder.name: dccf"):
        DCCF(LightGCN(3, 4, dim=4))
