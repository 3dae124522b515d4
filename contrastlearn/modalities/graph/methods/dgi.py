"""Deep Graph Infomax (Veličković et al. 2019, arXiv 1809.10341): node embeddings learn what
sets their graph apart from a corrupted copy, through a local-global discriminator."""

from __future__ import annotations

from torch import nn

from contrastlearn.core.registry import METHODS
from contrastlearn.methods.base import Method
from contrastlearn.modalities.graph.methods.common import (
    graph_summaries,
    graph_views,
    loss_nodes,
    require_node_embeddings,
    sample_rows,
)
from contrastlearn.objectives.base import LossOutput
from contrastlearn.objectives.local_global import LocalGlobalBCE


@METHODS.register("dgi")
class DGI(Method):
    """views = [graph, corrupted graph] (dgi_views: node features shuffled among nodes). A
    node of the graph and the graph's summary s = sigmoid(mean node embedding) are a positive
    pair, the same node of the corrupted graph and s a negative; a bilinear discriminator
    learns to tell them apart (local_global_bce). Node level: the loss covers the seeds; graph
    level: every node of every graph, each against its own graph's summary (as InfoGraph)."""

    default_views = "dgi_views"

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__(encoder)
        require_node_embeddings(encoder, "dgi")
        self.discriminator = LocalGlobalBCE(encoder.out_dim)

    def training_step(self, views: list, *, labels, ids) -> LossOutput:
        graph, corrupted = graph_views(views, 2, "dgi", "dgi_views [graph, corrupted graph]")
        h = self.encoder.node_embeddings(graph)
        h_corrupted = self.encoder.node_embeddings(corrupted)
        summaries = graph_summaries(h, graph)
        nodes = loss_nodes(graph)
        output = self.discriminator(h[nodes], h_corrupted[loss_nodes(corrupted)], summaries,
                                    graph.batch[nodes])
        return output.with_embeddings([sample_rows(h, graph)])
