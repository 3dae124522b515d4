"""The graph room's views: every view keeps the batch consistent (dtypes, aligned fields,
undirected edges, seeds), is deterministic under a seeded generator and the identity at rate 0;
diffusion, community strength and element knowledge match independent references."""

from dataclasses import replace

import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")

from contrastlearn.augment.base import Identity  # noqa: E402
from contrastlearn.augment.curriculum import strength_rebuilder  # noqa: E402
from contrastlearn.augment.views import Views  # noqa: E402
from contrastlearn.core.registry import AUGMENTATIONS  # noqa: E402
from contrastlearn.modalities.graph import (  # noqa: E402
    augment,
    community,
    diffusion,
    knowledge,
)
from contrastlearn.modalities.graph.batch import GraphBatch  # noqa: E402
from contrastlearn.modalities.graph.datasets import collate_graphs, single_graph  # noqa: E402

FEATURES, VARIANTS = 6, 3


def generator(seed: int = 3) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def both_directions(pairs: list[tuple[int, int]]) -> torch.Tensor:
    edges = torch.tensor(pairs, dtype=torch.long).T
    return torch.cat([edges, edges.flip(0)], dim=1)


def ring_graph(size: int, chords: int, seed: int) -> GraphBatch:
    """A ring with random chords (connected), with aligned fields that encode their node or
    edge: node_ids 0..n-1, atoms 6 + id % 3, variants[i, k] = 10 id + k, edge_attr
    (source + 1, target + 1, 1), symmetric edge_weight 1 + (source + target) / 100."""
    draw = generator(seed)
    pairs = {(node, (node + 1) % size) for node in range(size)}
    while len(pairs) < size + chords:
        first, second = torch.randint(size, (2,), generator=draw).tolist()
        if first != second and (second, first) not in pairs:
            pairs.add((first, second))
    edge_index = both_directions(sorted(pairs))
    ids = torch.arange(size)
    variants = (10 * ids[:, None, None] + torch.arange(VARIANTS)[None, :, None]).float()
    source, target = edge_index
    return single_graph(
        torch.randn(size, FEATURES, generator=draw), edge_index, node_ids=ids, atoms=6 + ids % 3,
        feature_variants=variants.expand(size, VARIANTS, FEATURES).clone(),
        edge_attr=torch.stack([source + 1, target + 1, torch.ones_like(source)], 1).float(),
        edge_weight=1 + (source + target).float() / 100)


def graph_level() -> GraphBatch:
    return collate_graphs([ring_graph(5, 1, 0), ring_graph(9, 4, 1), ring_graph(14, 8, 2)])


def node_level() -> GraphBatch:
    return replace(ring_graph(30, 15, 3), seeds=torch.tensor([0, 3, 17, 29]))


BATCHES = {"graph": graph_level, "node": node_level}

VIEWS = {  # name: (kwargs of an active view, kwargs of its identity, whether it is random)
    "edge_removing": ({"p": 0.5}, {"p": 0.0}, True),
    "edge_adding": ({"p": 0.5}, {"p": 0.0}, True),
    "feature_masking": ({"p": 0.5}, {"p": 0.0}, True),
    "feature_dropout": ({"p": 0.5}, {"p": 0.0}, True),
    "node_attribute_masking": ({"p": 0.5}, {"p": 0.0}, True),
    "node_dropping": ({"p": 0.5}, {"p": 0.0}, True),
    "random_walk_subgraph": ({"p": 0.5}, {"p": 0.0}, True),
    "node_shuffling": ({"p": 1.0}, {"p": 0.0}, True),
    "text_attribute": ({"p": 0.5}, {"p": 0.0}, True),
    "ppr_diffusion": ({"strength": 1.0}, {"strength": 0.0}, False),
    "heat_diffusion": ({"strength": 0.5}, {"strength": 0.0}, False),
    "svd_low_rank": ({"strength": 1.0, "rank": 3}, {"strength": 0.0}, False),
    "community_edge_dropping": ({"p": 0.5}, {"p": 0.0}, True),
    "community_attribute_voting": ({"p": 0.5}, {"p": 0.0}, True),
    "knowledge_element_edges": ({"p": 0.5}, {"p": 0.0}, True),
}

