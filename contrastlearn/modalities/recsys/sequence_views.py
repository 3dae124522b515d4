"""CL4SRec's views of item histories (Xie et al. 2022, "Contrastive Learning for Sequential
Recommendation", arXiv 2010.14395): item crop, item mask and item reorder on
`RecBatch.sequences`, and the view policy that gives each sample one of them at random.

Each operation draws its random parameters per sample from the `generator` it is given, works
on the whole (B, L) batch at once (no loop over samples), and keeps the histories right-aligned
and left-padded with PAD, so a sequence encoder reads the most recent item in the last column:

- crop keeps a contiguous run of max(1, floor(eta * n)) of a history's n items;
- mask replaces floor(gamma * n) items, at random positions, with the `MASK` item;
- reorder shuffles a contiguous run of floor(beta * n) items.

Shares are rounded down as in the reference implementations, so histories of one item are
never changed. The defaults eta = 0.6, gamma = 0.3, beta = 0.6 are those of the CL4SRec
implementation the later papers compare with (DuoRec's, Qiu et al. 2022, arXiv 2110.05730);
the paper itself tunes the three rates per dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import Tensor

from contrastlearn.augment.base import Augmentation, Identity
from contrastlearn.augment.views import ViewPipeline, Views
from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.recsys.batch import MASK, PAD, RecBatch

SEQUENCE_FIX = ("a sequential recipe needs data.options.max_length (e.g. 50) and interactions "
                "with timestamps")
"""How to get batches with item histories, for the errors of everything that reads them."""


def history_lengths(sequences: Tensor) -> Tensor:
    """(B,) the number of items in each right-aligned, left-padded history; a ValueError when a
    history has padding after an item (the histories would not be right-aligned)."""
    real = sequences != PAD
    if bool((real[:, :-1] & ~real[:, 1:]).any()):
        raise ValueError("sequences must be right-aligned: PAD (-1) only before a history's "
                         "first item (as InteractionDataset makes them)")
    return real.sum(dim=1)


def _check_share(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a share in [0, 1]; got {value}")
    return value


def _share_of(lengths: Tensor, share: float) -> Tensor:
    """(B,) floor(share * n) per history, computed in float64 as Python's math.floor would."""
    return torch.floor(lengths.double() * share).long()


def _random_starts(lengths: Tensor, spans: Tensor, generator: torch.Generator) -> Tensor:
    """(B,) a uniform start in [0, n - span] for each history (per-sample draws)."""
    draws = torch.rand(lengths.shape, generator=generator, device=lengths.device,
                       dtype=torch.float64)
    return torch.floor(draws * (lengths - spans + 1).double()).long()


