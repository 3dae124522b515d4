"""The class-incremental rehearsal sampler: stages, memory, replay share, exact orders."""

import pytest
import torch

from contrastlearn.data.arrays import ArrayDataset, DataError, DatasetSplits
from contrastlearn.engine.class_incremental import ClassIncremental, stage_monitor

LABELS = torch.arange(10).repeat_interleave(20)


def fitted(**kwargs) -> ClassIncremental:
    sampler = ClassIncremental(**{"stages": 5, "epochs_per_stage": 2, "memory_per_class": 3,
                                  "replay_fraction": 0.25, **kwargs})
    sampler.fit(ArrayDataset(torch.randn(len(LABELS), 2), LABELS), None, "cpu", 0)
    return sampler


def test_stages_partition_the_classes():
    stage = fitted().stage_of_classes(0)
    assert sorted(torch.bincount(stage).tolist()) == [2, 2, 2, 2, 2]
    assert torch.equal(stage, fitted().stage_of_classes(0))
    assert not torch.equal(stage, fitted().stage_of_classes(1))


def test_batches_hold_the_stage_and_replay_only_earlier_classes():
    sampler = fitted()
    stage = sampler.stage_of_classes(0)
    for epoch in range(10):
        order = sampler.order(len(LABELS), 16, 0, epoch)
        assert len(order) == len(LABELS)
        current = sampler.stage_of_epoch(epoch)
        batches = stage[LABELS[order[:192]]].view(12, 16)
        replayed = (batches < current).sum(dim=1)
        assert bool((batches <= current).all())
        assert replayed.tolist() == ([0] * 12 if current == 0 else [4] * 12)
        memory = sampler.memory(0, current)
        assert torch.isin(order[:192].view(12, 16)[batches < current], memory).all()
    assert len(sampler.memory(0, 4)) == 8 * 3


def test_order_is_a_function_of_seed_and_epoch():
    sampler = fitted()
    assert torch.equal(sampler.order(200, 16, 0, 3), fitted().order(200, 16, 0, 3))
    assert not torch.equal(sampler.order(200, 16, 0, 3), sampler.order(200, 16, 0, 2))
    restored = ClassIncremental(stages=5, epochs_per_stage=2, memory_per_class=3,
                                replay_fraction=0.25)
    restored.load_state_dict(sampler.state_dict())
    assert torch.equal(restored.order(200, 16, 0, 5), sampler.order(200, 16, 0, 5))


def test_bad_settings_and_data():
    with pytest.raises(ValueError, match="stages must be >= 2"):
        ClassIncremental(stages=1)
    with pytest.raises(ValueError, match="replay_fraction"):
        ClassIncremental(replay_fraction=1.0)
    with pytest.raises(ValueError, match="replay_fraction"):
        ClassIncremental(replay_fraction=-0.1)
    with pytest.raises(DataError, match="needs labelled"):
        ClassIncremental().fit(ArrayDataset(torch.randn(5, 2)), None, "cpu", 0)
    with pytest.raises(DataError, match="lower stages"):
        ClassIncremental(stages=20).fit(ArrayDataset(torch.randn(200, 2), LABELS), None,
                                        "cpu", 0)


def test_stage_monitor_reports_at_stage_ends_only():
    sampler = fitted()
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(10, 8, generator=generator) * 3
    test_labels = torch.arange(10).repeat_interleave(4)
    splits = DatasetSplits(
        ArrayDataset(centres[LABELS] + torch.randn(200, 8, generator=generator), LABELS),
        ArrayDataset(centres[test_labels] + torch.randn(40, 8, generator=generator),
                     test_labels), "image")
    epochs = {"done": 1}
    monitor = stage_monitor(sampler, splits, 0, lambda: epochs["done"], 11, "cpu",
                            lambda encoder, data: data.x)
    assert monitor(None) == {}
    epochs["done"] = 4  # end of stage 1
    record = monitor(None)
    assert record["stage"] == 1.0
    assert set(record) == {"stage", "first_stage_knn_top1", "old_classes_knn_top1",
                           "seen_classes_knn_top1"}
    assert record["seen_classes_knn_top1"] > 0.8  # separable clusters
    epochs["done"] = 10  # the last stage goes on: epochs 8, 9, 10 train stage 4
    assert monitor(None) == {}
    epochs["done"] = 11  # the end of the run
    assert monitor(None)["stage"] == 4.0


def test_no_replay_is_plain_sequential_training():
    sampler = fitted(replay_fraction=0.0)
    stage = sampler.stage_of_classes(0)
    order = sampler.order(200, 16, 0, 9)
    assert bool((stage[LABELS[order]] == 4).all())


def test_stage_monitor_ignores_classes_the_sampler_never_saw():
    sampler = ClassIncremental(stages=2, epochs_per_stage=1)
    sampler.fit(ArrayDataset(torch.randn(40, 2), torch.arange(4).repeat(10)), None, "cpu", 0)
    train_labels = torch.arange(6).repeat(10)  # classes 4 and 5: not in the sampler's data
    splits = DatasetSplits(ArrayDataset(torch.randn(60, 3), train_labels),
                           ArrayDataset(torch.randn(12, 3), torch.arange(6).repeat(2)), "image")
    monitor = stage_monitor(sampler, splits, 0, lambda: 1, 2, "cpu", lambda e, data: data.x)
    record = monitor(None)
    assert record["stage"] == 0.0 and "seen_classes_knn_top1" in record
