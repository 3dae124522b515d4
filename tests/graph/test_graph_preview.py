"""The graph room's view preview: plots/views.png for node-level and graph-level batches,
with nodes matched across panels by id, and the report showing it."""

from dataclasses import replace

import pytest
import torch

pytest.importorskip("networkx")
pytest.importorskip("torch_geometric")

from contrastlearn.augment.views import ViewPipeline, Views  # noqa: E402
from contrastlearn.modalities.graph.datasets import single_graph  # noqa: E402
from contrastlearn.modalities.graph.preview import (  # noqa: E402
    MAX_NODES,
    _panel,
    _view_panel,
    sample_nodes,
    write_graph_preview,
)
from contrastlearn.report.html import PLOTS_DIR, PREVIEW_NAME, _section_preview  # noqa: E402
from contrastlearn.report.preview import preview_samples  # noqa: E402
from tests.graph.graph_eval_fixtures import (  # noqa: E402
    DropEdges,
    DropNodesMaskFeatures,
    both_directions,
    community_graph,
    graph_batch_of,
    small_graphs,
)

PNG = b"\x89PNG\r\n\x1a\n"


def views() -> Views:
    return Views([ViewPipeline(DropEdges()), ViewPipeline(DropNodesMaskFeatures())])


def test_node_level_preview_is_written_where_the_report_reads_it(tmp_path):
    nodes, _ = community_graph()
    samples = preview_samples(nodes, num_samples=3, seed=0)
    assert samples.seeds is not None  # a neighbourhood batch with the drawn nodes as seeds
    plots = tmp_path / PLOTS_DIR
    path = write_graph_preview(views(), samples, plots, encoder=None, seed=0)
    assert path == plots / PREVIEW_NAME and path.read_bytes().startswith(PNG)
    again = write_graph_preview(views(), samples, tmp_path / "again", encoder=None, seed=0)
    assert again.read_bytes() == path.read_bytes()  # seeded: the same picture
    assert "<img" in _section_preview(tmp_path)


def test_graph_level_preview_is_written(tmp_path):
    graphs = small_graphs()
    samples = preview_samples(graphs, num_samples=5, seed=1)
    assert samples.seeds is None and samples.num_graphs == 5
    path = write_graph_preview(views(), samples, tmp_path, encoder=None, seed=0)
    assert path.read_bytes().startswith(PNG)
    other_seed = write_graph_preview(views(), samples, tmp_path / "b", encoder=None, seed=1)
    assert other_seed.read_bytes() != path.read_bytes()


def test_preview_refuses_what_is_not_a_graph_batch(tmp_path):
    with pytest.raises(ValueError, match="expects a GraphBatch"):
        write_graph_preview(views(), torch.zeros(3, 4), tmp_path, encoder=None, seed=0)


def test_sample_nodes_two_hops_when_small_else_seed_neighbours_then_two_hop_up_to_the_cap():
    path = single_graph(torch.ones(6, 2), both_directions(torch.tensor([[0, 1, 2, 3, 4],
                                                                         [1, 2, 3, 4, 5]])),
                        seeds=torch.tensor([2]))
    assert sample_nodes(path, 0).tolist() == [0, 1, 2, 3, 4]
    leaves = torch.arange(1, 101)
    star = single_graph(torch.ones(101, 2), both_directions(
        torch.stack([torch.zeros(100, dtype=torch.long), leaves])), seeds=torch.tensor([0, 80]))
    assert sample_nodes(star, 0).tolist() == list(range(MAX_NODES))  # centre, first leaves
    # leaf 80: itself, the centre, then the lowest-numbered leaves two hops away
    assert sample_nodes(star, 1).tolist() == [*range(MAX_NODES - 1), 80]
    graphs = graph_batch_of(small_graphs(), 3)
    assert sample_nodes(graphs, 1).tolist() == (graphs.batch == 1).nonzero().flatten().tolist()


def test_view_panels_match_nodes_by_id_after_nodes_are_dropped():
    graphs = graph_batch_of(small_graphs(), 3)
    graphs = replace(graphs, node_ids=torch.arange(graphs.num_nodes))
    keep = torch.ones(graphs.num_nodes, dtype=torch.bool)
    keep[(graphs.batch == 2).nonzero()[0]] = False  # the first node of graph 2
    view = graphs.keep_nodes(keep)
    positions = sample_nodes(graphs, 2)
    original = _panel(graphs, positions, None)
    panel, matched = _view_panel(view, 2, graphs.node_ids[positions])
    assert matched and panel.ids == original.ids[1:]
    assert panel.edges == {edge for edge in original.edges if original.ids[0] not in edge}
