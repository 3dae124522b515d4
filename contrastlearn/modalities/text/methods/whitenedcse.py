"""WhitenedCSE (Zhuo et al., 2023, "WhitenedCSE: Whitening-based Contrastive Learning of
Sentence Embeddings", ACL 2023, arXiv 2305.17746): SimCSE whose embeddings pass shuffled group
whitening before the pooler, each dropout pass with its own shuffle, so that one anchor gets
several diverse positives."""

from __future__ import annotations

import torch
from torch import nn

from contrastlearn.core.distributed import gather_global_batch
from contrastlearn.core.registry import METHODS
from contrastlearn.methods.base import Method
from contrastlearn.modalities.text.methods.simcse import encode_token_views, training_pooler
from contrastlearn.objectives import InfoNCE
from contrastlearn.objectives.base import LossOutput
from contrastlearn.objectives.whitening import (
    DEFAULT_EPS,
    group_sizes,
    shuffled_group_whitening,
)

PAPER_GROUP_SIZE = 6  # 128 groups of BERT-base's 768 dimensions


@METHODS.register("whitenedcse")
class WhitenedCSE(Method):
    """The batch passes the encoder `num_positives + 1` times in one call (pass k uses view
    k mod V, so identical 'simcse_views' give dropout views). Each pass is whitened by
    `shuffled_group_whitening` with its own random shuffle into `num_groups` groups (default:
    groups of about 6 dimensions, the paper's 768 / 128), then goes through the training-only
    Linear + Tanh pooler. The first pass is the anchor; the loss is the sum over the other
    passes of InfoNCE(anchor, pass) at `temperature` with id masks (the paper's sum over
    positives; its best setting has 2 positives). The shuffles come from the method's own
    generator (seeded by `seed`, default torch's initial seed), whose state is a buffer, so
    checkpoints resume exactly. Every whitening group needs a batch larger than its size.

    With `gather` (default) under several processes, each rank gathers the passes (with
    autograd) and computes the global batch's loss: the whitening statistics and the InfoNCE
    negatives are those of the whole batch, as on one process.

    Gradients pass through the centring and the multiplication by each group's whitening
    matrix, never through the matrix itself (it is a constant of the batch), as in the
    paper's code (github.com/SupstarZh/WhitenedCSE), whose `transformation` re-creates the
    covariance as a fresh leaf before the eigendecomposition; see `zca_whiten`."""

    default_views = "simcse_views"

    def __init__(
        self, encoder: nn.Module, num_groups: int | None = None, num_positives: int = 2,
        temperature: float = 0.05, mlp_pooler: bool = True, eps: float = DEFAULT_EPS,
        seed: int | None = None, gather: bool = True,
    ) -> None:
        super().__init__(encoder)
        if num_positives < 1:
            raise ValueError(f"num_positives must be >= 1; got {num_positives}")
        if num_groups is None:
            num_groups = max(1, round(encoder.out_dim / PAPER_GROUP_SIZE))
        group_sizes(encoder.out_dim, num_groups)  # checks 1 <= num_groups <= out_dim
        self.num_groups = num_groups
        self.num_positives = num_positives
        self.eps = eps
        self.pooler = training_pooler(encoder.out_dim, mlp_pooler)
        self.objective = InfoNCE(temperature, cross_view_only=True, anchor_views=1)
        self.gather = gather
        seed = torch.initial_seed() if seed is None else seed
        self.register_buffer("rng_state", torch.Generator().manual_seed(seed).get_state())

    def _generator(self) -> torch.Generator:
        generator = torch.Generator()
        generator.set_state(self.rng_state.cpu())
        return generator

    def training_step(self, views: list, *, labels, ids) -> LossOutput:
        passes = [views[k % len(views)] for k in range(self.num_positives + 1)]
        hidden = encode_token_views(self.encoder, passes)
        hidden, ids, local = gather_global_batch(hidden, ids, self.gather)
        generator = self._generator()
        whitened = [shuffled_group_whitening(h, self.num_groups, generator, self.eps)
                    for h in hidden]
        self.rng_state.copy_(generator.get_state())
        z = [self.pooler(w) for w in whitened]
        outputs = [self.objective([z[0], positive], ids=ids) for positive in z[1:]]
        loss = torch.stack([output.loss for output in outputs]).sum()
        metrics = {name: sum(output.metrics[name] for output in outputs) / len(outputs)
                   for name in outputs[0].metrics}
        return LossOutput(loss, metrics).with_embeddings([view[local] for view in z[:2]])

    def extra_repr(self) -> str:
        return f"num_groups={self.num_groups}, num_positives={self.num_positives}"