POLICIES = ["grace_views", "bgrl_views", "graphcl_views", "mvgrl_views", "dgi_views",
            "csgcl_views", "kcl_views", "text_attribute_views"]


def fields(batch: GraphBatch) -> dict:
    return {name: getattr(batch, name) for name in
            ("x", "edge_index", "batch", "num_graphs", "seeds", "edge_weight", "edge_attr",
             "node_ids", "atoms", "feature_variants")}


def same(first: GraphBatch, second: GraphBatch) -> bool:
    for one, other in zip(fields(first).values(), fields(second).values()):
        if isinstance(one, torch.Tensor) or isinstance(other, torch.Tensor):
            if not (isinstance(one, torch.Tensor) and isinstance(other, torch.Tensor)
                    and one.shape == other.shape and torch.equal(one, other)):
                return False
        elif one != other:
            return False
    return True


def check_consistent(out: GraphBatch, original: GraphBatch) -> None:
    """Every property a view must keep."""
    assert isinstance(out, GraphBatch)
    assert out.x.dtype == original.x.dtype and out.x.shape[1] == original.x.shape[1]
    assert out.edge_index.dtype == torch.long and out.edge_index.shape[0] == 2
    assert out.num_graphs == original.num_graphs
    assert torch.equal(out.batch, out.batch.sort().values)
    assert bool((torch.bincount(out.batch, minlength=out.num_graphs) >= 1).all())
    source, target = out.edge_index
    assert bool(((source >= 0) & (source < out.num_nodes) & (target < out.num_nodes)).all())
    assert torch.equal(out.batch[source], out.batch[target])  # edges stay in their graph
    pairs = set(zip(source.tolist(), target.tolist()))
    assert all((second, first) in pairs for first, second in pairs)  # undirected
    if out.edge_weight is not None:
        assert out.edge_weight.shape == (out.num_edges,)
        weights = torch.zeros(out.num_nodes, out.num_nodes, dtype=torch.float64)
        weights.index_put_((source, target), out.edge_weight.double(), accumulate=True)
        torch.testing.assert_close(weights, weights.T)
    ids = out.node_ids
    assert torch.equal(out.atoms, 6 + ids % 3)
    assert torch.equal(out.feature_variants[:, :, 0],
                       (10 * ids[:, None] + torch.arange(VARIANTS)).float())
    if out.edge_attr is not None:
        assert out.edge_attr.shape == (out.num_edges, 3)
        original_edge = out.edge_attr[:, 2] == 1
        assert torch.equal(out.edge_attr[original_edge, 0].long() - 1, ids[source[original_edge]])
        assert torch.equal(out.edge_attr[original_edge, 1].long() - 1, ids[target[original_edge]])
        if out.edge_weight is not None:
            expected = 1 + (ids[source] + ids[target]).float() / 100
            torch.testing.assert_close(out.edge_weight[original_edge], expected[original_edge])
    if original.seeds is not None:
        assert torch.equal(ids[out.seeds], original.node_ids[original.seeds])


@pytest.mark.parametrize("level", sorted(BATCHES))
@pytest.mark.parametrize("name", sorted(VIEWS))
def test_every_view_keeps_the_batch_consistent_deterministic_and_identity_at_zero(name, level):
    active, inactive, random = VIEWS[name]
    batch = BATCHES[level]()
    view = AUGMENTATIONS.build(name, **active)
    out = view(batch, generator(3))
    check_consistent(out, batch)
    assert same(out, view(batch, generator(3)))  # same seed, same view
    assert not same(out, batch)  # the view changed something
    if random:
        assert any(not same(out, view(batch, generator(seed))) for seed in (4, 5, 6))
    assert same(AUGMENTATIONS.build(name, **inactive)(batch, generator(3)), batch)


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_views_refuse_what_is_not_a_graph_batch(name):
    with pytest.raises(ValueError, match="expects a GraphBatch"):
        AUGMENTATIONS.build(name, **VIEWS[name][0])(torch.zeros(3, 4), generator())


@pytest.mark.parametrize("name", ["edge_removing", "feature_masking", "node_dropping",
                                  "community_edge_dropping", "text_attribute"])
def test_rates_outside_the_unit_interval_are_refused(name):
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        AUGMENTATIONS.build(name, p=1.5)


