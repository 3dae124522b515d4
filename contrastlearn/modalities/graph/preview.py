"""The graph room's picture of its views for the report (`plots/views.png`): each row is one
sample, drawn as its input graph and then as each view made of it, on the same node positions
so that what a view changed stands out.

- Node level (the sample is a seed node): the seed's 2-hop neighbourhood when it has at most
  `MAX_NODES` nodes, else the seed, then its neighbours, then nodes two hops away (each in
  order of index) up to `MAX_NODES` nodes.
- Graph level (the sample is a graph): the graph, its first `MAX_NODES` nodes when larger.

In a view's panel, edges the view kept are solid, edges it removed dashed light grey, edges it
added orange; nodes it dropped are hollow grey rings; node colour is the norm of the node's
features (one scale per row, so masked or perturbed features show). Nodes are matched across
panels by `node_ids` (the preview numbers the nodes itself when the batch has none, and views
keep them aligned through `keep_nodes`); a view without them is drawn on its own layout.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from contrastlearn.core.atomic import atomic_write
from contrastlearn.modalities.graph.batch import GraphBatch, check_graph_batch

MAX_SAMPLES = 4
"""Rows of the picture: the first samples of the preview batch."""
MAX_NODES = 60
"""Nodes drawn per sample, so that a row stays readable."""
KEPT_EDGE, REMOVED_EDGE, ADDED_EDGE, DROPPED_NODE = "#444444", "#bbbbbb", "tab:orange", "#999999"


@dataclass
class Panel:
    """One drawn graph: node ids, their feature norms, undirected edges as id pairs, and the
    seed's id (node level) to ring."""

    ids: list[int]
    norms: list[float]
    edges: set[tuple[int, int]]
    seed: int | None


def _neighbours(edge_index: Tensor, nodes: Tensor) -> Tensor:
    return torch.unique(edge_index[1][torch.isin(edge_index[0], nodes)])


def sample_nodes(batch: GraphBatch, sample: int) -> Tensor:
    """Sorted positions (in `batch`) of the nodes drawn for sample `sample` (module docstring)."""
    if batch.seeds is None:
        return (batch.batch == sample).nonzero().flatten()[:MAX_NODES]
    seed = batch.seeds[sample].reshape(1)
    one_hop = torch.unique(torch.cat([seed, _neighbours(batch.edge_index, seed)]))
    two_hop = torch.unique(torch.cat([one_hop, _neighbours(batch.edge_index, one_hop)]))
    if len(two_hop) <= MAX_NODES:
        return two_hop
    ordered = torch.cat([seed, one_hop[one_hop != seed[0]],
                         two_hop[~torch.isin(two_hop, one_hop)]])
    return ordered[:MAX_NODES].sort().values


def _panel(batch: GraphBatch, positions: Tensor, seed: int | None) -> Panel:
    """The nodes at `positions` of `batch` and the edges between them, named by node id."""
    keep = torch.zeros(batch.num_nodes, dtype=torch.bool)
    keep[positions] = True
    ids = batch.node_ids if batch.node_ids is not None else torch.arange(batch.num_nodes)
    source, target = batch.edge_index
    inside = keep[source] & keep[target] & (source != target)
    pairs = torch.stack([ids[source[inside]], ids[target[inside]]])
    edges = {(min(u, v), max(u, v)) for u, v in pairs.T.tolist()}
    norms = batch.x[positions].float().norm(dim=1)
    return Panel(ids[positions].tolist(), norms.tolist(), edges, seed)


def _view_panel(view: GraphBatch, sample: int, drawn_ids: Tensor) -> tuple[Panel, bool]:
    """Sample `sample` in `view` and whether it is matched to the input's nodes by id."""
    if view.node_ids is None:
        seed = None if view.seeds is None else int(view.seeds[sample])
        return _panel(view, sample_nodes(view, sample), seed), False
    if view.seeds is None:
        graph, seed = sample, None
    else:
        position = int(view.seeds[sample])
        graph, seed = int(view.batch[position]), int(view.node_ids[position])
    mask = torch.isin(view.node_ids, drawn_ids) & (view.batch == graph)
    return _panel(view, mask.nonzero().flatten(), seed), True


def _layout(panel: Panel, seed: int) -> dict[int, Any]:
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(panel.ids)
    graph.add_edges_from(panel.edges)
    return nx.spring_layout(graph, seed=seed)


