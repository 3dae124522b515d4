"""MoCo v2 (He et al. 2020, arXiv 1911.05722; Chen et al. 2020, arXiv 2003.04297)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastlearn.core.ema import make_momentum_copy, update_momentum
from contrastlearn.core.registry import METHODS
from contrastlearn.heads import ProjectionMLP
from contrastlearn.methods.base import Method, encode_views
from contrastlearn.objectives import InfoNCE, MemoryQueue
from contrastlearn.objectives.base import LossOutput, default_ids


@METHODS.register("moco_v2")
class MoCoV2(Method):
    """Queries from the online network, keys from its EMA copy. Each query is the only anchor:
    its positive is its own key, its negatives the batch's other keys and a FIFO queue of past
    keys (never keys of the same item). The loss is symmetrised over the two views."""

    def __init__(
        self, encoder: nn.Module, projection_dim: int = 128, hidden_dim: int = 2048,
        temperature: float = 0.2, queue_size: int = 4096, momentum: float = 0.99,
        gather: bool = True,
    ) -> None:
        super().__init__(encoder)
        self.projector = ProjectionMLP(
            encoder.out_dim, hidden_dim, projection_dim, batch_norm=False
        )
        self.key_network = make_momentum_copy(nn.Sequential(self.encoder, self.projector))
        self.queue = MemoryQueue(queue_size, projection_dim, gather=gather)
        self.objective = InfoNCE(temperature, cross_view_only=True, gather=gather, anchor_views=1)
        self.momentum = momentum

    def training_step(self, views: list[Tensor], *, labels, ids) -> LossOutput:
        if len(views) != 2:
            raise ValueError(f"MoCo v2 uses 2 views, got {len(views)}")
        ids = default_ids(len(views[0]), views[0].device) if ids is None else ids
        queries = encode_views(lambda x: self.projector(self.encoder(x)), views)
        with torch.no_grad():
            keys = encode_views(self.key_network, views)
        bank, bank_ids = self.queue.negatives()
        first = self.objective([queries[0], keys[1]], ids=ids, negatives=bank,
                               negative_ids=bank_ids)
        second = self.objective([queries[1], keys[0]], ids=ids, negatives=bank,
                                negative_ids=bank_ids)
        self.queue.enqueue(keys[1], ids)
        metrics = {name: (value + second.metrics[name]) / 2
                   for name, value in first.metrics.items()}
        return LossOutput((first.loss + second.loss) / 2, metrics).with_embeddings(queries)

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        update_momentum(nn.Sequential(self.encoder, self.projector), self.key_network,
                        self.momentum)
