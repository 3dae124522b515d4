"""NCL (Lin et al. 2022, "Improving Graph Collaborative Filtering with Neighborhood-enriched
Contrastive Learning", WWW 2022, arXiv 2202.06200): LightGCN + BPR, plus two contrastive terms
that pull each node towards its neighbours.

- Structural neighbours (paper eq. 8-9): the layer-2h output of each batch user (h =
  `hyper_layers`, so an even layer: a node's homogeneous neighbours) against the layer-0
  embeddings of all users, its own being the positive; the same for the batch's positive
  items, weighted by `alpha`. The encoder needs at least 2h layers (the official code
  propagates extra layers for this term when it has fewer).
- Semantic (prototype) neighbours (eq. 11-12): each batch user's layer-0 embedding against the
  k-means centroids of all users' layer-0 embeddings, its own cluster's being the positive;
  the same for items. The clusters are recomputed at the start of every
  `cluster_every_epochs`-th epoch (the official trainer's E-step, m_step 1), and the term is
  left out during the first `proto_warmup_epochs` epochs (its warm_up_step 20).

As in the official code, cosine similarities over `temperature`, denominators over all users
(items, centroids), and sums (not means) over the batch's rows, to which the tiny default
weights are tuned: ssl_reg 1e-7 (`cl_weight`), proto_reg 8e-8 (`proto_weight`), ssl_temp 0.1,
alpha 1, num_clusters 1000 (clamped to the number of users and of items), reg_weight 1e-4,
hyper_layers 1 (the official NCL properties, RecBole batch size 4096). K-means runs in torch
(`kmeans`, torch's default generator) for `kmeans_iterations` (25, faiss' default) Lloyd
steps; the official code uses faiss.

Epochs are not told to methods: the method counts the samples of each optimizer step (times
the number of processes) and, with the training set size `prepare` sees, knows the step at
which each epoch starts (the engine's epoch is len(data) // batch size steps).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.distributed import world_size
from contrastlearn.core.registry import METHODS
from contrastlearn.modalities.recsys.methods.common import RecMethod
from contrastlearn.modalities.recsys.methods.graph_contrast import (
    all_node_infonce,
    check_non_negative,
    check_positive,
)
from contrastlearn.modalities.recsys.methods.lightgcn import require_lightgcn
from contrastlearn.objectives.base import LossOutput

KMEANS_CHUNK = 8192
"""Rows per block of the k-means distance matrix (keeps it at most 8192 x k)."""


def nearest_centroid(points: Tensor, centroids: Tensor) -> Tensor:
    """(N,) index of each point's nearest centroid (squared L2), in blocks of rows."""
    centroid_norms = centroids.pow(2).sum(dim=1)
    parts = [(centroid_norms - 2 * block @ centroids.T).argmin(dim=1)
             for block in points.split(KMEANS_CHUNK)]
    return torch.cat(parts)


@torch.no_grad()
def kmeans(points: Tensor, clusters: int, iterations: int) -> tuple[Tensor, Tensor]:
    """(centroids (k, D), assignment (N,)): Lloyd's k-means on `points` from `clusters`
    distinct points drawn with torch's default generator; a cluster left empty keeps its
    centroid. The assignment is to the final centroids."""
    points = points.detach().float()
    start = torch.randperm(points.shape[0], device=points.device)[:clusters]
    centroids = points[start].clone()
    for _ in range(iterations):
        assignment = nearest_centroid(points, centroids)
        counts = torch.bincount(assignment, minlength=clusters).to(points.dtype)
        sums = torch.zeros_like(centroids).index_add_(0, assignment, points)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
    return centroids, nearest_centroid(points, centroids)


