"""GraphMAE (Hou et al. 2022, arXiv 2205.10803): a masked graph autoencoder that hides node
features behind a learnable [MASK] token and reconstructs them with a scaled cosine error."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.augment.base import Identity
from contrastlearn.augment.views import Views
from contrastlearn.core.registry import AUGMENTATIONS, METHODS
from contrastlearn.methods.base import Method
from contrastlearn.modalities.graph.encoders import CONVS, make_conv, run_conv
from contrastlearn.modalities.graph.methods.common import (
    graph_views,
    loss_nodes,
    require_node_embeddings,
    sample_rows,
)
from contrastlearn.objectives.base import LossOutput


@AUGMENTATIONS.register("graph_identity_views")
def graph_identity_views() -> Views:
    """One view: the graph itself (for methods that make their own corruption, like
    GraphMAE)."""
    return Views([Identity()])


def scaled_cosine_error(target: Tensor, prediction: Tensor, gamma: float) -> Tensor:
    """GraphMAE's SCE: mean over rows of (1 - cos(target_i, prediction_i)) ** gamma; gamma > 1
    down-weights rows already reconstructed well."""
    cosine = (F.normalize(target, dim=1) * F.normalize(prediction, dim=1)).sum(dim=1)
    return (1 - cosine).pow(gamma).mean()


@METHODS.register("graphmae")
class GraphMAE(Method):
    """views = [graph] (graph_identity_views). A `mask_rate` share of the nodes (the seeds at
    node level, every node at graph level), drawn with torch's default generator, loses its
    features: most get the learnable [MASK] token, a `replace_rate` share of them another
    random node's features. The encoder reads the masked graph; its embeddings pass a linear
    map, the masked nodes' are zeroed again (re-mask), and one GNN layer (the encoder's kind:
    GAT, GIN or GCN) decodes every node's input features; the loss is the scaled cosine error
    (exponent `gamma`) on the masked nodes only."""

    default_views = "graph_identity_views"

    def __init__(self, encoder: nn.Module, mask_rate: float = 0.5, replace_rate: float = 0.05,
                 gamma: float = 2.0) -> None:
        super().__init__(encoder)
        require_node_embeddings(encoder, "graphmae")
        if not hasattr(encoder, "num_features"):
            raise TypeError(f"graphmae decodes the input features, so the encoder must say "
                            f"their number (`num_features`); {type(encoder).__name__} does not")
        if not 0 < mask_rate < 1 or not 0 <= replace_rate < 1 or not gamma >= 1:
            raise ValueError(f"graphmae needs 0 < mask_rate < 1, 0 <= replace_rate < 1 and "
                             f"gamma >= 1; got {mask_rate}, {replace_rate}, {gamma}")
        self.mask_rate, self.replace_rate, self.gamma = mask_rate, replace_rate, gamma
        features = int(encoder.num_features)
        self.mask_token = nn.Parameter(torch.zeros(1, features))
        self.encoder_to_decoder = nn.Linear(encoder.out_dim, encoder.out_dim, bias=False)
        kind = getattr(encoder, "conv", "gcn")  # the paper: GAT (node tasks), GIN (graphs)
        self.decoder = make_conv(kind if kind in CONVS else "gcn", encoder.out_dim, features)

    def training_step(self, views: list, *, labels, ids) -> LossOutput:
        (graph,) = graph_views(views, 1, "graphmae", "graph_identity_views [graph]")
        candidates = loss_nodes(graph).unique()
        count = max(1, int(self.mask_rate * len(candidates)))
        masked = candidates[torch.randperm(len(candidates), device=graph.device)[:count]]
        replaced = masked[:int(self.replace_rate * count)]
        token = torch.zeros(graph.num_nodes, dtype=torch.bool, device=graph.device)
        token[masked[len(replaced):]] = True
        x = graph.x.clone()
        x[replaced] = graph.x[torch.randint(graph.num_nodes, (len(replaced),),
                                            device=graph.device)]
        x = torch.where(token[:, None], self.mask_token.to(x.dtype), x)
        h = self.encoder.node_embeddings(graph.with_features(x))
        hidden = self.encoder_to_decoder(h).index_fill(0, masked, 0.0)
        reconstruction = run_conv(self.decoder, hidden, graph)
        loss = scaled_cosine_error(graph.x[masked], reconstruction[masked], self.gamma)
        return LossOutput(loss, {"masked_nodes": float(count)}).with_embeddings(
            [sample_rows(h, graph)])
