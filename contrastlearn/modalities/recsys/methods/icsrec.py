"""ICSRec (Qin et al. 2024, "Intent Contrastive Learning with Cross Subsequences for
Sequential Recommendation", WSDM 2024, arXiv 2310.14318).

The training samples are already ICSRec's dynamic sliding subsequences: every prefix of every
user's history (at most `max_length` items) with the next item as target. On top of the
next-item cross-entropy, ICSRec adds

- coarse-grain intent contrast: subsequences with the same target item are taken to share an
  intent; each history is paired with another training subsequence that has the same target
  (drawn from the whole training data, from another user when there is one), and the pair is
  contrasted with NT-Xent on dot products, the rest of the batch the negatives, and samples
  with the same target never used as negatives (the false-negative mask);
- fine-grain intent contrast: k-means over the encodings of every training subsequence gives
  `num_intents` intent prototypes (recomputed at the start of each epoch, as the official
  code does, or every `refresh_every_steps` steps); each encoding of the pair is contrasted
  with its nearest prototype, samples of the same intent never negatives.

loss = CE + coarse_weight * L_coarse + fine_weight * (L_fine(anchor) + L_fine(positive)).

Defaults from the official code (github.com/QinHsiu/ICSRec): coarse_weight (lambda_0) 0.1,
fine_weight (beta_0) 0.1, temperature 1 on dot products (`sim dot`), the false-negative mask
on (the published scripts' `--f_neg`), num_intents 256 (the Beauty script; the code's own
default is 512). Differences, all documented simplifications: the official k-means is faiss
(20 iterations, 5 restarts), here Lloyd's with a k-means++ start (`kmeans_iterations`, one
run, seeded by the refresh count so every process finds the same prototypes); the official
code encodes the anchor twice (once for CE, once for the contrast), here once; prototypes are
not checkpointed: a resumed run recomputes them at its first step.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from contrastlearn.core.distributed import world_size
from contrastlearn.core.registry import METHODS
from contrastlearn.data.arrays import DataError
from contrastlearn.engine.samplers import kmeans
from contrastlearn.modalities.recsys.batch import RecBatch
from contrastlearn.modalities.recsys.methods.sequential import SequentialMethod, pair_nt_xent
from contrastlearn.objectives.base import LossOutput

POSITIVE_REDRAWS = 10
"""Rounds of redrawing a positive that came from the anchor's own user (there may be no
other user with that target: then it stays as drawn)."""

INDEX_CHUNK = 65536
"""Samples read at a time when indexing the training data by target item."""

INTENT_BATCH_SIZE = 1024
"""Histories encoded at a time when computing the intent prototypes."""


@METHODS.register("icsrec")
class ICSRec(SequentialMethod):
    """views = [batch] -> CE + coarse-grain (same-target subsequences) and fine-grain
    (k-means intent prototypes) intent contrast; see the module docstring."""

    default_views = "rec_identity_views"
    method_name = "icsrec"
    per_sample_loss = False

    def __init__(self, encoder: nn.Module, coarse_weight: float = 0.1, fine_weight: float = 0.1,
                 num_intents: int = 256, temperature: float = 1.0,
                 false_negative_mask: bool = True, kmeans_iterations: int = 20,
                 refresh_every_steps: int | None = None) -> None:
        super().__init__(encoder)
        if coarse_weight < 0 or fine_weight < 0 or temperature <= 0:
            raise ValueError(f"icsrec needs coarse_weight, fine_weight >= 0 and temperature > 0; "
                             f"got {coarse_weight}, {fine_weight}, {temperature}")
        if num_intents < 1 or kmeans_iterations < 1 or (refresh_every_steps or 1) < 1:
            raise ValueError(f"icsrec needs num_intents, kmeans_iterations and "
                             f"refresh_every_steps >= 1; got {num_intents}, {kmeans_iterations}, "
                             f"{refresh_every_steps}")
        self.coarse_weight, self.fine_weight, self.temperature = (
            coarse_weight, fine_weight, temperature)
        self.num_intents, self.kmeans_iterations = num_intents, kmeans_iterations
        self.false_negative_mask, self.refresh_every_steps = (
            false_negative_mask, refresh_every_steps)
        self._data: Any = None
        self._prototypes: Tensor | None = None
        self._refreshes = self._samples_since_refresh = self._steps_since_refresh = 0

    def prepare(self, data: Any, device: torch.device) -> None:
        """Index the training samples by target item (for the coarse-grain positives); the
        intent prototypes are computed at the first step."""
        super().prepare(data, device)
        if not (callable(getattr(data, "batch_x", None))
                and callable(getattr(data, "embed_with", None))):
            raise DataError(f"icsrec draws positives from the training subsequences: it needs an "
                            f"InteractionDataset; got {type(data).__name__}")
        users, targets = [], []
        for chunk in torch.arange(len(data)).split(INDEX_CHUNK):
            batch = data.batch_x(chunk)
            users.append(batch.users)
            targets.append(batch.items)
        targets = torch.cat(targets)
        self._sample_users = torch.cat(users)
        self._by_target = torch.argsort(targets, stable=True)
        self._target_counts = torch.bincount(targets, minlength=data.graph.num_items)
        self._target_starts = torch.cumsum(self._target_counts, 0) - self._target_counts
        self._data, self._prototypes = data, None

    def _draw_same_target(self, targets: Tensor) -> Tensor:
        """(n,) a uniformly drawn training sample with each target item."""
        counts = self._target_counts[targets]
        offsets = torch.floor(torch.rand(len(targets)) * counts).long()
        return self._by_target[self._target_starts[targets] + offsets]

    def positive_sequences(self, batch: RecBatch) -> Tensor:
        """(B, L) for each sample the history of another training subsequence with the same
        target, from another user when there is one (torch's default random generator)."""
        if self._data is None:
            raise ValueError("icsrec draws positives from the training data: call "
                             "method.prepare(train_data, device) first (the trainer does)")
        targets, users = batch.items.cpu(), batch.users.cpu()
        counts = self._target_counts[targets]
        if bool((counts == 0).any()):
            raise ValueError("icsrec batches must come from the training data given to prepare(): "
                             "some targets have no training subsequence")
        drawn = self._draw_same_target(targets)
        for _ in range(POSITIVE_REDRAWS):
            own_user = (self._sample_users[drawn] == users) & (counts > 1)
            if not bool(own_user.any()):
                break
            drawn[own_user] = self._draw_same_target(targets[own_user])
        return self._data.batch_x(drawn).sequences.to(batch.device)

    @torch.no_grad()
    def refresh_intents(self, device: torch.device) -> None:
        """k-means of the encodings of every training subsequence -> the intent prototypes
        (the mean encoding of each non-empty cluster)."""
        encodings = self._data.embed_with(self.encoder, batch_size=INTENT_BATCH_SIZE,
                                          device=device)
        clusters = min(self.num_intents, len(encodings))
        labels = kmeans(encodings, clusters, seed=self._refreshes,
                        iterations=self.kmeans_iterations)
        sizes = torch.bincount(labels, minlength=clusters)
        sums = torch.zeros(clusters, encodings.shape[1]).index_add_(0, labels, encodings)
        self._prototypes = (sums / sizes.clamp(min=1)[:, None])[sizes > 0].to(device)
        self._refreshes += 1
        self._samples_since_refresh = self._steps_since_refresh = 0

    def intents(self, representations: Tensor) -> tuple[Tensor, Tensor]:
        """((B,) nearest prototype of each representation, (B, D) that prototype)."""
        distances = torch.cdist(representations.detach().float(), self._prototypes)
        nearest = distances.argmin(dim=1)
        return nearest, self._prototypes[nearest].to(representations.dtype)

    def fine_loss(self, representations: Tensor) -> Tensor:
        """NT-Xent between each representation and its intent prototype."""
        nearest, prototypes = self.intents(representations)
        ids = nearest if self.false_negative_mask else None
        return pair_nt_xent(representations, prototypes, self.temperature, ids=ids)

    def training_step(self, views, *, labels, ids) -> LossOutput:
        (batch,) = self.sequence_views(views, 1)
        positive = replace(batch, sequences=self.positive_sequences(batch))
        if self.fine_weight > 0 and self._prototypes is None:
            self.refresh_intents(batch.device)
        anchor_z, positive_z = self.encode(batch, positive)
        ce = self.next_item_loss_of(batch, anchor_z)
        target_ids = batch.items if self.false_negative_mask else None
        coarse = pair_nt_xent(anchor_z, positive_z, self.temperature, ids=target_ids)
        loss = ce + self.coarse_weight * coarse
        metrics = {"ce": ce.detach(), "coarse": coarse.detach()}
        if self.fine_weight > 0:
            fine = self.fine_loss(anchor_z) + self.fine_loss(positive_z)
            loss = loss + self.fine_weight * fine
            metrics["fine"] = fine.detach()
        self._samples_since_refresh += len(batch) * world_size()
        return LossOutput(loss, metrics).with_embeddings([anchor_z, positive_z])

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        """Mark the prototypes stale once an epoch of samples (or `refresh_every_steps`
        steps) went by; the next step recomputes them with the current encoder."""
        self._steps_since_refresh += 1
        if self.refresh_every_steps is not None:
            due = self._steps_since_refresh >= self.refresh_every_steps
        else:
            due = self._data is not None and self._samples_since_refresh >= len(self._data)
        if due:
            self._prototypes = None