def test_edge_removing_drops_both_directions_of_about_p_of_the_pairs():
    batch = ring_graph(200, 200, 7)
    out = augment.EdgeRemoving(0.3)(batch, generator())
    assert abs(out.num_edges / batch.num_edges - 0.7) < 0.06
    assert out.num_edges % 2 == 0


def test_edge_adding_adds_new_undirected_edges_inside_each_graph():
    batch = graph_level()
    out = augment.EdgeAdding(0.5)(batch, generator())
    added = out.edge_attr[:, 2] == 0
    source, target = out.edge_index[:, added]
    assert bool((source != target).all())
    old = set(zip(*batch.edge_index.tolist()))
    assert not (set(zip(source.tolist(), target.tolist())) & old)
    pairs_per_graph = torch.bincount(batch.batch[batch.edge_index[0]]) // 2
    added_per_graph = torch.bincount(out.batch[source], minlength=3) // 2
    assert bool((added_per_graph <= torch.round(0.5 * pairs_per_graph)).all())
    assert int(added_per_graph.sum()) >= 0.5 * float(torch.round(0.5 * pairs_per_graph).sum())
    torch.testing.assert_close(out.edge_weight[added], torch.ones(int(added.sum())))


def test_feature_masking_zeroes_the_same_columns_for_every_node_of_a_graph():
    batch = graph_level()
    out = augment.FeatureMasking(0.5)(batch, generator())
    zero = out.x == 0
    per_graph = []
    for graph in range(batch.num_graphs):
        rows = zero[batch.batch == graph]
        assert torch.equal(rows.all(0), rows.any(0))  # a column is masked for all or none
        per_graph.append(rows.all(0))
    kept = ~zero
    assert torch.equal(out.x[kept], batch.x[kept])
    assert any(not torch.equal(per_graph[0], other) for other in per_graph[1:])


def test_feature_dropout_zeroes_about_p_of_the_entries_without_rescaling():
    batch = ring_graph(300, 0, 4)
    out = augment.FeatureDropout(0.25)(batch, generator())
    dropped = out.x == 0
    assert abs(dropped.float().mean().item() - 0.25) < 0.04
    assert torch.equal(out.x[~dropped], batch.x[~dropped])


def test_node_dropping_drops_floor_p_n_per_graph_and_never_a_seed():
    batch = graph_level()
    out = augment.NodeDropping(0.4)(batch, generator())
    assert torch.bincount(out.batch).tolist() == [5 - 2, 9 - 3, 14 - 5]
    seeded = replace(ring_graph(10, 2, 0), seeds=torch.arange(9))
    kept = augment.NodeDropping(0.9)(seeded, generator())
    assert kept.num_nodes == 9 and kept.node_ids[kept.seeds].tolist() == list(range(9))
    alone = augment.NodeDropping(1.0)(graph_level(), generator())
    assert torch.bincount(alone.batch).tolist() == [1, 1, 1]  # never all nodes of a graph


def test_random_walk_subgraph_keeps_a_connected_share_of_each_graph():
    batch = graph_level()
    out = augment.RandomWalkSubgraph(0.3)(batch, generator())
    assert torch.bincount(out.batch).tolist() == [4, 7, 10]  # ceil(0.7 n)
    import networkx as nx

    for graph in range(out.num_graphs):  # one walker per graph: its first visits are connected
        nodes = torch.nonzero(out.batch == graph).flatten()
        inside = torch.isin(out.edge_index[0], nodes)
        drawn = nx.Graph(out.edge_index[:, inside].T.tolist())
        drawn.add_nodes_from(nodes.tolist())
        assert nx.is_connected(drawn)
    seeded = node_level()
    kept = augment.RandomWalkSubgraph(0.8)(seeded, generator())
    assert kept.num_nodes == 6 and set(seeded.seeds.tolist()) <= set(kept.node_ids.tolist())


def test_node_shuffling_permutes_rows_within_each_graph_and_keeps_edges():
    batch = graph_level()
    out = augment.NodeShuffling(1.0)(batch, generator())
    assert torch.equal(out.edge_index, batch.edge_index)
    for graph in range(batch.num_graphs):
        rows = batch.batch == graph
        assert torch.equal(out.x[rows].sort(0).values, batch.x[rows].sort(0).values)
    assert not torch.equal(out.x, batch.x)


