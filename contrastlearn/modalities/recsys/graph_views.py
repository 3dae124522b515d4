"""SGL's graph views (Wu et al. 2021, "Self-supervised Graph Learning for Recommendation",
arXiv 2010.10783, section 3.2.1): perturbed copies of the training user-item graph that the
`sgl` method propagates over to get two views of every node.

- node dropout ("node_dropout", "nd"): drop `drop_ratio` of the users and of the items (exactly
  int(count * ratio) of each, as the official code draws them) with every edge they touch;
- edge dropout ("edge_dropout", "ed"): keep exactly int(E * (1 - ratio)) of the E edges;
- random walk ("random_walk", "rw"): one independent edge dropout per propagation layer
  (`layers` graphs, a tuple in `RecBatch.graph_view`).

The perturbed graph is renormalised by the method (`normalized_adjacency`), as SGL does. The
official code redraws the views once per epoch; here they are redrawn for every batch (the
framework makes views per batch), which costs one permutation of the edges and one
normalised adjacency per view and step.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from contrastlearn.augment.base import Augmentation, Identity
from contrastlearn.augment.views import ViewPipeline, Views
from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.recsys.batch import RecBatch, check_rec_batch
from contrastlearn.modalities.recsys.interactions import Interactions

AUG_TYPES = {"node_dropout": "node_dropout", "nd": "node_dropout",
             "edge_dropout": "edge_dropout", "ed": "edge_dropout",
             "random_walk": "random_walk", "rw": "random_walk"}
"""Accepted `aug_type` spellings (SGL's names and their abbreviations) -> canonical name."""


def canonical_aug_type(aug_type: str) -> str:
    """The canonical name of an SGL augmentation, or a one-line error listing the choices."""
    key = str(aug_type).lower()
    if key not in AUG_TYPES:
        raise ValueError(f"sgl_views aug_type must be one of {sorted(AUG_TYPES)}; got "
                         f"{aug_type!r}")
    return AUG_TYPES[key]


def kept_edges(count: int, drop_ratio: float, generator: torch.Generator,
               device: torch.device) -> Tensor:
    """Sorted indices of the int(count * (1 - drop_ratio)) edges an edge dropout keeps,
    drawn uniformly without replacement."""
    keep = int(count * (1.0 - drop_ratio))
    chosen = torch.randperm(count, generator=generator, device=device)[:keep]
    return torch.sort(chosen).values


def dropped_nodes(count: int, drop_ratio: float, generator: torch.Generator,
                  device: torch.device) -> Tensor:
    """(count,) bool mask of the int(count * drop_ratio) nodes a node dropout removes."""
    chosen = torch.randperm(count, generator=generator, device=device)[:int(count * drop_ratio)]
    return torch.zeros(count, dtype=torch.bool, device=device).index_fill_(0, chosen, True)


class SGLGraphView(Augmentation):
    """One SGL view of a RecBatch: the batch with `graph_view` set to a perturbed copy of its
    training graph (module docstring). `drop_ratio` in [0, 1); 0 leaves the batch unchanged."""

    def __init__(self, aug_type: str = "edge_dropout", drop_ratio: float = 0.1,
                 layers: int = 2) -> None:
        self.aug_type = canonical_aug_type(aug_type)
        drop_ratio = float(drop_ratio)
        if not 0.0 <= drop_ratio < 1.0:
            raise ValueError(f"sgl_views drop_ratio (times strength) must be in [0, 1); got "
                             f"{drop_ratio}")
        if int(layers) < 1:
            raise ValueError(f"sgl_views layers must be >= 1 (the encoder's propagation "
                             f"layers); got {layers}")
        self.drop_ratio = drop_ratio
        self.layers = int(layers)

    def apply(self, batch: RecBatch, generator: torch.Generator) -> RecBatch:
        batch = check_rec_batch(batch, "sgl_views")
        if batch.graph is None:
            raise ValueError("sgl_views perturbs the batch's training graph, and this RecBatch "
                             "has none (graph=None): build batches with InteractionDataset")
        if self.drop_ratio == 0.0:
            return batch
        graph = batch.graph
        users, items = graph.users.to(batch.device), graph.items.to(batch.device)
        if self.aug_type == "random_walk":
            view = tuple(self._edge_dropout(graph, users, items, generator)
                         for _ in range(self.layers))
        elif self.aug_type == "edge_dropout":
            view = self._edge_dropout(graph, users, items, generator)
        else:
            view = self._node_dropout(graph, users, items, generator)
        return replace(batch, graph_view=view)

    def _edge_dropout(self, graph: Interactions, users: Tensor, items: Tensor,
                      generator: torch.Generator) -> Interactions:
        keep = kept_edges(len(users), self.drop_ratio, generator, users.device)
        return Interactions(users[keep], items[keep], graph.num_users, graph.num_items)

    def _node_dropout(self, graph: Interactions, users: Tensor, items: Tensor,
                      generator: torch.Generator) -> Interactions:
        user_dropped = dropped_nodes(graph.num_users, self.drop_ratio, generator, users.device)
        item_dropped = dropped_nodes(graph.num_items, self.drop_ratio, generator, users.device)
        keep = ~(user_dropped[users] | item_dropped[items])
        return Interactions(users[keep], items[keep], graph.num_users, graph.num_items)


@AUGMENTATIONS.register("sgl_views")
def sgl_views(aug_type: str = "edge_dropout", drop_ratio: float = 0.1, strength: float = 1.0,
              layers: int = 2) -> Views:
    """SGL's views (Wu et al. 2021, arXiv 2010.10783): [batch, view1, view2], each view the
    batch with an independently perturbed training graph (`aug_type` node_dropout/nd,
    edge_dropout/ed or random_walk/rw) at drop ratio `drop_ratio` (0.1, the official Yelp2018
    setting) times `strength`; random walk draws one graph per layer (`layers`, the encoder's
    propagation layers)."""
    strength, drop_ratio = float(strength), float(drop_ratio)
    if not strength >= 0.0:
        raise ValueError(f"sgl_views strength must be >= 0; got {strength}")
    if not 0.0 <= drop_ratio < 1.0:
        raise ValueError(f"sgl_views drop_ratio must be in [0, 1); got {drop_ratio}")
    perturb = SGLGraphView(aug_type, drop_ratio * strength, layers)
    return Views([Identity(), ViewPipeline(perturb, count=2)])
