"""GRACE and POT: the compactness bound holds over sampled graphs of its range and is exact at a
zero range, gradients reach the GCN, pot_weight=0 is GRACE's loss, and bad set-ups are refused."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

pytest.importorskip("torch_geometric")

from torch_geometric.nn import GCNConv  # noqa: E402
from torch_geometric.utils import remove_self_loops, to_undirected  # noqa: E402

from contrastlearn.core.registry import ENCODERS, METHODS  # noqa: E402
from contrastlearn.data.arrays import DataError  # noqa: E402
from contrastlearn.modalities.graph.batch import GraphBatch  # noqa: E402
from contrastlearn.modalities.graph.datasets import NodeDataset, single_graph  # noqa: E402
from contrastlearn.modalities.graph.methods.grace import GRACE  # noqa: E402
from contrastlearn.modalities.graph.methods.pot import (  # noqa: E402
    compactness_lower_bound,
    compactness_weights,
)
from contrastlearn.objectives import BlockedInfoNCE  # noqa: E402


class StandInGCN(nn.Module):
    """What POT relies on in the gcn encoder: `conv`, `convs` (GCNConv), `activations` (one
    after every layer), `out_dim`, node_embeddings(batch) and seed rows from forward."""

    def __init__(self, widths: list[int], activation=nn.PReLU) -> None:
        super().__init__()
        self.conv = "gcn"
        self.convs = nn.ModuleList(GCNConv(i, o) for i, o in zip(widths[:-1], widths[1:]))
        self.activations = nn.ModuleList(activation() for _ in widths[1:])
        self.out_dim = widths[-1]

    def node_embeddings(self, batch: GraphBatch) -> torch.Tensor:
        h = batch.x
        for conv, activation in zip(self.convs, self.activations):
            h = activation(conv(h, batch.edge_index))
        return h

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        return self.node_embeddings(batch)[batch.seeds]


def random_graph(num_nodes: int = 24, num_features: int = 6, edges: int = 60,
                 seed: int = 0) -> GraphBatch:
    generator = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, edges), generator=generator)
    edge_index, _ = remove_self_loops(to_undirected(edge_index, num_nodes=num_nodes))
    x = torch.randn(num_nodes, num_features, generator=generator)
    return single_graph(x, edge_index, seeds=torch.arange(num_nodes),
                        node_ids=torch.arange(num_nodes))


def encoder_with(activation: str, widths=(6, 12, 5), seed: int = 0) -> StandInGCN:
    torch.manual_seed(seed)
    kinds = {"prelu": nn.PReLU, "relu": nn.ReLU, "elu": nn.ELU, "prelu_concave": nn.PReLU,
             "prelu_negative": nn.PReLU}
    encoder = StandInGCN(list(widths), kinds[activation])
    slopes = {"prelu": 0.2, "prelu_concave": 1.5, "prelu_negative": -0.4}
    if activation in slopes:
        with torch.no_grad():
            for module in encoder.activations:
                module.weight.fill_(slopes[activation])
    return encoder


def reference_weights(other: torch.Tensor) -> torch.Tensor:
    """W_i = ĥ_i - mean of ĥ_j over j != i, one node at a time."""
    rows = [vector / vector.norm() for vector in other]
    out = []
    for i, row in enumerate(rows):
        negatives = [rows[j] for j in range(len(rows)) if j != i]
        out.append(row - torch.stack(negatives).mean(dim=0) if negatives else row)
    return torch.stack(out)


def compactness(encoder, graph: GraphBatch, weights: torch.Tensor) -> torch.Tensor:
    return (weights * encoder.node_embeddings(graph)[graph.seeds]).sum(dim=1)


def sample_in_range(graph: GraphBatch, edge_drop: float, feature_mask: float,
                    rng: random.Random) -> GraphBatch:
    """A graph of POT's range: undirected edges dropped at random while both ends have budget
    (round(edge_drop * degree) each), features masked entry-wise (any entry may be zero)."""
    degree = torch.bincount(graph.edge_index[1], minlength=graph.num_nodes).tolist()
    budget = [min(round(edge_drop * d), d) for d in degree]
    pairs = [tuple(pair) for pair in graph.edge_index.T.tolist() if pair[0] < pair[1]]
    kept = []
    for i, j in rng.sample(pairs, len(pairs)):
        if rng.random() < 0.7 and budget[i] > 0 and budget[j] > 0:
            budget[i] -= 1
            budget[j] -= 1
        else:
            kept.append((i, j))
    edge_index = torch.tensor(kept, dtype=torch.long).reshape(-1, 2).T
    edge_index = to_undirected(edge_index, num_nodes=graph.num_nodes)
    x = graph.x
    if feature_mask > 0:
        x = x * (torch.rand(x.shape) >= rng.random())
    return graph.with_edges(edge_index).with_features(x)


def test_compactness_weights_match_the_per_node_definition():
    other = torch.randn(7, 4)
    assert torch.allclose(compactness_weights(other), reference_weights(other), atol=1e-6)
    single = torch.randn(1, 4)
    assert torch.allclose(compactness_weights(single), single / single.norm())


@pytest.mark.parametrize("activation", ["prelu", "relu", "elu", "prelu_concave"])
@pytest.mark.parametrize("widths", [(6, 12, 5), (6, 5), (6, 8, 8, 5)])
def test_bound_equals_the_exact_compactness_at_zero_range(activation, widths):
    graph = random_graph()
    encoder = encoder_with(activation, widths)
    weights = reference_weights(torch.randn(graph.num_nodes, widths[-1]))
    bound = compactness_lower_bound(encoder, graph.x, graph.edge_index, graph.seeds, weights,
                                    0.0, 0.0)
    assert torch.allclose(bound, compactness(encoder, graph, weights), atol=1e-5)


@pytest.mark.parametrize("activation", ["prelu", "relu", "elu", "prelu_concave",
                                        "prelu_negative"])
@pytest.mark.parametrize("edge_drop, feature_mask", [(0.4, 0.0), (0.0, 0.3), (0.4, 0.3)])
def test_bound_is_below_the_compactness_of_50_sampled_graphs_in_range(activation, edge_drop,
                                                                       feature_mask):
    graph = random_graph(seed=1)
    encoder = encoder_with(activation, seed=1)
    weights = reference_weights(torch.randn(graph.num_nodes, 5))
    with torch.no_grad():
        bound = compactness_lower_bound(encoder, graph.x, graph.edge_index, graph.seeds,
                                        weights, edge_drop, feature_mask)
        rng = random.Random(0)
        samples = [graph] + [sample_in_range(graph, edge_drop, feature_mask, rng)
                             for _ in range(49)]
        changed = [sample.num_edges < graph.num_edges or not torch.equal(sample.x, graph.x)
                   for sample in samples]
        assert sum(changed) >= 40  # the samples do leave the clean graph
        worst = torch.stack([compactness(encoder, sample, weights) for sample in samples])
    assert bool((worst >= bound - 1e-5).all())
    assert bool((bound < worst.amin(dim=0) - 1e-3).any())  # a range widens the bound


def test_a_wider_range_never_raises_the_bound():
    graph = random_graph(seed=2)
    encoder = encoder_with("prelu", seed=2)
    weights = reference_weights(torch.randn(graph.num_nodes, 5))
    with torch.no_grad():
        bounds = [compactness_lower_bound(encoder, graph.x, graph.edge_index, graph.seeds,
                                          weights, rate, rate) for rate in (0.0, 0.2, 0.5)]
    assert bool((bounds[1] <= bounds[0] + 1e-6).all() and (bounds[2] <= bounds[1] + 1e-6).all())


def test_gradients_flow_to_the_gcn_weights_and_the_other_view():
    graph = random_graph(seed=3)
    encoder = encoder_with("prelu", seed=3)
    other = torch.randn(graph.num_nodes, 5, requires_grad=True)
    bound = compactness_lower_bound(encoder, graph.x, graph.edge_index, graph.seeds,
                                    compactness_weights(other), 0.3, 0.3)
    F.softplus(-bound).mean().backward()
    for conv in encoder.convs:
        assert conv.lin.weight.grad is not None and conv.lin.weight.grad.abs().sum() > 0
        assert conv.bias.grad is not None and conv.bias.grad.abs().sum() > 0
    assert all(float(module.weight.grad.abs()) > 0 for module in encoder.activations)
    assert other.grad is not None and other.grad.abs().sum() > 0


def drop_and_mask(graph: GraphBatch, edge_rate: float, feature_rate: float,
                  seed: int) -> GraphBatch:
    """A GRACE-like view for the tests: undirected edges and feature columns dropped."""
    generator = torch.Generator().manual_seed(seed)
    forward = graph.edge_index[:, graph.edge_index[0] < graph.edge_index[1]]
    keep = torch.rand(forward.shape[1], generator=generator) >= edge_rate
    columns = torch.rand(graph.x.shape[1], generator=generator) >= feature_rate
    edges = to_undirected(forward[:, keep], num_nodes=graph.num_nodes)
    return graph.with_edges(edges).with_features(graph.x * columns)


def grace_views_of(graph: GraphBatch) -> list[GraphBatch]:
    return [drop_and_mask(graph, 0.2, 0.3, seed=0), drop_and_mask(graph, 0.4, 0.4, seed=1)]


def test_grace_is_encoder_elu_projection_and_blocked_infonce_with_pot_off():
    graph = random_graph(seed=4)
    encoder = encoder_with("prelu", seed=4)
    method = GRACE(encoder, proj_hidden=7, temperature=0.4, block_size=5)
    views = grace_views_of(graph)
    output = method(views)
    first, elu, second = method.projector.layers
    assert isinstance(elu, nn.ELU) and first.out_features == 7 and second.out_features == 5
    z = [second(F.elu(first(encoder(view)))) for view in views]
    expected = BlockedInfoNCE(temperature=0.4, block_size=5)(z).loss
    assert torch.equal(output.loss, expected)
    assert METHODS.get("grace") is GRACE and GRACE.default_views == "grace_views"


def prepared(method: GRACE, graph: GraphBatch) -> GRACE:
    method.prepare(NodeDataset(x=torch.arange(graph.num_nodes), graph=graph), torch.device("cpu"))
    return method


def test_pot_weight_zero_gives_exactly_grace_and_kappa_mixes_in_pot():
    graph = random_graph(seed=5)
    views = grace_views_of(graph)
    torch.manual_seed(0)
    grace = GRACE(encoder_with("prelu", seed=5), block_size=7)
    off = prepared(GRACE(encoder_with("prelu", seed=5), block_size=7, pot_weight=0.0), graph)
    assert torch.equal(off(views).loss, grace(views).loss)

    kappa = 0.3
    pot = prepared(GRACE(encoder_with("prelu", seed=5), block_size=7, pot_weight=kappa,
                         pot_edge_drop=[0.2, 0.4], pot_feature_mask=0.3), graph)
    pot.projector.load_state_dict(grace.projector.state_dict())
    output = pot(views)
    h = [pot.encoder(view) for view in views]
    regulariser = []
    for other, rate in ((1, 0.2), (0, 0.4)):  # view 1 against view 2, then the reverse
        bound = compactness_lower_bound(pot.encoder, graph.x, graph.edge_index, graph.seeds,
                                        reference_weights(h[other]), rate, 0.3)
        regulariser.append(F.binary_cross_entropy(torch.sigmoid(bound), torch.ones_like(bound)))
    expected = (1 - kappa) * grace(views).loss + kappa * (regulariser[0] + regulariser[1]) / 2
    assert torch.allclose(output.loss, expected, atol=1e-5)
    assert float(output.metrics["pot_loss"]) > 0
    output.loss.backward()
    assert all(conv.lin.weight.grad.abs().sum() > 0 for conv in pot.encoder.convs)
    assert pot.gradient_cache_parts() is None and grace.gradient_cache_parts() is not None


def test_pot_on_a_neighbourhood_batch_bounds_the_clean_subgraph():
    graph = random_graph(num_nodes=40, edges=70, seed=6)
    data = NodeDataset(x=torch.arange(graph.num_nodes), graph=graph, num_hops=2)
    batch = data.batch_x(torch.tensor([3, 17]))
    assert batch.num_nodes < graph.num_nodes  # a neighbourhood, not the whole graph
    method = GRACE(encoder_with("prelu", seed=6), pot_weight=1.0, pot_edge_drop=0.3,
                   pot_feature_mask=0.0)
    method.prepare(data, torch.device("cpu"))
    views = [drop_and_mask(batch, 0.3, 0.0, seed=2), drop_and_mask(batch, 0.3, 0.0, seed=3)]
    h = [method.encoder(view) for view in views]
    expected = []
    for other in (1, 0):
        bound = compactness_lower_bound(method.encoder, batch.x, batch.edge_index, batch.seeds,
                                        compactness_weights(h[other]), 0.3, 0.0)
        expected.append(F.softplus(-bound).mean())
    assert torch.allclose(method.pot_loss(*views, h), (expected[0] + expected[1]) / 2)


def test_the_gcn_encoder_of_the_graph_room_is_bounded_exactly_at_zero_range():
    graph = random_graph(seed=7)
    encoder = ENCODERS.build("gcn", num_features=6, hidden_dim=8, out_dim=5)
    weights = compactness_weights(torch.randn(graph.num_nodes, 5))
    bound = compactness_lower_bound(encoder, graph.x, graph.edge_index, graph.seeds, weights,
                                    0.0, 0.0)
    exact = (weights * encoder(graph)).sum(dim=1)
    assert torch.allclose(bound, exact, atol=1e-5)
    GRACE(encoder, pot_weight=0.5)  # accepted


@pytest.mark.parametrize("encoder_kwargs, message", [
    ({"conv": "gat"}, "derived for GCN encoders"),
    ({"conv": "gcn", "batch_norm": True}, "batch norm"),
    ({"conv": "gcn", "dropout": 0.5}, "without dropout"),
    ({"conv": "gcn", "jumping": "concat"}, "jumping=last"),
])
def test_encoders_the_bound_does_not_cover_are_refused(encoder_kwargs, message):
    kwargs = dict(encoder_kwargs)
    encoder = ENCODERS.build(kwargs.pop("conv"), num_features=6, hidden_dim=8, **kwargs)
    with pytest.raises(ValueError, match=message):
        GRACE(encoder, pot_weight=0.5)
    GRACE(encoder, pot_weight=0.0)  # plain GRACE takes any encoder


def test_unsupported_activation_is_refused():
    encoder = StandInGCN([6, 5], nn.GELU)
    with pytest.raises(ValueError, match="cannot bound activation GELU"):
        GRACE(encoder, pot_weight=0.5)


@pytest.mark.parametrize("kwargs, message", [
    ({"pot_weight": 1.5}, r"pot_weight .* must be in \[0, 1\]"),
    ({"pot_edge_drop": [0.1, 0.2, 0.3]}, "pot_edge_drop must be a rate"),
    ({"pot_feature_mask": -0.1}, "pot_feature_mask must be a rate"),
])
def test_bad_pot_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GRACE(encoder_with("prelu"), **kwargs)


def test_pot_needs_the_clean_graph_of_node_data():
    graph = random_graph(seed=8)
    method = GRACE(encoder_with("prelu"), pot_weight=0.5)
    with pytest.raises(RuntimeError, match=r"call method.prepare\(train_data, device\)"):
        method(grace_views_of(graph))
    with pytest.raises(DataError, match="needs node-level graph data"):
        method.prepare(object(), torch.device("cpu"))
    weighted = graph.with_edges(graph.edge_index, torch.ones(graph.num_edges))
    with pytest.raises(DataError, match="unweighted graphs"):
        method.prepare(NodeDataset(x=torch.arange(graph.num_nodes), graph=weighted),
                       torch.device("cpu"))


def test_default_pot_range_is_the_grace_views_rates():
    from contrastlearn.core.registry import AUGMENTATIONS

    method = GRACE(encoder_with("prelu"), pot_weight=0.5)
    pipelines = AUGMENTATIONS.build("grace_views").pipelines
    edge_rates = tuple(p.augmentation.augmentations[0].p for p in pipelines)
    feature_rates = tuple(p.augmentation.augmentations[1].p for p in pipelines)
    assert method.pot_edge_drop == edge_rates and method.pot_feature_mask == feature_rates
