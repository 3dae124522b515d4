"""Data inflation balanced as AdaInf does (Wang, Zhang & Wang 2024, arXiv 2403.12448): the real
data replicated, generated samples with ids of their own, the mixup stand-in generator, and
generated samples kept out of every evaluation split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import contrastlearn.api as api
from contrastlearn.config import RecipeError, recipe_from_dict
from contrastlearn.data.arrays import ArrayDataset, DataError
from contrastlearn.data.inflation import (
    InflatedDataset,
    inflate,
    inflated_training_data,
    load_generated,
    mixup_plan,
    mixup_samples,
)
from contrastlearn.engine.checkpoint import load_checkpoint
from tests.conftest import tiny_recipe_dict


def real_data(count: int = 10) -> ArrayDataset:
    x = torch.rand(count, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    return ArrayDataset(x, torch.arange(count) % 2, ids=100 + torch.arange(count))


def test_real_data_is_replicated_and_generated_items_get_ids_of_their_own():
    real = real_data()
    generated = torch.full((4, 1, 4, 4), 0.5)
    data = inflate(real, generated, real_weight=3)
    assert len(data) == 3 * 10 + 4 and len(data.x) == 14  # stored once, not copied
    ids, counts = data.ids.unique(return_counts=True)
    assert counts[torch.isin(ids, real.ids)].tolist() == [3] * 10  # each real item 3 times
    generated_ids = data.ids[data.generated]
    assert len(generated_ids.unique()) == 4 and not torch.isin(generated_ids, real.ids).any()
    assert int(data.generated.sum()) == 4 and data.y is None  # generated items have no label
    positions = torch.tensor([0, 13, 25, 30, 33])
    expected = torch.stack([real.x[0], real.x[3], real.x[5], generated[0], generated[3]])
    assert torch.equal(data.batch_x(positions), expected)
    part = data.subset(torch.tensor([1, 31]))
    assert isinstance(part, InflatedDataset) and len(part) == 2
    assert torch.equal(part.batch_x(torch.arange(2)), torch.stack([real.x[1], generated[1]]))


def test_mixup_is_seeded_and_convex():
    x = torch.rand(12, 2, 5, generator=torch.Generator().manual_seed(1))
    made = mixup_samples(x, 30, seed=4)
    assert made.shape == (30, 2, 5)
    assert torch.equal(made, mixup_samples(x, 30, seed=4))
    assert not torch.equal(made, mixup_samples(x, 30, seed=5))
    first, second, lam = mixup_plan(12, 30, seed=4)
    assert bool((first != second).all()) and bool(((lam >= 0) & (lam <= 1)).all())
    for index in range(30):  # each sample is a convex mix of two different real ones
        a, b, weight = x[first[index]], x[second[index]], float(lam[index])
        torch.testing.assert_close(made[index], weight * a + (1 - weight) * b)
        assert bool((made[index] >= torch.minimum(a, b) - 1e-6).all())
        assert bool((made[index] <= torch.maximum(a, b) + 1e-6).all())
    with pytest.raises(DataError, match="at least 2 real samples"):
        mixup_samples(x[:1], 3, seed=0)


def test_generated_samples_from_a_file_are_read_in_the_training_format(tmp_path):
    pixels = (np.random.default_rng(0).random((5, 4, 4)) * 255).astype(np.uint8)
    np.savez(tmp_path / "generated.npz", x=pixels)
    data = inflated_training_data(real_data(), str(tmp_path / "generated.npz"), real_weight=2,
                                  count=None, seed=0, modality="image", scale=255.0)
    assert len(data) == 2 * 10 + 5
    torch.testing.assert_close(data.batch_x(torch.tensor([20])),
                               torch.from_numpy(pixels[:1]).float().unsqueeze(1) / 255)


def test_a_bad_generated_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(DataError, match="data.inflation.generated .*does not exist"):
        load_generated(tmp_path / "missing.npz", "image", 255.0, (1, 4, 4))
    np.savez(tmp_path / "other.npz", x=np.zeros((3, 6, 6), dtype=np.uint8))
    with pytest.raises(DataError) as error:
        load_generated(tmp_path / "other.npz", "image", 255.0, (1, 4, 4))
    assert "(1, 6, 6)" in str(error.value) and "(1, 4, 4)" in str(error.value)
    assert "\n" not in str(error.value)
    tokens = ArrayDataset(torch.randint(1, 9, (6, 5)))
    with pytest.raises(DataError, match="real-valued in-memory arrays"):
        inflated_training_data(tokens, "mixup", real_weight=2, count=None, seed=0,
                               modality="text", scale=None)
    recipe = tiny_recipe_dict()
    recipe["data"]["inflation"] = {"generated": str(tmp_path / "other.npz"), "count": 5}
    with pytest.raises(RecipeError, match="count is for generated: mixup only"):
        recipe_from_dict(recipe)


def test_generated_samples_never_enter_evaluation_splits(tmp_path, monkeypatch):
    recipe = tiny_recipe_dict()
    recipe["data"]["inflation"] = {"generated": "mixup", "real_weight": 2, "count": 64}
    recipe["train"].update(max_steps=2, checkpoint_every_steps=2)
    seen = {}

    def evaluate_run(encoder, splits, *args):
        seen["splits"] = splits
        return []

    monkeypatch.setattr(api, "_evaluate_run", evaluate_run)
    for drawing in ("write_report", "_write_preview"):  # pictures: seconds, not needed here
        monkeypatch.setattr(api, drawing, lambda *args: None)
    api.pretrain(recipe_from_dict(recipe), out=tmp_path / "run", progress=False)
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert state["train_state"]["num_samples"] == 2 * 256 + 64  # trained on the inflated data
    splits = seen["splits"]
    for split in (splits.train, splits.test):
        assert type(split) is ArrayDataset  # the real splits, never the inflated data
    assert len(splits.train) + len(splits.test) == 1797  # every digit, nothing generated
    # the trainer's views are weakened by strength_scale (AdaInf), here 0.5 by default
    schedule = api.batches_and_strength(recipe_from_dict(recipe))["strength_schedule"]
    assert [schedule(step, 10) for step in (0, 9)] == [0.5, 0.5]