@METHODS.register("ncl")
class NCL(RecMethod):
    """views = [batch] -> LightGCN for BPR + `reg_weight` * L2, + `cl_weight` * structural
    InfoNCE (users + `alpha` * items) + `proto_weight` * prototype InfoNCE (users + items),
    both at `temperature` (module docstring)."""

    method_name = "ncl"

    def __init__(self, encoder: nn.Module, cl_weight: float = 1e-7, proto_weight: float = 8e-8,
                 temperature: float = 0.1, alpha: float = 1.0, hyper_layers: int = 1,
                 num_clusters: int = 1000, cluster_every_epochs: int = 1,
                 proto_warmup_epochs: int = 20, kmeans_iterations: int = 25,
                 reg_weight: float = 1e-4) -> None:
        check_positive(self.method_name, temperature=temperature, num_clusters=num_clusters,
                       cluster_every_epochs=cluster_every_epochs,
                       kmeans_iterations=kmeans_iterations)
        check_non_negative(self.method_name, cl_weight=cl_weight, proto_weight=proto_weight,
                           alpha=alpha, proto_warmup_epochs=proto_warmup_epochs)
        super().__init__(encoder, reg_weight)
        require_lightgcn(encoder, self.method_name)
        if not (hyper_layers >= 1 and 2 * hyper_layers <= encoder.layers):
            raise ValueError(f"ncl hyper_layers must be >= 1 with 2 * hyper_layers <= the "
                             f"encoder's {encoder.layers} layers; got {hyper_layers}")
        self.cl_weight, self.proto_weight = cl_weight, proto_weight
        self.temperature, self.alpha, self.hyper_layers = temperature, alpha, hyper_layers
        self.num_clusters, self.kmeans_iterations = num_clusters, kmeans_iterations
        self.cluster_every_epochs = cluster_every_epochs
        self.proto_warmup_epochs = proto_warmup_epochs
        dim = encoder.out_dim
        user_clusters = min(num_clusters, encoder.num_users)
        item_clusters = min(num_clusters, encoder.num_items)
        self.register_buffer("user_centroids", torch.zeros(user_clusters, dim))
        self.register_buffer("item_centroids", torch.zeros(item_clusters, dim))
        self.register_buffer("user_cluster", torch.zeros(encoder.num_users, dtype=torch.long))
        self.register_buffer("item_cluster", torch.zeros(encoder.num_items, dtype=torch.long))
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))
        self.register_buffer("clustered_epoch", torch.full((), -1, dtype=torch.long))
        self._epoch_samples: int | None = None
        self._step_samples = 0
        self._counted: object | None = None

    def prepare(self, data: Any, device: torch.device) -> None:
        super().prepare(data, device)
        self._epoch_samples = len(data)

    def training_step(self, views, *, labels, ids) -> LossOutput:
        batch = self.batch_of(views)
        if batch is not self._counted:  # a second pass over one batch (SAM) counts once
            self._step_samples += len(batch)
            self._counted = batch
        if int(self.clustered_epoch) < 0:
            self.cluster()
        encoder = self.encoder
        outputs = encoder.layer_outputs()
        users, items = encoder.split(torch.stack(outputs).mean(dim=0))
        ego_users, ego_items = encoder.split(outputs[0])
        loss, metrics = self.ranking_loss(batch, users, items, ego_users, ego_items)
        context_users, context_items = encoder.split(outputs[2 * self.hyper_layers])
        structural_user = all_node_infonce(context_users[batch.users], ego_users, batch.users,
                                           self.temperature).sum()
        structural_item = all_node_infonce(context_items[batch.items], ego_items, batch.items,
                                           self.temperature).sum()
        structural = structural_user + self.alpha * structural_item
        prototype = loss.new_zeros(())
        if int(self.epoch) >= self.proto_warmup_epochs:
            prototype = self.prototype_loss(batch.users, batch.items, ego_users, ego_items)
        total = loss + self.cl_weight * structural + self.proto_weight * prototype
        metrics.update(structural=structural.detach(), prototype=prototype.detach())
        return LossOutput(total, metrics)

    def prototype_loss(self, users: Tensor, items: Tensor, ego_users: Tensor,
                       ego_items: Tensor) -> Tensor:
        """Sum over the batch's rows of the InfoNCE of each user's (item's) layer-0 embedding
        against all user (item) centroids, its own cluster's the positive."""
        user_term = all_node_infonce(ego_users[users], self.user_centroids,
                                     self.user_cluster[users], self.temperature)
        item_term = all_node_infonce(ego_items[items], self.item_centroids,
                                     self.item_cluster[items], self.temperature)
        return user_term.sum() + item_term.sum()

    @torch.no_grad()
    def cluster(self) -> None:
        """The E-step: k-means of the layer-0 user and item embeddings; the centroids are kept
        L2-normalised, each node's cluster index with them."""
        for table, centroids, assignment in (
                (self.encoder.user_embedding.weight, self.user_centroids, self.user_cluster),
                (self.encoder.item_embedding.weight, self.item_centroids, self.item_cluster)):
            found, nearest = kmeans(table, centroids.shape[0], self.kmeans_iterations)
            centroids.copy_(F.normalize(found, dim=-1))
            assignment.copy_(nearest)
        self.clustered_epoch.fill_(self.epoch)

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        """Advance the epoch count (module docstring) and recluster at the start of every
        `cluster_every_epochs`-th epoch."""
        global_batch, self._step_samples = self._step_samples * world_size(), 0
        if not self._epoch_samples or not global_batch:
            return
        steps_per_epoch = max(1, self._epoch_samples // global_batch)
        self.epoch.fill_((step + 1) // steps_per_epoch)
        epoch = int(self.epoch)
        if epoch != int(self.clustered_epoch) and epoch % self.cluster_every_epochs == 0:
            self.cluster()
