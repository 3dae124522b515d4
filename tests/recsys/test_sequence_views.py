"""CL4SRec's sequence views: item crop, mask, reorder and the cl4srec / mclrec view policies."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.recsys.batch import PAD, RecBatch
from contrastlearn.modalities.recsys.datasets import InteractionDataset
from contrastlearn.modalities.recsys.interactions import Interactions
from contrastlearn.modalities.recsys.sequence_views import (
    MASK,
    ItemCrop,
    ItemMask,
    ItemReorder,
    OneSequenceAugmentation,
    cl4srec_views,
    history_lengths,
    mclrec_views,
)

WIDTH = 10


def sequential_batch(num_users: int = 12, num_items: int = 40, per_user: int = 14,
                     seed: int = 0) -> RecBatch:
    """Every sample of a random log with timestamps: histories of 1..WIDTH items."""
    generator = torch.Generator().manual_seed(seed)
    items = torch.stack([torch.randperm(num_items, generator=generator)[:per_user]
                         for _ in range(num_users)]).flatten()
    users = torch.arange(num_users).repeat_interleave(per_user)
    timestamps = torch.rand(len(users), generator=generator, dtype=torch.float64)
    graph = Interactions(users, items, num_users, num_items, timestamps=timestamps)
    data = InteractionDataset.of(graph, max_length=WIDTH)
    return data.batch_x(torch.arange(len(data)))


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def items_of(row: torch.Tensor) -> list[int]:
    return [int(item) for item in row if item != PAD]


def assert_right_aligned(sequences: torch.Tensor) -> None:
    real = sequences != PAD
    assert not bool((real[:, :-1] & ~real[:, 1:]).any())


OPERATIONS = [ItemCrop(0.6), ItemMask(0.3), ItemReorder(0.6)]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: type(op).__name__)
def test_operations_keep_shape_dtype_alignment_and_other_fields(operation):
    batch = sequential_batch()
    made = operation(batch, seeded())
    assert made.sequences.shape == batch.sequences.shape
    assert made.sequences.dtype == torch.long
    assert_right_aligned(made.sequences)
    assert made.users is batch.users and made.items is batch.items
    assert made.graph is batch.graph
    original = {int(item) for item in batch.sequences.flatten()}
    assert {int(item) for item in made.sequences.flatten()} <= original | {MASK}


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: type(op).__name__)
def test_operations_are_deterministic_under_a_seeded_generator(operation):
    batch = sequential_batch()
    first = operation(batch, seeded(3)).sequences
    assert torch.equal(first, operation(batch, seeded(3)).sequences)
    assert not torch.equal(first, operation(batch, seeded(4)).sequences)
    assert not torch.equal(first, batch.sequences)


@pytest.mark.parametrize("operation", [ItemCrop(1.0), ItemMask(0.0), ItemReorder(0.0)],
                         ids=lambda op: type(op).__name__)
def test_operations_are_the_identity_at_their_zero_rate(operation):
    batch = sequential_batch()
    assert torch.equal(operation(batch, seeded()).sequences, batch.sequences)


def test_crop_keeps_a_contiguous_run_of_the_expected_length():
    batch = sequential_batch()
    made = ItemCrop(0.6)(batch, seeded(1)).sequences
    starts = set()
    for before, after in zip(batch.sequences, made):
        original, kept = items_of(before), items_of(after)
        assert len(kept) == max(1, math.floor(len(original) * 0.6))
        start = next(i for i in range(len(original)) if original[i:i + len(kept)] == kept)
        starts.add(start)
    assert len(starts) > 1  # the start is random, not always the beginning


def test_mask_replaces_the_expected_number_of_items_with_mask():
    batch = sequential_batch()
    made = ItemMask(0.3)(batch, seeded(1)).sequences
    for before, after in zip(batch.sequences, made):
        changed = before != after
        assert bool((after[changed] == MASK).all())
        assert int(changed.sum()) == math.floor(len(items_of(before)) * 0.3)
        assert bool((after[before == PAD] == PAD).all())


def test_reorder_shuffles_one_contiguous_run_only():
    batch = sequential_batch()
    made = ItemReorder(0.6)(batch, seeded(1)).sequences
    reordered = 0
    for before, after in zip(batch.sequences, made):
        original, shuffled = items_of(before), items_of(after)
        assert sorted(original) == sorted(shuffled)
        span = math.floor(len(original) * 0.6)
        changed = [i for i, (a, b) in enumerate(zip(original, shuffled)) if a != b]
        if changed:
            assert changed[-1] - changed[0] < span
            reordered += 1
    assert reordered > len(batch) // 3


def test_one_of_uses_every_operation_and_matches_them_row_by_row():
    batch = sequential_batch()
    chooser = OneSequenceAugmentation(OPERATIONS)
    made = chooser(batch, seeded(5)).sequences
    generator = seeded(5)
    choice = torch.randint(3, (len(batch),), generator=generator)
    each = [operation.augment(batch.sequences, generator) for operation in OPERATIONS]
    assert set(choice.tolist()) == {0, 1, 2}
    for row in range(len(batch)):
        assert torch.equal(made[row], each[int(choice[row])][row])


def test_cl4srec_views_make_batch_and_two_views():
    batch = sequential_batch()
    views = cl4srec_views()(batch, seeded(2))
    assert len(views) == 3
    assert views[0] is batch
    assert not torch.equal(views[1].sequences, views[2].sequences)
    for view in views[1:]:
        assert_right_aligned(view.sequences)
    again = cl4srec_views()(batch, seeded(2))
    assert all(torch.equal(a.sequences, b.sequences) for a, b in zip(views, again))


@pytest.mark.parametrize("policy", [cl4srec_views, mclrec_views])
def test_view_policies_are_the_identity_at_strength_zero(policy):
    batch = sequential_batch()
    views = policy(strength=0.0)(batch, seeded(2))
    assert all(torch.equal(view.sequences, batch.sequences) for view in views)
    assert not torch.equal(policy()(batch, seeded(2))[1].sequences, batch.sequences)


def test_view_policies_are_registered_with_their_rates():
    assert AUGMENTATIONS.get("cl4srec_views") is cl4srec_views
    assert AUGMENTATIONS.get("mclrec_views") is mclrec_views
    crop, mask, reorder = mclrec_views().pipelines[1].augmentation.augmentations
    assert (crop.keep, mask.share, reorder.share) == (0.5, 0.5, 0.8)
    crop, mask, reorder = cl4srec_views(strength=0.5).pipelines[1].augmentation.augmentations
    assert (crop.keep, mask.share, reorder.share) == pytest.approx((0.8, 0.15, 0.3))


def test_empty_batch_and_single_item_histories_pass_through():
    batch = sequential_batch()
    empty = batch[0:0]
    for operation in OPERATIONS:
        assert operation(empty, seeded()).sequences.shape == (0, WIDTH)
    single = batch.sequences[history_lengths(batch.sequences) == 1]
    assert len(single) > 0
    for operation in OPERATIONS:
        assert torch.equal(operation.augment(single, seeded()), single)


def test_bad_inputs_raise_clear_errors():
    batch = sequential_batch()
    without = RecBatch(batch.users, batch.items)
    with pytest.raises(ValueError, match="max_length"):
        ItemCrop()(without, seeded())
    with pytest.raises(TypeError, match="RecBatch"):
        ItemMask()(torch.zeros(3, 4), seeded())
    with pytest.raises(ValueError, match="share in"):
        ItemReorder(1.5)
    with pytest.raises(ValueError, match="strength"):
        cl4srec_views(strength=2.0)
    left_aligned = torch.tensor([[3, 4, PAD]])
    with pytest.raises(ValueError, match="right-aligned"):
        ItemMask().augment(left_aligned, seeded())
