"""Class-incremental training with rehearsal: the classes arrive in stages, and a small memory
of earlier classes is replayed in every batch, as COCONUT (Cappellazzo et al. 2023, arXiv
2310.02699) trains spoken language understanding: experience replay plus a supervised
contrastive loss that keeps old classes apart while new ones are learnt.

`class_incremental` is a batch sampler (`train.batch_sampler`): it decides which items share
a batch. The classes are shuffled (seeded) and dealt into `stages`; stage s lasts
`epochs_per_stage` epochs (the last stage also takes any epochs left over). In stage s a batch
holds items of stage s's classes and, from stage 1 on, `replay_fraction` of it from the memory:
`memory_per_class` items of every class of an earlier stage (a seeded random choice, the
rehearsal buffer); `replay_fraction: 0` is plain sequential training, the forgetting
baseline. An epoch is as many draws as there are training items (the trainer's step count
does not change), cycling through the stage's items in fresh seeded permutations.
Everything is a function of (labels, seed, epoch), so resume is exact.

`stage_monitor` is the matching protocol: after each stage, kNN accuracy on the held-out items
of the first stage's classes, of the earlier stages' classes (what rehearsal must keep) and of
every class seen so far, with the memory bank holding the seen classes' training items.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from contrastlearn.core.registry import BATCH_SAMPLERS
from contrastlearn.data.arrays import ArrayDataset, DataError, DatasetSplits

ORDER_SALT = 7_919_113
"""Keeps the stage orders' seeds apart from the plain epoch permutations'."""


def _cycled(pool: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """`count` items of `pool` as consecutive seeded permutations of it."""
    if count <= 0:
        return pool[:0]
    rounds = -(-count // len(pool))
    return torch.cat([pool[torch.randperm(len(pool), generator=generator)]
                      for _ in range(rounds)])[:count]


@BATCH_SAMPLERS.register("class_incremental")
class ClassIncremental:
    """Classes in `stages` of `epochs_per_stage` epochs, with `memory_per_class` rehearsal
    items of every earlier class making up `replay_fraction` of each batch (see the module)."""

    features = "labels"

    def __init__(self, stages: int = 5, epochs_per_stage: int = 1, memory_per_class: int = 10,
                 replay_fraction: float = 0.25) -> None:
        if int(stages) < 2:
            raise ValueError(f"class_incremental stages must be >= 2, got {stages}")
        if int(epochs_per_stage) < 1 or int(memory_per_class) < 1:
            raise ValueError("class_incremental epochs_per_stage and memory_per_class must be "
                             f">= 1, got {epochs_per_stage}, {memory_per_class}")
        if not 0 <= replay_fraction < 1:
            raise ValueError(f"class_incremental replay_fraction must be in [0, 1), got "
                             f"{replay_fraction}")
        self.stages, self.epochs_per_stage = int(stages), int(epochs_per_stage)
        self.memory_per_class, self.replay_fraction = int(memory_per_class), float(replay_fraction)
        self.labels: Tensor | None = None

    @property
    def fitted(self) -> bool:
        return self.labels is not None

    def fit(self, data: Any, encoder: nn.Module, device: Any, seed: int) -> Tensor:
        """Keep the training labels (the stages and the memory follow from them and the seed)."""
        labels = getattr(data, "y", None)
        if not isinstance(data, ArrayDataset) or labels is None:
            raise DataError("batch sampler class_incremental needs labelled in-memory data "
                            "(the classes arrive in stages): give labels or drop "
                            "train.batch_sampler")
        classes = int(torch.unique(labels).numel())
        if classes < self.stages:
            raise DataError(f"class_incremental has {self.stages} stages but the data has "
                            f"{classes} classes; lower stages")
        self.labels = labels.cpu()
        return self.labels

    def _require_labels(self) -> Tensor:
        if self.labels is None:
            raise RuntimeError("class_incremental has no labels yet: call fit(...) first")
        return self.labels

    def stage_of_classes(self, seed: int) -> Tensor:
        """(num_classes,) the stage in which each class (by label value) arrives."""
        labels = self._require_labels()
        classes = torch.unique(labels)
        order = classes[torch.randperm(len(classes),
                                       generator=torch.Generator().manual_seed(seed))]
        stage = torch.full((int(classes.max()) + 1,), -1, dtype=torch.int64)
        for number, members in enumerate(order.tensor_split(self.stages)):
            stage[members] = number
        return stage

    def stage_of_epoch(self, epoch: int) -> int:
        """The stage that epoch `epoch` (0-based) trains."""
        return min(int(epoch) // self.epochs_per_stage, self.stages - 1)

    def memory(self, seed: int, before_stage: int) -> Tensor:
        """Indices of the rehearsal items of every class of stages before `before_stage`."""
        labels = self._require_labels()
        stage = self.stage_of_classes(seed)[labels]
        generator = torch.Generator().manual_seed(seed + ORDER_SALT)
        shuffled = torch.randperm(len(labels), generator=generator)
        kept = []
        for label in torch.unique(labels[stage < before_stage]):
            members = shuffled[labels[shuffled] == label]
            kept.append(members[:self.memory_per_class])
        return torch.cat(kept).sort().values if kept else labels[:0].long()

    def order(self, num_samples: int, batch_size: int, seed: int, epoch: int) -> Tensor:
        labels = self._require_labels()
        if len(labels) != num_samples:
            raise ValueError(f"class_incremental has {len(labels)} labels for {num_samples} "
                             "training items: the data changed since they were read")
        current_stage = self.stage_of_epoch(epoch)
        stage = self.stage_of_classes(seed)[labels]
        current = torch.nonzero(stage == current_stage).flatten()
        memory = self.memory(seed, current_stage)
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch + ORDER_SALT)
        replay = round(self.replay_fraction * batch_size) if len(memory) else 0
        replay = min(replay, batch_size - 1)
        num_batches = num_samples // batch_size
        fresh = _cycled(current, num_batches * (batch_size - replay), generator)
        replayed = _cycled(memory, num_batches * replay, generator)
        batches = torch.cat([fresh.view(num_batches, batch_size - replay),
                             replayed.view(num_batches, replay)], dim=1)
        within = torch.rand(batches.shape, generator=generator).argsort(dim=1)
        batches = batches.gather(1, within)  # every process's share gets rehearsal items
        tail = _cycled(current, num_samples - num_batches * batch_size, generator)
        return torch.cat([batches.reshape(-1), tail])

    def state_dict(self) -> dict[str, Tensor | None]:
        return {"labels": self.labels}

    def load_state_dict(self, state: dict[str, Tensor | None]) -> None:
        self.labels = state["labels"]


def stage_monitor(sampler: ClassIncremental, splits: DatasetSplits, seed: int,
                  epochs_done: Callable[[], int], total_epochs: int, device: Any,
                  embed: Callable[[nn.Module, ArrayDataset], Tensor]
                  ) -> Callable[[nn.Module], dict[str, float]]:
    """An end-of-epoch callback that, at the end of each stage (and of the run), measures kNN
    top-1 on the held-out items of the first stage's classes, of earlier stages' classes and
    of all seen classes (memory bank: the training items of the seen classes). Classes the
    sampler never saw (left out by `data.limit`, or only in the test split) belong to no
    stage. `embed(encoder, data)` gives (N, D) embeddings."""
    from contrastlearn.evaluation.knn import knn_classifier

    if splits.test is None or splits.test.y is None or splits.train.y is None:
        raise DataError("class_incremental's stage report needs labelled train and test "
                        "splits: give a test split (x_test, or a holdout) or drop "
                        "train.batch_sampler")

    def stages_of(labels: Tensor) -> Tensor:
        known = sampler.stage_of_classes(seed)
        table = torch.cat([known, known.new_tensor([-1])])
        stage = table[torch.where(labels < len(known), labels, len(known))]
        return stage.masked_fill(stage < 0, sampler.stages)  # no stage: never "seen"

    def monitor(encoder: nn.Module) -> dict[str, float]:
        done = epochs_done()
        stage_now = sampler.stage_of_epoch(done - 1)
        if done < total_epochs and sampler.stage_of_epoch(done) == stage_now:
            return {}  # the stage goes on
        train_stage, test_stage = stages_of(splits.train.y), stages_of(splits.test.y)
        bank = torch.nonzero(train_stage <= stage_now).flatten()
        train_embeddings = embed(encoder, splits.train.subset(bank))
        test_embeddings = embed(encoder, splits.test)
        record: dict[str, float] = {"stage": float(stage_now)}
        groups = {"first_stage": test_stage == 0, "old_classes": test_stage < stage_now,
                  "seen_classes": test_stage <= stage_now}
        for name, chosen in groups.items():
            if bool(chosen.any()):
                result = knn_classifier(train_embeddings, splits.train.y[bank],
                                        test_embeddings[chosen], splits.test.y[chosen],
                                        device=device)
                record[f"{name}_knn_top1"] = result.value
        return record

    return monitor
