"""SGL's graph views (`sgl_views`): what a view holds, determinism under a seeded generator,
identity at strength 0, the drop ratios, one graph per layer for random walk, bad options."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.augment.curriculum import strength_rebuilder
from contrastlearn.modalities.recsys.batch import RecBatch
from contrastlearn.modalities.recsys.datasets import InteractionDataset
from contrastlearn.modalities.recsys.graph_views import (
    SGLGraphView,
    dropped_nodes,
    kept_edges,
    sgl_views,
)
from contrastlearn.modalities.recsys.interactions import Interactions

pytestmark = pytest.mark.usefixtures("one_thread")


def random_graph(num_users: int = 30, num_items: int = 40, count: int = 400,
                 seed: int = 0) -> Interactions:
    """`count` distinct random (user, item) pairs."""
    generator = torch.Generator().manual_seed(seed)
    keys = torch.randperm(num_users * num_items, generator=generator)[:count]
    return Interactions(keys // num_items, keys % num_items, num_users, num_items)


def a_batch(graph: Interactions, size: int = 16) -> RecBatch:
    return InteractionDataset.of(graph).batch_x(torch.arange(size))


def edge_keys(graph: Interactions) -> set[int]:
    return set(graph.keys().tolist())


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("aug_type", ["nd", "ed", "rw"])
def test_views_are_the_batch_then_two_perturbed_copies(aug_type):
    graph = random_graph()
    batch = a_batch(graph)
    views = sgl_views(aug_type=aug_type, drop_ratio=0.2, layers=3)(batch, seeded(0))
    assert len(views) == 3 and views[0] is batch
    originals = edge_keys(graph)
    for view in views[1:]:
        assert isinstance(view, RecBatch)
        assert torch.equal(view.users, batch.users) and torch.equal(view.items, batch.items)
        assert view.graph is graph
        graphs = view.graph_view if aug_type == "rw" else (view.graph_view,)
        assert len(graphs) == (3 if aug_type == "rw" else 1)
        for perturbed in graphs:
            assert isinstance(perturbed, Interactions)
            assert perturbed.users.dtype == torch.long and perturbed.items.dtype == torch.long
            assert (perturbed.num_users, perturbed.num_items) == (30, 40)
            assert 0 < len(perturbed) < len(graph)
            assert edge_keys(perturbed) <= originals  # only drops, never adds
    first = views[1].graph_view if aug_type != "rw" else views[1].graph_view[0]
    second = views[2].graph_view if aug_type != "rw" else views[2].graph_view[0]
    assert edge_keys(first) != edge_keys(second)  # two independent draws


@pytest.mark.parametrize("aug_type", ["node_dropout", "edge_dropout", "random_walk"])
def test_same_generator_state_same_views(aug_type):
    graph = random_graph()
    batch = a_batch(graph)
    policy = sgl_views(aug_type=aug_type)

    def keys(views):
        out = []
        for view in views[1:]:
            graphs = view.graph_view if isinstance(view.graph_view, tuple) else (view.graph_view,)
            out.append([perturbed.keys().tolist() for perturbed in graphs])
        return out

    assert keys(policy(batch, seeded(5))) == keys(policy(batch, seeded(5)))
    assert keys(policy(batch, seeded(5))) != keys(policy(batch, seeded(6)))


@pytest.mark.parametrize("aug_type", ["nd", "ed", "rw"])
def test_strength_zero_is_the_identity(aug_type):
    batch = a_batch(random_graph())
    views = sgl_views(aug_type=aug_type, drop_ratio=0.5, strength=0.0)(batch, seeded(0))
    assert all(view is batch for view in views)


def test_strength_scales_the_drop_ratio_and_rebuilds():
    made = sgl_views(drop_ratio=0.4, strength=0.5)
    assert made.pipelines[1].augmentation.drop_ratio == pytest.approx(0.2)
    rebuild = strength_rebuilder(sgl_views, {"drop_ratio": 0.4})
    assert rebuild(0.25).pipelines[1].augmentation.drop_ratio == pytest.approx(0.1)


def test_edge_dropout_keeps_exactly_one_minus_ratio_of_the_edges():
    graph = random_graph(count=500)
    view = SGLGraphView("ed", drop_ratio=0.3)(a_batch(graph), seeded(1))
    assert len(view.graph_view) == int(500 * 0.7)
    assert len(edge_keys(view.graph_view)) == len(view.graph_view)  # no edge twice
    kept = kept_edges(100, 0.25, seeded(2), torch.device("cpu"))
    assert len(kept) == 75 and torch.equal(kept, torch.sort(kept).values)


def test_node_dropout_drops_the_ratio_of_users_and_items_with_their_edges():
    mask = dropped_nodes(50, 0.3, seeded(3), torch.device("cpu"))
    assert mask.dtype == torch.bool and int(mask.sum()) == 15
    graph = random_graph(num_users=100, num_items=100, count=3000)
    fractions = []
    for seed in range(5):
        view = SGLGraphView("nd", drop_ratio=0.2)(a_batch(graph), seeded(seed))
        kept = view.graph_view
        fractions.append(len(kept) / len(graph))
        # an edge is gone exactly when its user or item is gone: the kept users are those
        # of the kept edges, and every original edge between kept-side nodes is still there
        user_alive = torch.zeros(100, dtype=torch.bool)
        user_alive[kept.users] = True
        item_alive = torch.zeros(100, dtype=torch.bool)
        item_alive[kept.items] = True
        survivors = graph.subset(user_alive[graph.users] & item_alive[graph.items])
        assert edge_keys(survivors) == edge_keys(kept)
        assert int(user_alive.sum()) <= 80 and int(item_alive.sum()) <= 80
    # both ends must survive: about (1 - 0.2)^2 of the edges stay
    assert sum(fractions) / len(fractions) == pytest.approx(0.64, abs=0.05)


def test_random_walk_draws_one_graph_per_layer():
    graph = random_graph()
    view = SGLGraphView("rw", drop_ratio=0.1, layers=4)(a_batch(graph), seeded(0))
    assert isinstance(view.graph_view, tuple) and len(view.graph_view) == 4
    assert all(len(layer) == int(len(graph) * 0.9) for layer in view.graph_view)
    assert len({tuple(layer.keys().tolist()) for layer in view.graph_view}) == 4


def test_bad_options_and_inputs():
    for kwargs, message in [({"aug_type": "walk"}, "aug_type must be one of"),
                            ({"drop_ratio": 1.0}, "drop_ratio must be in"),
                            ({"drop_ratio": -0.1}, "drop_ratio must be in"),
                            ({"strength": -1.0}, "strength must be >= 0"),
                            ({"drop_ratio": 0.6, "strength": 2.0}, "times strength"),
                            ({"layers": 0}, "layers must be >= 1")]:
        with pytest.raises(ValueError, match=message) as error:
            sgl_views(**kwargs)
        assert "\n" not in str(error.value)
    without_graph = RecBatch(torch.arange(3), torch.arange(3))
    with pytest.raises(ValueError, match="has none"):
        SGLGraphView()(without_graph, seeded(0))
    with pytest.raises(TypeError, match="recsys"):
        SGLGraphView()(torch.zeros(3, 2), seeded(0))
