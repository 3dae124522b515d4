"""MemoryQueue: FIFO ring order, wrap-around, oversized batches and exact state_dict resume."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives import MemoryQueue


def rows(start, count, dim=2):
    return torch.arange(start, start + count, dtype=torch.float32)[:, None].repeat(1, dim)


def test_a_queue_is_not_an_objective():
    assert "memory_queue" not in OBJECTIVES


def test_fills_then_wraps_around():
    queue = MemoryQueue(size=5, dim=2)
    keys, ids = queue.negatives()
    assert keys.shape == (0, 2) and ids.shape == (0,)
    queue.enqueue(rows(0, 3), torch.arange(0, 3))
    keys, ids = queue.negatives()
    assert ids.tolist() == [0, 1, 2] and len(queue) == 3
    queue.enqueue(rows(3, 4), torch.arange(3, 7))  # 2 fit at the end, 2 wrap to the front
    keys, ids = queue.negatives()
    assert ids.tolist() == [5, 6, 2, 3, 4]
    assert keys[:, 0].tolist() == [5, 6, 2, 3, 4]
    assert int(queue.pointer) == 2 and int(queue.filled) == 5


def test_batch_larger_than_queue_keeps_newest():
    queue = MemoryQueue(size=3, dim=2)
    queue.enqueue(rows(0, 1), torch.tensor([0]))
    queue.enqueue(rows(10, 7), torch.arange(10, 17))
    keys, ids = queue.negatives()
    assert sorted(ids.tolist()) == [14, 15, 16]
    assert keys[:, 0].tolist() == ids.float().tolist()
    assert len(queue) == 3


def test_keys_are_detached_and_ids_default_to_unknown():
    queue = MemoryQueue(size=4, dim=2)
    keys = torch.randn(2, 2, requires_grad=True)
    queue.enqueue(keys * 2)
    stored, ids = queue.negatives()
    assert not stored.requires_grad
    assert ids.tolist() == [-1, -1]


def test_state_dict_round_trip_resumes_exactly():
    queue = MemoryQueue(size=6, dim=3)
    for step in range(3):
        queue.enqueue(torch.randn(4, 3), torch.arange(4) + 4 * step)
    restored = MemoryQueue(size=6, dim=3)
    restored.load_state_dict(queue.state_dict())
    assert set(queue.state_dict()) == {"keys", "ids", "pointer", "filled"}
    next_keys, next_ids = torch.randn(4, 3), torch.arange(100, 104)
    queue.enqueue(next_keys, next_ids)
    restored.enqueue(next_keys, next_ids)
    for original, copy in zip(queue.negatives(), restored.negatives()):
        torch.testing.assert_close(original, copy)
    assert int(queue.pointer) == int(restored.pointer)


def test_bad_inputs_raise():
    queue = MemoryQueue(size=4, dim=2)
    with pytest.raises(ValueError, match="keys must be"):
        queue.enqueue(torch.randn(2, 3))
    with pytest.raises(ValueError, match="ids must be"):
        queue.enqueue(torch.randn(2, 2), torch.arange(3))
    with pytest.raises(ValueError, match="positive"):
        MemoryQueue(size=0, dim=2)