class SequenceAugmentation(Augmentation):
    """Base of the history edits: `augment(sequences, generator)` on the (B, L) tensor;
    `apply` returns the batch with its sequences replaced (users, targets, graph kept)."""

    def augment(self, sequences: Tensor, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def apply(self, x: RecBatch, generator: torch.Generator) -> RecBatch:
        if not isinstance(x, RecBatch):
            raise TypeError(f"{type(self).__name__} edits recommendation batches (RecBatch); got "
                            f"a {type(x).__name__}")
        if x.sequences is None:
            raise ValueError(f"{type(self).__name__}: the batch has no item histories "
                             f"(RecBatch.sequences is None): {SEQUENCE_FIX}")
        return replace(x, sequences=self.augment(x.sequences, generator))


class ItemCrop(SequenceAugmentation):
    """Keep a random contiguous run of max(1, floor(`keep` * n)) items (CL4SRec's eta), moved
    to the right end. `keep` = 1 is the identity."""

    def __init__(self, keep: float = 0.6) -> None:
        self.keep = _check_share("crop keep", keep)

    def augment(self, sequences: Tensor, generator: torch.Generator) -> Tensor:
        lengths = history_lengths(sequences)
        kept = torch.minimum(_share_of(lengths, self.keep).clamp(min=1), lengths)
        starts = _random_starts(lengths, kept, generator)
        width = sequences.shape[1]
        columns = torch.arange(width, device=sequences.device)
        # output column c (>= width - kept) holds input column c - shift
        shift = (lengths - kept - starts)[:, None]
        source = (columns[None, :] - shift).clamp(min=0)
        cropped = sequences.gather(1, source)
        inside = columns[None, :] >= (width - kept)[:, None]
        return torch.where(inside, cropped, torch.full_like(cropped, PAD))


class ItemMask(SequenceAugmentation):
    """Replace floor(`share` * n) items at random positions with `MASK` (CL4SRec's gamma).
    `share` = 0 is the identity."""

    def __init__(self, share: float = 0.3) -> None:
        self.share = _check_share("mask share", share)

    def augment(self, sequences: Tensor, generator: torch.Generator) -> Tensor:
        lengths = history_lengths(sequences)
        masked_count = _share_of(lengths, self.share)
        keys = torch.rand(sequences.shape, generator=generator, device=sequences.device)
        keys = keys.masked_fill(sequences == PAD, 2.0)  # padding sorts last: never chosen
        ranks = keys.argsort(dim=1).argsort(dim=1)
        chosen = ranks < masked_count[:, None]
        return sequences.masked_fill(chosen, MASK)


class ItemReorder(SequenceAugmentation):
    """Shuffle a random contiguous run of floor(`share` * n) items (CL4SRec's beta). `share` = 0
    is the identity."""

    def __init__(self, share: float = 0.6) -> None:
        self.share = _check_share("reorder share", share)

    def augment(self, sequences: Tensor, generator: torch.Generator) -> Tensor:
        lengths = history_lengths(sequences)
        span = _share_of(lengths, self.share)
        starts = _random_starts(lengths, span, generator)
        width = sequences.shape[1]
        columns = torch.arange(width, device=sequences.device)
        first = (width - lengths + starts)[:, None]
        inside = (columns[None, :] >= first) & (columns[None, :] < first + span[:, None])
        # columns outside the run keep their own index as sort key; inside, a random key in
        # [first, first + span) puts the run's items in random order without leaving it
        draws = torch.rand(sequences.shape, generator=generator, device=sequences.device,
                           dtype=torch.float64)
        keys = torch.where(inside, first + draws * span[:, None],
                           columns[None, :].double().expand_as(draws))
        order = keys.argsort(dim=1, stable=True)
        return sequences.gather(1, order)


class OneSequenceAugmentation(SequenceAugmentation):
    """One of `augmentations` per sample, chosen uniformly at random (every operation runs on
    the whole batch, batched, and each row keeps the chosen operation's result)."""

    def __init__(self, augmentations: Sequence[SequenceAugmentation]) -> None:
        if not augmentations:
            raise ValueError("OneSequenceAugmentation needs at least one augmentation")
        self.augmentations = list(augmentations)

    def augment(self, sequences: Tensor, generator: torch.Generator) -> Tensor:
        choice = torch.randint(len(self.augmentations), (sequences.shape[0],),
                               generator=generator, device=sequences.device)
        made = torch.stack([augmentation.augment(sequences, generator)
                            for augmentation in self.augmentations])
        return made[choice, torch.arange(sequences.shape[0], device=sequences.device)]


@AUGMENTATIONS.register("cl4srec_views")
def cl4srec_views(crop_keep: float = 0.6, mask_share: float = 0.3, reorder_share: float = 0.6,
                  strength: float = 1.0) -> Views:
    """Three views [batch, view 1, view 2]: the batch as it is (for the next-item loss) and two
    views that each give every sample one of crop / mask / reorder, chosen per sample
    (CL4SRec). `strength` in [0, 1] scales how much each operation changes: crop keeps
    1 - strength * (1 - crop_keep), mask and reorder touch strength * their share; 0 makes
    both views the batch itself."""
    strength = float(strength)
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"cl4srec_views strength must be in [0, 1]; got {strength}")
    crop_keep = _check_share("crop_keep", crop_keep)
    one_of = OneSequenceAugmentation([
        ItemCrop(1.0 - strength * (1.0 - crop_keep)),
        ItemMask(strength * _check_share("mask_share", mask_share)),
        ItemReorder(strength * _check_share("reorder_share", reorder_share)),
    ])
    return Views([ViewPipeline(Identity()), ViewPipeline(one_of, count=2)])


@AUGMENTATIONS.register("mclrec_views")
def mclrec_views(crop_keep: float = 0.5, mask_share: float = 0.5, reorder_share: float = 0.8,
                 strength: float = 1.0) -> Views:
    """`cl4srec_views` with MCLRec's rates (Qin et al. 2023, arXiv 2304.07763; the official
    configuration: crop_ratio 0.5, i.e. half kept, mask_ratio 0.5, reorder_ratio 0.8)."""
    return cl4srec_views(crop_keep, mask_share, reorder_share, strength)
