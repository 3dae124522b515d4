"""MVGRL (Hassani & Khasahmadi 2020, arXiv 2006.05582): contrastive multi-view learning on
graphs, nodes of one structural view against the summary of the other."""

from __future__ import annotations

from torch import nn

from contrastlearn.core.registry import METHODS
from contrastlearn.methods.base import Method
from contrastlearn.modalities.graph.methods.common import (
    fresh_copy,
    graph_summaries,
    graph_views,
    loss_nodes,
    require_node_embeddings,
    sample_rows,
    shuffle_within_graphs,
)
from contrastlearn.objectives.base import LossOutput
from contrastlearn.objectives.local_global import LocalGlobalBCE


def projection_head(dim: int) -> nn.Module:
    """MVGRL's shared projection: an MLP with two hidden layers and PReLU."""
    return nn.Sequential(nn.Linear(dim, dim), nn.PReLU(), nn.Linear(dim, dim), nn.PReLU(),
                         nn.Linear(dim, dim))


@METHODS.register("mvgrl")
class MVGRL(Method):
    """views = [adjacency view, diffusion view] (mvgrl_views: the same nodes, the second with
    PPR diffusion edges in edge_weight). Each view has its own encoder: `encoder` for the
    adjacency, a freshly initialised copy for the diffusion. Nodes (through a shared projection
    head) of one view and the summary (sigmoid of the mean node embedding, through a shared
    graph head) of the other are positives; the same nodes with features shuffled among the
    nodes of their graph (one permutation from torch's default generator, both views) are
    negatives, scored by one bilinear discriminator (local_global_bce), averaged over both
    directions.
    `projection=False` drops both heads (the authors' node-classification code). The exported
    encoder is the adjacency one; the paper's inference adds the diffusion encoder's
    embedding, which this export leaves out."""

    default_views = "mvgrl_views"

    def __init__(self, encoder: nn.Module, projection: bool = True) -> None:
        super().__init__(encoder)
        require_node_embeddings(encoder, "mvgrl")
        dim = encoder.out_dim
        self.diffusion_encoder = fresh_copy(encoder)
        self.node_head = projection_head(dim) if projection else nn.Identity()
        self.graph_head = projection_head(dim) if projection else nn.Identity()
        self.discriminator = LocalGlobalBCE(dim)

    def training_step(self, views: list, *, labels, ids) -> LossOutput:
        views = graph_views(views, 2, "mvgrl", "mvgrl_views [adjacency, diffusion]")
        encoders = (self.encoder, self.diffusion_encoder)
        order = shuffle_within_graphs(views[0])
        h = [encoder.node_embeddings(view) for encoder, view in zip(encoders, views)]
        h_shuffled = [encoder.node_embeddings(view.with_features(view.x[order]))
                      for encoder, view in zip(encoders, views)]
        nodes = loss_nodes(views[0])
        local = [self.node_head(embeddings[nodes]) for embeddings in h]
        local_shuffled = [self.node_head(embeddings[nodes]) for embeddings in h_shuffled]
        summaries = [self.graph_head(graph_summaries(embeddings, view))
                     for embeddings, view in zip(h, views)]
        assignment = views[0].batch[nodes]
        outputs = [self.discriminator(local[a], local_shuffled[a], summaries[1 - a], assignment)
                   for a in (0, 1)]
        accuracy = (outputs[0].metrics["accuracy"] + outputs[1].metrics["accuracy"]) / 2
        return LossOutput((outputs[0].loss + outputs[1].loss) / 2, {"accuracy": accuracy}
                          ).with_embeddings([sample_rows(h[0], views[0]),
                                             sample_rows(h[1], views[1])])
