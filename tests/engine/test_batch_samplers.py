"""G-SimCLR batching (Chakraborty et al. 2020, arXiv 2009.12007): k-means pseudo-labels, then
epoch orders whose batches spread every pseudo-label; exact on resume."""

from __future__ import annotations

import itertools

import pytest
import torch

from contrastlearn.augment.base import Identity
from contrastlearn.augment.views import Views
from contrastlearn.config import RecipeError, recipe_from_dict
from contrastlearn.core.registry import BATCH_SAMPLERS
from contrastlearn.data.arrays import ArrayDataset, DataError
from contrastlearn.data.inflation import inflate
from contrastlearn.engine.batches import iterate_batches, sample_order
from contrastlearn.engine.samplers import ClusterSpread, cluster_spread_order, kmeans
from contrastlearn.engine.trainer import Trainer
from tests.conftest import tiny_recipe_dict
from tests.engine.recording import RecordingMethod, tiny_config


def batches_of(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    full = len(order) // batch_size
    return [order[b * batch_size:(b + 1) * batch_size] for b in range(full)]


@pytest.mark.parametrize("batch_size", [5, 12])
def test_no_batch_holds_two_items_of_a_cluster_when_batch_is_at_most_k(batch_size):
    labels = torch.arange(120) % 12  # 12 equal clusters
    for seed, epoch in itertools.product((0, 3), (0, 1, 2)):
        order = cluster_spread_order(labels, batch_size, seed, epoch)
        assert torch.equal(order.sort().values, torch.arange(120))  # a permutation
        for batch in batches_of(order, batch_size):
            assert len(labels[batch].unique()) == batch_size


def cluster_counts(labels: torch.Tensor, order: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(batches, clusters) how many items of each cluster every full batch holds."""
    clusters = int(labels.max()) + 1
    return torch.stack([torch.bincount(labels[batch], minlength=clusters)
                        for batch in batches_of(order, batch_size)])


@pytest.mark.parametrize("sizes", [[50, 30, 15, 5], [50, 30, 15, 5, 3]])  # 100 or 103 items
def test_larger_batches_spread_every_cluster_as_evenly_as_possible(sizes):
    labels = torch.cat([torch.full((size,), index) for index, size in enumerate(sizes)])
    counts = cluster_counts(labels, cluster_spread_order(labels, 20, seed=1, epoch=0), 20)
    assert (counts.max(dim=0).values - counts.min(dim=0).values).max() <= 1, counts
    # a random shuffle is far less even: cluster 0 alone varies by more than one per batch
    plain = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    plain_counts = cluster_counts(labels, plain, 20)
    assert (plain_counts.max(dim=0).values - plain_counts.min(dim=0).values).max() > 1


def test_order_is_a_function_of_seed_epoch_and_labels():
    labels = torch.arange(64) % 8
    first = cluster_spread_order(labels, 8, seed=2, epoch=1)
    assert torch.equal(first, cluster_spread_order(labels.clone(), 8, seed=2, epoch=1))
    assert not torch.equal(first, cluster_spread_order(labels, 8, seed=2, epoch=2))
    assert not torch.equal(first, cluster_spread_order(labels, 8, seed=3, epoch=1))
    assert not torch.equal(first, cluster_spread_order(labels.roll(1), 8, seed=2, epoch=1))
    sampler = ClusterSpread(clusters=8)
    sampler.load_state_dict({"labels": labels})
    data = ArrayDataset(torch.zeros(64, 2))
    assert torch.equal(sample_order(data, 8, 2, 1, sampler), first)


def test_kmeans_finds_obvious_clusters():
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    truth = torch.arange(200) % 4
    points = centres[truth] + 0.5 * torch.randn(200, 2, generator=generator)
    labels = kmeans(points, 4, seed=0)
    # the same partition up to renaming: each true cluster maps to exactly one found label
    pairs = set(zip(truth.tolist(), labels.tolist()))
    assert len(pairs) == 4 and len({found for _, found in pairs}) == 4
    assert torch.equal(labels, kmeans(points, 4, seed=0))


def test_raw_features_cluster_images_of_obvious_groups():
    generator = torch.Generator().manual_seed(1)
    prototypes = torch.rand(3, 1, 6, 6, generator=generator)
    truth = torch.arange(90) % 3
    x = prototypes[truth] + 0.02 * torch.randn(90, 1, 6, 6, generator=generator)
    sampler = ClusterSpread(clusters=3, features="raw", pca_dim=5)
    labels = sampler.fit(ArrayDataset(x), encoder=None, device="cpu", seed=0)
    assert len(set(zip(truth.tolist(), labels.tolist()))) == 3
    # inflated data that repeats stored rows gets one label per training position
    inflated = inflate(ArrayDataset(x), x[:6] * 0.5, real_weight=2)
    labels = sampler.fit(inflated, encoder=None, device="cpu", seed=0)
    assert len(labels) == len(inflated) and torch.equal(labels[:90], labels[90:180])


def test_resume_mid_epoch_gives_the_same_batches(tmp_path, monkeypatch):
    x = torch.randn(48, 1, 3, generator=torch.Generator().manual_seed(0))
    data = ArrayDataset(x)
    views = Views([Identity(), Identity()])

    def run(out, **settings):
        method = RecordingMethod(3)
        trainer = Trainer(method, views, tiny_config(**settings), run_dir=out, progress=False,
                          batch_sampler=ClusterSpread(clusters=6, pca_dim=3))
        return trainer, method

    trainer, whole = run(tmp_path / "whole")
    trainer.fit(data)
    labels = trainer.batch_sampler.labels
    for epoch in (whole.seen[:6], whole.seen[6:]):  # 6 batches of 8 per epoch
        counts = cluster_counts(labels, torch.tensor(sum(epoch, [])), 8)
        assert (counts.max(dim=0).values - counts.min(dim=0).values).max() <= 1, counts
    (tmp_path / "part").mkdir()
    trainer, part = run(tmp_path / "part", max_steps=4)  # stops mid-epoch 0 (6 steps/epoch)
    trainer.fit(data)
    resumed_trainer, resumed = run(tmp_path / "part")
    # the pseudo-labels must come from the checkpoint, not from a second k-means
    monkeypatch.setattr(ClusterSpread, "fit", lambda *args: pytest.fail("labels recomputed"))
    resumed_trainer.resume()
    resumed_trainer.fit(data)
    assert part.seen + resumed.seen == whole.seen
    assert torch.equal(resumed_trainer.batch_sampler.labels, labels)


def test_iterating_from_a_batch_position_continues_the_same_order():
    labels = torch.arange(40) % 5
    order = cluster_spread_order(labels, 5, seed=0, epoch=0)
    data = ArrayDataset(torch.arange(40.0).view(40, 1))
    whole = [batch.ids.tolist() for batch in iterate_batches(data, order, 5)]
    tail = [batch.ids.tolist() for batch in iterate_batches(data, order, 5, start_batch=3)]
    assert tail == whole[3:]


def test_bad_settings_are_refused_in_one_line():
    with pytest.raises(ValueError, match="features must be 'raw' or 'encoder'"):
        BATCH_SAMPLERS.build("cluster_spread", features="pixels")
    recipe = tiny_recipe_dict()
    recipe["train"]["batch_sampler"] = {"name": "cluster_spread", "kwargs": {"clusters": 1}}
    with pytest.raises(RecipeError, match="train.batch_sampler: cluster_spread clusters"):
        recipe_from_dict(recipe)
    recipe["train"]["batch_sampler"] = {"name": "cluster_spread", "kwargs": {"k": 3}}
    with pytest.raises(RecipeError, match="train.batch_sampler.kwargs.k"):
        recipe_from_dict(recipe)
    tokens = ArrayDataset(torch.randint(5, (10, 4)))
    with pytest.raises(DataError, match="features: encoder"):
        ClusterSpread(clusters=2).fit(tokens, encoder=None, device="cpu", seed=0)
