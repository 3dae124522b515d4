"""MoCo v2 (He et al. 2020, arXiv 1911.05722; Chen et al. 2020, arXiv 2003.04297)."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

from contrastlearn.core.distributed import gather_no_grad, is_distributed, rank, world_size
from contrastlearn.core.ema import make_momentum_copy, update_momentum
from contrastlearn.core.registry import METHODS
from contrastlearn.heads import ProjectionMLP
from contrastlearn.methods.base import Method, encode_views
from contrastlearn.objectives import InfoNCE, MemoryQueue
from contrastlearn.objectives.base import LossOutput, default_ids

PAPER_BN_GROUPS = 8  # the paper trains on 8 GPUs; its CIFAR demo splits BN in 8 on one GPU


def has_batch_norm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


@torch.no_grad()
def shuffled_bn_encode(network: nn.Module, x: Tensor, groups: int) -> Tensor:
    """`network(x)` with shuffling BN (He et al. 2019, arXiv 1911.05722, §3.3): the rows are
    randomly permuted, encoded in `groups` sub-batches (each normalised by its own batch
    statistics), and put back in order. A key is thus normalised with a random subset of the
    batch, not with the rows its query was normalised with, so BN cannot leak which key is
    the positive. Without BN the result equals `network(x)` up to float rounding.

    On several processes (DDP) it is the paper's cross-process shuffle: the rows of every rank
    are gathered, permuted by a permutation drawn on rank 0 and broadcast, each rank encodes
    its share (in `groups` sub-batches), and the keys are gathered back and un-permuted. Every
    rank must hold as many rows. The permutation comes from torch's default generator on x's
    device, so it follows the run's seed (and is restored with the RNG states on resume)."""
    local_rows = x.shape[0]
    distributed = is_distributed()
    if distributed:
        x = gather_no_grad(x)
    total = x.shape[0]
    if distributed and rank() != 0:
        permutation = torch.empty(total, dtype=torch.long, device=x.device)
    else:
        permutation = torch.randperm(total, device=x.device)
    if distributed:
        dist.broadcast(permutation, src=0)
        permutation = permutation.view(world_size(), local_rows)
        share = permutation[rank()]  # this rank's rows of the shuffled global batch
    else:
        share = permutation
    rows = x[share]
    pieces = max(1, min(groups, len(rows) // 2))  # BN needs two rows per sub-batch
    keys = torch.cat([network(piece) for piece in rows.tensor_split(pieces)])
    if distributed:
        keys = gather_no_grad(keys.contiguous())  # row j: key of global row permutation[j]
        permutation = permutation.reshape(-1)
    unshuffled = torch.empty_like(keys)
    unshuffled[permutation] = keys
    if distributed:
        return unshuffled[rank() * local_rows:(rank() + 1) * local_rows]
    return unshuffled


@METHODS.register("moco_v2")
class MoCoV2(Method):
    """Queries from the online network, keys from its EMA copy. Each query is the only anchor:
    its positive is its own key, its negatives the batch's other keys and a FIFO queue of past
    keys (never keys of the same item); the queue is scored against the queries only. The
    loss is symmetrised over the two views.

    `shuffle_bn` (default) encodes the keys with shuffling BN (§3.3 of the paper) when the key
    network has BatchNorm and is training: see `shuffled_bn_encode`. The key batch is split
    into `bn_groups` sub-batches in all, `bn_groups // world_size` (at least 1) per process:
    on one process this emulates the paper's per-GPU BN as its CIFAR demo does with
    SplitBatchNorm(8); on 8 processes it is exactly the paper's one group per GPU. The
    queries are encoded as before (BN over each process's whole batch). With one group on one
    process shuffling would change nothing, so it is skipped. Feature-space views
    (`add_option`) act on each (queries, keys) pair before the loss."""

    accepts_feature_views = True

    def __init__(
        self, encoder: nn.Module, projection_dim: int = 128, hidden_dim: int = 2048,
        temperature: float = 0.2, queue_size: int = 4096, momentum: float = 0.99,
        gather: bool = True, shuffle_bn: bool = True, bn_groups: int = PAPER_BN_GROUPS,
    ) -> None:
        super().__init__(encoder)
        if bn_groups < 1:
            raise ValueError(f"bn_groups must be >= 1; got {bn_groups}")
        self.projector = ProjectionMLP(
            encoder.out_dim, hidden_dim, projection_dim, batch_norm=False
        )
        self.key_network = make_momentum_copy(nn.Sequential(self.encoder, self.projector))
        self.queue = MemoryQueue(queue_size, projection_dim, gather=gather)
        self.objective = InfoNCE(temperature, cross_view_only=True, gather=gather, anchor_views=1)
        self.momentum = momentum
        self.shuffle_bn = shuffle_bn
        self.bn_groups = bn_groups

    @torch.no_grad()
    def encode_keys(self, x: Tensor) -> Tensor:
        """Keys of a batch from the momentum network, with shuffling BN when it applies."""
        groups = max(1, self.bn_groups // world_size())
        shuffle = (self.shuffle_bn and self.key_network.training
                   and (groups > 1 or is_distributed()) and has_batch_norm(self.key_network))
        if not shuffle:
            return self.key_network(x)
        return shuffled_bn_encode(self.key_network, x, groups)

    def training_step(self, views: list[Tensor], *, labels, ids) -> LossOutput:
        if len(views) != 2:
            raise ValueError(f"MoCo v2 uses 2 views, got {len(views)}")
        ids = default_ids(len(views[0]), views[0].device) if ids is None else ids
        queries = encode_views(lambda x: self.projector(self.encoder(x)), views)
        with torch.no_grad():
            keys = encode_views(self.encode_keys, views)
        bank, bank_ids = self.queue.negatives()
        first = self.objective(self.apply_feature_views([queries[0], keys[1]]), ids=ids,
                               negatives=bank, negative_ids=bank_ids)
        second = self.objective(self.apply_feature_views([queries[1], keys[0]]), ids=ids,
                                negatives=bank, negative_ids=bank_ids)
        self.queue.enqueue(keys[1], ids)
        metrics = {name: (value + second.metrics[name]) / 2
                   for name, value in first.metrics.items()}
        return LossOutput((first.loss + second.loss) / 2, metrics).with_embeddings(queries)

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        update_momentum(nn.Sequential(self.encoder, self.projector), self.key_network,
                        self.momentum)

    def extra_repr(self) -> str:
        return f"shuffle_bn={self.shuffle_bn}, bn_groups={self.bn_groups}"