def test_text_attribute_takes_a_variant_of_the_same_node_or_explains_how_to_get_them():
    batch = graph_level()
    out = augment.TextAttribute(1.0)(batch, generator())
    node = out.x[:, 0] // 10  # variants encode 10 id + k in every column
    assert torch.equal(node.long(), batch.node_ids)
    assert torch.equal(out.x[:, 1], out.x[:, 0])
    with pytest.raises(ValueError, match="data.options.text_views"):
        augment.TextAttribute(0.5)(replace(batch, feature_variants=None), generator())


def test_graph_one_of_augments_each_graph_with_one_choice_and_keeps_graph_order():
    batch = collate_graphs([ring_graph(4 + graph, 1, graph) for graph in range(6)])
    view = augment.GraphOneOf([augment.FeatureMasking(1.0), Identity()])
    out = view(batch, generator())
    assert torch.equal(out.batch, batch.batch) and torch.equal(out.node_ids, batch.node_ids)
    masked = [bool((out.x[batch.batch == graph] == 0).all()) for graph in range(6)]
    for graph, was_masked in enumerate(masked):
        if not was_masked:
            assert torch.equal(out.x[batch.batch == graph], batch.x[batch.batch == graph])
    assert any(masked) and not all(masked)
    assert set(zip(*out.edge_index.tolist())) == set(zip(*batch.edge_index.tolist()))
    mixed = augment.GraphOneOf([diffusion.PPRDiffusion(), Identity()])
    with pytest.raises(ValueError, match="some have edge_attr"):
        mixed(batch, generator())


def dense_weights(batch: GraphBatch) -> np.ndarray:
    weights = np.zeros((batch.num_nodes, batch.num_nodes))
    source, target = batch.edge_index.numpy()
    np.add.at(weights, (source, target), batch.edge_weight.double().numpy())
    return weights


def tiny_graph() -> GraphBatch:
    """A triangle with a tail: 0-1, 1-2, 2-0, 2-3, 3-4 (not bipartite)."""
    edge_index = both_directions([(0, 1), (1, 2), (2, 0), (2, 3), (3, 4)])
    return single_graph(torch.zeros(5, 2, dtype=torch.float64), edge_index)


def normalised_reference(self_loops: bool) -> np.ndarray:
    adjacency = np.zeros((5, 5))
    for first, second in [(0, 1), (1, 2), (2, 0), (2, 3), (3, 4)]:
        adjacency[first, second] = adjacency[second, first] = 1
    if self_loops:
        adjacency += np.eye(5)
    scale = np.diag(adjacency.sum(1) ** -0.5)
    return scale @ adjacency @ scale


@pytest.mark.parametrize("dense_limit", [4096, 0])  # exact dense solve; sparse series
def test_ppr_diffusion_matches_the_closed_form(dense_limit):
    alpha = 0.2
    view = diffusion.PPRDiffusion(alpha, top_k=None, eps=0.0, dense_limit=dense_limit)
    out = view(tiny_graph(), generator())
    reference = alpha * np.linalg.inv(np.eye(5) - (1 - alpha) * normalised_reference(True))
    np.testing.assert_allclose(dense_weights(out), reference, atol=1e-5)


@pytest.mark.parametrize("dense_limit", [4096, 0])
def test_heat_diffusion_matches_the_matrix_exponential(dense_limit):
    from scipy.linalg import expm

    view = diffusion.HeatDiffusion(5.0, top_k=None, eps=0.0, dense_limit=dense_limit)
    out = view(tiny_graph(), generator())
    reference = expm(5.0 * (normalised_reference(True) - np.eye(5)))
    np.testing.assert_allclose(dense_weights(out), reference, atol=1e-5)


@pytest.mark.parametrize("dense_limit", [4096, 0])
def test_svd_low_rank_matches_a_truncated_svd(dense_limit):
    left, singular, right = np.linalg.svd(normalised_reference(False))
    reference = (left[:, :2] * singular[:2]) @ right[:2]
    view = diffusion.SVDLowRank(rank=2, top_k=None, eps=0.0, dense_limit=dense_limit, niter=6)
    out = view(tiny_graph(), generator())
    kept = reference >= 0
    np.testing.assert_allclose(dense_weights(out)[kept], reference[kept], atol=1e-4)
    assert (dense_weights(out)[~kept] == 0).all()  # negative entries are not edges
    state = torch.get_rng_state()
    diffusion.SVDLowRank(rank=2, dense_limit=0, seed=5)(ring_graph(12, 3, 1), generator())
    assert torch.equal(torch.get_rng_state(), state)  # torch.svd_lowrank ran on a fork


