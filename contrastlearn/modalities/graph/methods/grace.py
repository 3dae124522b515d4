"""GRACE (Zhu et al. 2020, "Deep Graph Contrastive Representation Learning", arXiv 2006.04131),
with POT's node-compactness regulariser as an option (Yu et al. 2023, "Provable Training for
Graph Contrastive Learning", NeurIPS 2023, arXiv 2309.13944)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import subgraph

from contrastlearn.core.registry import METHODS
from contrastlearn.data.arrays import DataError
from contrastlearn.methods.composed import Composed
from contrastlearn.modalities.graph.augment import grace_views
from contrastlearn.modalities.graph.batch import GraphBatch
from contrastlearn.modalities.graph.methods.common import graph_views
from contrastlearn.modalities.graph.methods.pot import (
    check_pot_encoder,
    compactness_lower_bound,
    compactness_weights,
)
from contrastlearn.objectives.base import LossOutput

_VIEW_DEFAULTS = {name: parameter.default
                  for name, parameter in inspect.signature(grace_views).parameters.items()}
GRACE_EDGE_DROP = (_VIEW_DEFAULTS["p_e1"], _VIEW_DEFAULTS["p_e2"])
"""Edge-drop rates of `grace_views`' two views by default: POT's default range."""
GRACE_FEATURE_MASK = (_VIEW_DEFAULTS["p_f1"], _VIEW_DEFAULTS["p_f2"])
"""Feature-mask rates of `grace_views`' two views by default: POT's default range."""


def _per_view(rates: float | Sequence[float] | None, default: tuple[float, float],
              name: str) -> tuple[float, float]:
    """One rate per view: `default` for None, the same rate twice for a number."""
    if rates is None:
        return default
    pair = (rates, rates) if isinstance(rates, (int, float)) else tuple(rates)
    if len(pair) != 2 or not all(0.0 <= float(rate) <= 1.0 for rate in pair):
        raise ValueError(f"grace {name} must be a rate in [0, 1] or one per view ([view 1, "
                         f"view 2]); got {rates!r}")
    return float(pair[0]), float(pair[1])


@METHODS.register("grace")
class GRACE(Composed):
    """views = [view 1, view 2] (grace_views: edges dropped and feature columns masked, each
    view at its own rates) -> encoder (a GCN) -> projection (Linear -> ELU -> Linear, hidden
    `proj_hidden`) -> NT-Xent over the nodes of both views, every other node of either view
    a negative (`blocked_infonce`, computed in blocks of `block_size` rows so that large
    graphs fit in memory).

    `pot_weight` = kappa > 0 adds POT (Yu et al. 2023): for each view's nodes a certified lower
    bound of their node compactness over the augmentation range (edges dropped at
    `pot_edge_drop`, features masked at `pot_feature_mask`, one rate per view, by default
    `grace_views`' default rates; see `contrastlearn.modalities.graph.methods.pot`), pushed
    to be positive with binary cross-entropy, and the loss becomes
    (1 - kappa) * GRACE + kappa * POT, as in the paper. The compactness uses the encoder's
    embeddings (before the projection), the other view's embeddings giving each node its
    positive and negatives, over the seed nodes of the batch. POT needs the clean graph
    around which the range is drawn: `prepare` takes it from the training data."""

    default_views = "grace_views"

    def __init__(self, encoder: nn.Module, proj_hidden: int = 128,
                 projection_dim: int | None = None, temperature: float = 0.5,
                 block_size: int = 4096, gather: bool = True, pot_weight: float = 0.0,
                 pot_edge_drop: float | Sequence[float] | None = None,
                 pot_feature_mask: float | Sequence[float] | None = None) -> None:
        super().__init__(
            encoder, head="projection_mlp",
            head_kwargs={"hidden_dim": proj_hidden, "out_dim": projection_dim or encoder.out_dim,
                         "batch_norm": False, "activation": "elu"},
            objective="blocked_infonce",
            objective_kwargs={"temperature": temperature, "block_size": block_size,
                              "gather": gather})
        if not 0.0 <= pot_weight <= 1.0:
            raise ValueError(f"grace pot_weight (POT's kappa: loss = (1 - kappa) GRACE + kappa "
                             f"POT) must be in [0, 1]; got {pot_weight}")
        self.pot_weight = float(pot_weight)
        self.pot_edge_drop = _per_view(pot_edge_drop, GRACE_EDGE_DROP, "pot_edge_drop")
        self.pot_feature_mask = _per_view(pot_feature_mask, GRACE_FEATURE_MASK,
                                          "pot_feature_mask")
        if self.pot_weight > 0:
            check_pot_encoder(encoder)
        self._clean_graph: GraphBatch | None = None

    def prepare(self, data, device: torch.device) -> None:
        """Keep the clean training graph (POT's bound is over graphs around it)."""
        if self.pot_weight == 0:
            return
        graph = getattr(data, "graph", None)
        if not isinstance(graph, GraphBatch):
            raise DataError(f"grace's POT regulariser needs node-level graph data (one graph "
                            f"whose nodes are the samples); got {type(data).__name__}: set "
                            "method.kwargs.pot_weight=0")
        if graph.edge_weight is not None:
            raise DataError("grace's POT bound is for unweighted graphs; this graph has edge "
                            "weights: set method.kwargs.pot_weight=0")
        self._clean_graph = graph.to(device)

    def training_step(self, views: list, *, labels, ids) -> LossOutput:
        if self.pot_weight == 0:
            return super().training_step(views, labels=labels, ids=ids)
        first, second = graph_views(views, 2, "grace", "grace_views [view 1, view 2]")
        h = [self.encoder(first), self.encoder(second)]
        z = [self.projector(part) for part in h]
        contrastive = self.loss(z, labels, ids)
        pot = self.pot_loss(first, second, h)
        loss = (1.0 - self.pot_weight) * contrastive.loss + self.pot_weight * pot
        metrics = {**contrastive.metrics, "grace_loss": contrastive.loss.detach(),
                   "pot_loss": pot.detach()}
        return LossOutput(loss, metrics).with_embeddings(z)

    def pot_loss(self, first: GraphBatch, second: GraphBatch, h: list[Tensor]) -> Tensor:
        """POT's regulariser: mean over both views and the seed nodes of
        BCE(sigmoid(compactness bound), 1) = softplus(-bound); `h` are the encoder's seed
        embeddings of the two views."""
        if first.seeds is None or second.seeds is None or not torch.equal(first.seeds,
                                                                           second.seeds):
            raise ValueError("grace's POT regulariser is node-level: both views need the same "
                             "seed nodes (node data, views that keep every node)")
        x, edge_index = self._clean_batch(first, second)
        terms = []
        for view, other in ((0, 1), (1, 0)):
            bound = compactness_lower_bound(
                self.encoder, x, edge_index, first.seeds, compactness_weights(h[other]),
                self.pot_edge_drop[view], self.pot_feature_mask[view])
            terms.append(F.softplus(-bound).mean())
        return (terms[0] + terms[1]) / 2

    def _clean_batch(self, first: GraphBatch, second: GraphBatch) -> tuple[Tensor, Tensor]:
        """(x, edge_index) of the clean graph on the views' nodes, in the views' node order."""
        graph = self._clean_graph
        if graph is None:
            raise RuntimeError("grace with pot_weight > 0 needs the clean training graph: call "
                               "method.prepare(train_data, device) first (the trainer does)")
        node_ids = first.node_ids
        if node_ids is None or second.node_ids is None or not torch.equal(node_ids,
                                                                          second.node_ids):
            raise ValueError("grace's POT regulariser needs views that carry the same node_ids "
                             "(node data from a NodeDataset, views that keep every node)")
        source_ids = graph.node_ids
        if source_ids is None:
            source_ids = torch.arange(graph.num_nodes, device=graph.device)
        position = torch.full((int(source_ids.max()) + 1,), -1, dtype=torch.long,
                              device=graph.device)
        position[source_ids] = torch.arange(graph.num_nodes, device=graph.device)
        nodes = position[node_ids.to(graph.device)]
        if len(nodes) == graph.num_nodes and torch.equal(
                nodes, torch.arange(graph.num_nodes, device=graph.device)):
            return graph.x, graph.edge_index
        edge_index, _ = subgraph(nodes, graph.edge_index, relabel_nodes=True,
                                 num_nodes=graph.num_nodes)
        return graph.x[nodes], edge_index

    def gradient_cache_parts(self):
        """GRACE's loss is a function of the projections; POT's also of the graph, so
        gradient caching applies only without it."""
        return super().gradient_cache_parts() if self.pot_weight == 0 else None
