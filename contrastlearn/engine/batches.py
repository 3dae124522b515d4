"""Resumable batch order: a seeded permutation per epoch, started at any batch position.

In-memory arrays are indexed a whole batch at a time (no per-sample Python loop); other
`torch.utils.data.Dataset`s go through a DataLoader fed the same order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from contrastlearn.data.arrays import ArrayDataset


@dataclass
class Batch:
    x: Tensor
    labels: Tensor | None
    ids: Tensor


def epoch_order(num_samples: int, seed: int, epoch: int) -> Tensor:
    """The sample order of one epoch: a function of (seed, epoch) only, so resume is exact."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(num_samples, generator=generator)


BUCKET_SHUFFLE_SALT = 7_919_797
"""Keeps the batch shuffle's seed apart from every epoch permutation's seed."""


def length_bucketed_order(lengths: Tensor, batch_size: int, seed: int, epoch: int,
                          pool_batches: int = 50) -> Tensor:
    """An epoch order whose batches hold samples of similar length (less padding): the seeded
    epoch permutation is cut into pools of `pool_batches` batches, each pool is sorted by
    length and cut into batches, and the full batches are shuffled (a short last batch stays
    last, where the trainer drops it). A function of (seed, epoch) only, so resume is
    exact."""
    order = epoch_order(len(lengths), seed, epoch)
    pool = batch_size * pool_batches
    pools = [chunk[torch.argsort(lengths[chunk], stable=True)] for chunk in order.split(pool)]
    batches = list(torch.cat(pools).split(batch_size))
    remainder = [batches.pop()] if len(batches[-1]) < batch_size else []  # dropped: stays last
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch + BUCKET_SHUFFLE_SALT)
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return torch.cat([batches[index] for index in shuffled] + remainder)


def sample_order(data: ArrayDataset | Dataset, batch_size: int, seed: int, epoch: int,
                 sampler: Any = None) -> Tensor:
    """The epoch order: the batch sampler's (`contrastlearn.engine.samplers`, e.g. G-SimCLR's
    cluster spread) when one is given, else length-bucketed when the data has
    `bucket_lengths`, else a plain seeded permutation."""
    if sampler is not None:
        return sampler.order(len(data), batch_size, seed, epoch)
    lengths = getattr(data, "bucket_lengths", None)
    if lengths is None:
        return epoch_order(len(data), seed, epoch)
    return length_bucketed_order(lengths, batch_size, seed, epoch)


def _split_item(item) -> tuple[Tensor, Tensor | None]:
    if isinstance(item, (tuple, list)):
        x = item[0]
        labels = item[1] if len(item) > 1 else None
        return torch.as_tensor(x), None if labels is None else torch.as_tensor(labels)
    return torch.as_tensor(item), None


def iterate_batches(
    data: ArrayDataset | Dataset, order: Tensor, batch_size: int, start_batch: int = 0,
    num_workers: int = 0, seed: int = 0, shard: tuple[int, int] = (0, 1),
) -> Iterator[Batch]:
    """Full batches of `data` in `order`, from batch number `start_batch` (last partial dropped).

    With `shard` = (rank, world_size) each batch of `batch_size` (the global batch) yields only
    this rank's contiguous share of batch_size / world_size samples: every rank walks the same
    seeded order, so the ranks' shares partition each global batch and resume needs only the
    batch number."""
    rank, world_size = shard
    if batch_size % world_size or not 0 <= rank < world_size:
        raise ValueError(f"cannot split batches of {batch_size} into {world_size} equal shares "
                         f"(rank {rank})")
    share = batch_size // world_size
    num_batches = len(order) // batch_size
    chunks = [order[b * batch_size + rank * share:b * batch_size + (rank + 1) * share]
              for b in range(start_batch, num_batches)]
    if isinstance(data, ArrayDataset):
        for indices in chunks:
            yield Batch(
                data.batch_x(indices), None if data.y is None else data.y[indices],
                data.ids[indices],
            )
        return
    # the loader's own generator: drawing its base seed must not advance the global RNG,
    # or a run resumed mid-epoch would drift from an uninterrupted one
    loader = DataLoader(data, batch_sampler=[c.tolist() for c in chunks], num_workers=num_workers,
                        generator=torch.Generator().manual_seed(seed))
    for indices, item in zip(chunks, loader):
        x, labels = _split_item(item)
        yield Batch(x.float(), labels, indices)