def test_diffusion_keeps_each_nodes_top_k_and_is_per_graph():
    batch = graph_level()
    out = diffusion.PPRDiffusion(top_k=3)(batch, generator())
    per_node = torch.bincount(out.edge_index[0], minlength=out.num_nodes)
    assert bool((per_node >= 3).all()) and out.edge_attr is None
    for graph in range(batch.num_graphs):
        alone = batch.select_graphs(torch.tensor([graph]))
        single = diffusion.PPRDiffusion(top_k=3)(alone, generator())
        offset = int(torch.nonzero(batch.batch == graph)[0])
        inside = out.batch[out.edge_index[0]] == graph
        assert torch.equal(out.edge_index[:, inside] - offset, single.edge_index)
        torch.testing.assert_close(out.edge_weight[inside], single.edge_weight)


def test_diffusion_is_cached_by_structure_and_blends_by_strength():
    diffusion.STRUCTURE_VIEWS.clear()
    batch = node_level()
    full = diffusion.PPRDiffusion(strength=1.0)(batch, generator())
    copy = replace(batch, edge_index=batch.edge_index.clone(), batch=batch.batch.clone())
    half = diffusion.PPRDiffusion(strength=0.5)(copy, generator())
    assert diffusion.STRUCTURE_VIEWS.hits == 1 and len(diffusion.STRUCTURE_VIEWS) == 1
    expected = 0.5 * dense_weights(batch) + 0.5 * dense_weights(full)
    np.testing.assert_allclose(dense_weights(half), expected, atol=1e-6)


def three_communities() -> torch.Tensor:
    """Triangle A {0,1,2} - clique B {3,4,5,6} - triangle C {7,8,9}, bridges 2-3 and 6-7."""
    clique = [(3, 4), (3, 5), (3, 6), (4, 5), (4, 6), (5, 6)]
    return both_directions([(0, 1), (1, 2), (0, 2), *clique, (7, 8), (8, 9), (7, 9),
                            (2, 3), (6, 7)])


def test_community_strength_matches_the_hand_computed_toy_graph():
    edge_index = three_communities()
    labels = community.detect_communities(edge_index, 10)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    # m = 14 edges; A: 3 inner edges, degree 7 -> 3/14 - (7/28)^2 = 17/112; B: 6, 14 -> 20/112
    strength = community.community_strength(edge_index, labels)
    torch.testing.assert_close(strength, torch.tensor([17, 20, 17], dtype=torch.float64) / 112)


def test_community_edge_dropping_follows_csgcl_keep_probabilities():
    copies = 150
    graphs = [single_graph(torch.ones(10, 3), three_communities()) for _ in range(copies)]
    batch = collate_graphs(graphs)
    out = community.CommunityEdgeDropping(0.5)(batch, generator())
    kept = set(zip(*out.edge_index.tolist()))
    # normalised weights: bridges 0, A and C (54/57), B 1; mean over the 14 pairs
    mean = (6 * 54 / 57 + 6) / 14
    expected = {"A": 0.5 * (54 / 57) / mean, "B": 0.5 / mean, "bridge": 0.0}
    groups = {"A": [(0, 1), (1, 2), (0, 2), (7, 8), (8, 9), (7, 9)],
              "B": [(3, 4), (3, 5), (3, 6), (4, 5), (4, 6), (5, 6)], "bridge": [(2, 3), (6, 7)]}
    for group, pairs in groups.items():
        rate = np.mean([(first + 10 * graph, second + 10 * graph) in kept
                        for graph in range(copies) for first, second in pairs])
        assert abs(rate - expected[group]) < 0.06, group


