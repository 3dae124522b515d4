"""ESimCSE (Wu et al., 2021, "ESimCSE: Enhanced Sample Building Method for Contrastive
Learning of Unsupervised Sentence Embedding", arXiv 2109.04380): SimCSE whose positive is a
word-repeated copy of the sentence (so positives differ in length) and whose negatives are
enlarged by a queue of momentum-encoded past positives (momentum contrast, He et al., 2020,
arXiv 1911.05722)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastlearn.core.ema import make_momentum_copy, update_momentum
from contrastlearn.core.registry import METHODS
from contrastlearn.methods.base import Method
from contrastlearn.modalities.text.methods.simcse import encode_token_views, training_pooler
from contrastlearn.objectives import InfoNCE, MemoryQueue
from contrastlearn.objectives.base import LossOutput, default_ids


@METHODS.register("esimcse")
class ESimCSE(Method):
    """Views [x, word_repetition(x)] pass the online encoder (+ training-only MLP pooler) in one
    call; each anchor must find its repeated copy among the batch's repeated copies and a FIFO
    queue of `queue_size` past positives, InfoNCE at `temperature`. A momentum (EMA) copy of
    the encoder and pooler, with dropout off as in the paper, encodes the positive view
    without gradient. After every optimizer step the copy follows the online network
    (`momentum`) and the batch's momentum embeddings enter the queue with their item ids, so
    an anchor never meets a queued copy of itself as a negative. The queue lives in buffers,
    so a checkpoint resumes it exactly. With `gather` (the default) a multi-process run
    contrasts against every process's positives and enqueues every process's keys."""

    default_views = "esimcse_views"

    def __init__(
        self, encoder: nn.Module, temperature: float = 0.05, queue_size: int = 160,
        momentum: float = 0.995, mlp_pooler: bool = True, gather: bool = True,
    ) -> None:
        super().__init__(encoder)
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1]; got {momentum}")
        self.pooler = training_pooler(encoder.out_dim, mlp_pooler)
        self.momentum_network = make_momentum_copy(nn.Sequential(self.encoder, self.pooler))
        self.queue = MemoryQueue(queue_size, encoder.out_dim, gather=gather)
        self.objective = InfoNCE(temperature, cross_view_only=True, anchor_views=1,
                                 gather=gather)
        self.momentum = momentum
        self._pending: tuple[Tensor, Tensor] | None = None

    def training_step(self, views: list, *, labels, ids) -> LossOutput:
        if len(views) != 2:
            raise ValueError(
                f"ESimCSE uses 2 views (the sentence and its word repetition, "
                f"'esimcse_views'); got {len(views)}"
            )
        given_ids = ids  # queued keys keep no made-up ids: the next batch reuses them
        ids = default_ids(len(views[0]), views[0].device) if ids is None else ids
        z = encode_token_views(lambda x: self.pooler(self.encoder(x)), views)
        keys = self.momentum_keys(views[1])
        bank, bank_ids = self.queue.negatives()
        output = self.objective(z, ids=ids, negatives=bank, negative_ids=bank_ids)
        output.metrics["queue_filled"] = float(len(self.queue))
        self._pending = (keys, given_ids)
        return output.with_embeddings(z)

    @torch.no_grad()
    def momentum_keys(self, view: Tensor) -> Tensor:
        """(B, D) momentum embeddings of `view`, computed with dropout off."""
        was_training = self.momentum_network.training
        self.momentum_network.eval()
        try:
            return encode_token_views(self.momentum_network, [view])[0]
        finally:
            self.momentum_network.train(was_training)

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        update_momentum(nn.Sequential(self.encoder, self.pooler), self.momentum_network,
                        self.momentum)
        if self._pending is not None:
            self.queue.enqueue(*self._pending)
            self._pending = None