def _draw(ax: Any, panel: Panel, layout: dict[int, Any], *, reference: Panel | None,
          scale: tuple[float, float]) -> None:
    """Draw `panel` on `layout`; against `reference` (the input), mark removed and added edges
    and dropped nodes."""
    from matplotlib.collections import LineCollection

    def segments(edges: set[tuple[int, int]]) -> list:
        return [(layout[u], layout[v]) for u, v in sorted(edges) if u in layout and v in layout]

    if reference is None:
        kept, removed, added = panel.edges, set(), set()
    else:
        present = set(panel.ids)
        kept = panel.edges & reference.edges
        removed = {(u, v) for u, v in reference.edges - panel.edges
                   if u in present and v in present}
        added = panel.edges - reference.edges
        dropped = [node for node in reference.ids if node not in present]
        if dropped:
            points = [layout[node] for node in dropped]
            ax.scatter([p[0] for p in points], [p[1] for p in points], s=40,
                       facecolors="none", edgecolors=DROPPED_NODE, linewidths=1.2, zorder=2)
    for edges, colour, style in ((removed, REMOVED_EDGE, "--"), (kept, KEPT_EDGE, "-"),
                                 (added, ADDED_EDGE, "-")):
        if edges:
            ax.add_collection(LineCollection(segments(edges), colors=colour, linestyles=style,
                                             linewidths=0.8, zorder=1))
    points = [layout[node] for node in panel.ids]
    ax.scatter([p[0] for p in points], [p[1] for p in points], c=panel.norms, cmap="viridis",
               vmin=scale[0], vmax=scale[1], s=30, zorder=3,
               edgecolors=["black" if node == panel.seed else "none" for node in panel.ids],
               linewidths=1.5)
    ax.set_aspect("equal")
    ax.margins(0.08)
    ax.set_axis_off()


def write_graph_preview(views: Any, samples: GraphBatch, plots_dir: str | Path, *,
                        encoder: Any = None, seed: int = 0) -> Path:
    """Draw up to `MAX_SAMPLES` samples of `samples` and the views `views` makes of them
    (generator seeded by `seed`) into `plots_dir/views.png`; returns the path. The Modality's
    `preview` hook (`encoder` is accepted for its signature and not used)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from contrastlearn.report.html import PREVIEW_NAME

    batch = check_graph_batch(samples, "the graph preview")
    if len(batch) == 0:
        raise ValueError("the graph preview needs at least one sample")
    if batch.node_ids is None:
        batch = replace(batch, node_ids=torch.arange(batch.num_nodes, device=batch.device))
    made = [view.to("cpu") for view in views(batch, torch.Generator(
        device=batch.device).manual_seed(seed))]
    batch = batch.to("cpu")
    rows, columns = min(len(batch), MAX_SAMPLES), 1 + len(made)
    figure = Figure(figsize=(3.0 * columns, 3.0 * rows + 0.8), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for row in range(rows):
        positions = sample_nodes(batch, row)
        seed_id = None if batch.seeds is None else int(batch.node_ids[batch.seeds[row]])
        original = _panel(batch, positions, seed_id)
        panels = [_view_panel(view, row, batch.node_ids[positions]) for view in made]
        norms = original.norms + [norm for panel, _ in panels for norm in panel.norms]
        scale = (min(norms), max(max(norms), min(norms) + 1e-6))
        layout = _layout(original, seed)
        _draw(axes[row, 0], original, layout, reference=None, scale=scale)
        for column, (panel, matched) in enumerate(panels, start=1):
            _draw(axes[row, column], panel, layout if matched else _layout(panel, seed),
                  reference=original if matched else None, scale=scale)
        what = "seed and neighbours" if batch.seeds is not None else "graph"
        axes[row, 0].set_title(f"sample {row}: input\n({what}, {len(positions)} nodes)",
                               fontsize=8)
        for column in range(1, columns):
            axes[row, column].set_title(f"view {column}", fontsize=8)
    figure.suptitle("Graph views. Node colour: feature norm (one scale per row); black ring: "
                    "seed node.\nDashed grey: edge the view removed; orange: edge it added; "
                    "hollow grey ring: node it dropped.", fontsize=9)
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    path = Path(plots_dir) / PREVIEW_NAME
    atomic_write(path, buffer.getvalue())
    return path