def test_community_attribute_voting_masks_attributes_of_weak_communities_first():
    x = torch.zeros(10, 3)
    x[3:7, 0] = 1.0  # carried by the strong community B
    x[0:3, 1] = 1.0  # carried by the weaker community A
    batch = single_graph(x, three_communities())
    for seed in range(5):
        out = community.CommunityAttributeVoting(0.5)(batch, generator(seed))
        assert torch.equal(out.x[:, 0], x[:, 0])  # top vote: probability 0
        assert bool((out.x[:, 1] == 0).all())  # lowest vote: 0.5 x 1 / mean(1/3) -> capped at 1


def aspirin() -> GraphBatch:
    from torch_geometric.utils import from_smiles

    molecule = from_smiles("CC(=O)OC1=CC=CC=C1C(=O)O")
    return single_graph(molecule.x.float(), molecule.edge_index, atoms=molecule.x[:, 0])


def test_element_knowledge_graph_links_elements_to_their_attribute_values():
    table = knowledge.element_knowledge()
    carbon, silicon, oxygen = table.values[6], table.values[14], table.values[8]
    kinds = list(table.kinds)
    assert carbon[kinds.index("outer_electrons")] == silicon[kinds.index("outer_electrons")]
    assert carbon[kinds.index("period")] != silicon[kinds.index("period")]
    assert carbon[kinds.index("period")] == oxygen[kinds.index("period")]
    assert table.names[int(carbon[kinds.index("period")])] == "period=2"
    assert bool((table.values[0] == -1).all())


def test_kcl_relation_edges_on_aspirin():
    molecule = aspirin()
    out = knowledge.KnowledgeElementEdges()(molecule, generator())
    atoms = molecule.atoms.tolist()
    assert sorted(set(atoms)) == [6, 8] and len(atoms) == 13
    bonds = {tuple(sorted(pair)) for pair in molecule.edge_index.T.tolist()}
    table = knowledge.element_knowledge().values
    expected = {}
    for first in range(13):  # naive reference: every unbonded pair sharing an attribute
        for second in range(first + 1, 13):
            shared = sum(int(a == b and a >= 0) for a, b in
                         zip(table[atoms[first]].tolist(), table[atoms[second]].tolist()))
            if shared and (first, second) not in bonds:
                expected[(first, second)] = shared / 6
    assert len(expected) == 78 - 13  # C and O share their period: all unbonded pairs
    added = out.edge_index[:, molecule.num_edges:]
    weights = out.edge_weight[molecule.num_edges:]
    found = {(int(a), int(b)): float(w) for (a, b), w in zip(added.T, weights) if a < b}
    assert found.keys() == expected.keys()
    for pair, weight in expected.items():
        assert found[pair] == pytest.approx(weight)
    carbons = [index for index, atom in enumerate(atoms) if atom == 6]
    assert found[(carbons[0], carbons[2])] == pytest.approx(1.0)  # same element: all shared
    assert torch.equal(out.edge_index[:, :molecule.num_edges], molecule.edge_index)
    assert torch.equal(out.edge_weight[:molecule.num_edges], torch.ones(molecule.num_edges))


def test_kcl_needs_atoms_and_bounded_graphs():
    with pytest.raises(ValueError, match="GraphBatch.atoms"):
        knowledge.KnowledgeElementEdges()(replace(aspirin(), atoms=None), generator())
    with pytest.raises(ValueError, match="max_atoms"):
        knowledge.KnowledgeElementEdges(max_atoms=5)(aspirin(), generator())


@pytest.mark.parametrize("name", POLICIES)
def test_view_policies_make_two_views_and_follow_the_strength(name):
    batch = graph_level()
    factory = AUGMENTATIONS.get(name)
    views = factory().rebuild_with(strength_rebuilder(factory, {}))
    assert isinstance(views, Views) and views.num_views == 2
    assert len(views.describe()) == 2
    made = views(batch, generator())
    for view in made:
        check_consistent(view, batch)
    assert any(not same(view, batch) for view in made)
    views.set_strength(0.5)
    half = factory(strength=0.5)(batch, generator())
    assert all(same(ours, theirs) for ours, theirs in zip(views(batch, generator()), half))
    views.set_strength(0.0)
    assert all(same(view, batch) for view in views(batch, generator()))


def test_mvgrl_views_refuse_an_unknown_diffusion():
    with pytest.raises(ValueError, match="'ppr' or 'heat'"):
        AUGMENTATIONS.build("mvgrl_views", diffusion="katz")
