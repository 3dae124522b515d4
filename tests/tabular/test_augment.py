"""Table views: property tests of every op (shape, dtype, seeded determinism, identity at zero
strength, per-row p) and behaviour checks (SCARF's exact count of corrupted features, valid
one-hot blocks, draws that follow the training marginals, noise on numeric columns only,
mixup's partners)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.tabular.augment import (
    GaussianNoise,
    MarginalBank,
    ScarfCorruption,
    TabularMixup,
    VimeMask,
    changed_features,
    replacement_rows,
    scarf_views,
    table_view_inputs,
    vime_views,
)
from contrastlearn.modalities.tabular.encoders import TabularMLP
from contrastlearn.modalities.tabular.schema import TableLayout, fit_schema

pytestmark = pytest.mark.usefixtures("one_thread")


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def table(rows: int = 64, seed: int = 0):
    """(samples, schema) of 3 numeric columns (one with missing values) and 2 categorical."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=rows)
    a[:5] = np.nan
    frame = pd.DataFrame({"a": a, "b": rng.exponential(size=rows), "c": rng.normal(size=rows),
                          "colour": rng.choice(["red", "green", "blue"], rows, p=[.6, .3, .1]),
                          "size": rng.choice(["s", "m", "l", "xl"], rows)})
    schema = fit_schema(frame, ["a", "b", "c"], ["colour", "size"])
    samples, _ = schema.encode(frame, "t")
    return samples, schema


def ops(schema, strength: float = 1.0, p: float = 1.0):
    inputs = table_view_inputs((schema.layout.width,),
                               TabularMLP(schema=schema.to_dict(), hidden_dims=[4], out_dim=2))
    return {
        "scarf_corruption": ScarfCorruption(0.6 * strength, p, **inputs),
        "vime_mask": VimeMask(0.3 * strength, p, **inputs),
        "gaussian_noise": GaussianNoise(0.5 * strength, p, layout=inputs["layout"]),
        "tabular_mixup": TabularMixup(0.5 * strength, p, layout=inputs["layout"]),
    }


OPS = ("scarf_corruption", "vime_mask", "gaussian_noise", "tabular_mixup")


@pytest.mark.parametrize("name", OPS)
def test_ops_keep_shape_dtype_and_are_deterministic(name):
    x, schema = table()
    op = ops(schema)[name]
    first, second = op(x, generator(1)), op(x, generator(1))
    assert first.shape == x.shape and first.dtype == x.dtype
    assert torch.equal(first, second)
    assert not torch.equal(first, op(x, generator(2)))
    assert not torch.equal(first, x)
    assert AUGMENTATIONS.get(name) is type(op)


@pytest.mark.parametrize("name", OPS)
def test_ops_are_the_identity_at_zero_strength_and_at_p_zero(name):
    x, schema = table()
    assert torch.equal(ops(schema, strength=0.0)[name](x, generator()), x)
    assert torch.equal(ops(schema, p=0.0)[name](x, generator()), x)


@pytest.mark.parametrize("name", OPS)
def test_p_is_a_per_row_probability(name):
    x, schema = table(rows=400)
    made = ops(schema, p=0.5)[name](x, generator(3))
    changed = (made != x).any(dim=1).float().mean()
    full = (ops(schema)[name](x, generator(3)) != x).any(dim=1).float().mean()
    assert 0.35 < float(changed / full) < 0.65


@pytest.mark.parametrize("name", OPS)
def test_categorical_blocks_stay_valid_one_hot(name):
    x, schema = table()
    made = ops(schema)[name](x, generator(4))
    start = schema.layout.num_continuous
    for size in schema.layout.cardinalities:
        block = made[:, start:start + size]
        assert torch.equal(block.sum(dim=1), torch.ones(len(x)))
        assert set(block.unique().tolist()) <= {0.0, 1.0}
        start += size


def test_scarf_corrupts_exactly_the_rate_of_features_per_row_when_values_differ():
    layout = TableLayout(10)
    x = torch.arange(40.0).reshape(4, 10)  # every value unique: any replacement changes it
    made = ScarfCorruption(0.6, layout=layout)(x, generator())
    changed = changed_features(x, made, layout).sum(dim=1)
    assert changed.max() <= 6 and changed.float().mean() >= 4  # an in-batch draw may repeat


def test_draws_follow_the_training_marginals():
    x, schema = table(rows=500, seed=1)
    bank = MarginalBank.from_schema(schema)
    drawn = bank.sample(20000, generator(), torch.device("cpu"), torch.float32)
    layout = schema.layout
    start = layout.num_continuous
    for size, shares in zip(layout.cardinalities, schema.frequencies):
        np.testing.assert_allclose(drawn[:, start:start + size].mean(0).numpy(), shares,
                                   atol=0.02)
        start += size
    for column in range(layout.num_continuous):
        quantiles = torch.quantile(x[:, column], torch.tensor([0.25, 0.5, 0.75]))
        drawn_quantiles = torch.quantile(drawn[:, column], torch.tensor([0.25, 0.5, 0.75]))
        torch.testing.assert_close(drawn_quantiles, quantiles, atol=0.1, rtol=0.05)
        nearest = (drawn[:, column].unique()[:, None] - x[:, column]).abs().min(1).values
        assert float(nearest.max()) < 1e-4  # observed values (kept to 6 digits)


def test_without_marginals_a_feature_takes_values_of_the_same_column_in_the_batch():
    x, schema = table()
    drawn = replacement_rows(x, schema.layout, None, generator())
    for column in range(schema.layout.width):
        assert set(drawn[:, column].tolist()) <= set(x[:, column].tolist())


def test_vime_mask_returns_the_mask_of_drawn_features():
    x, schema = table(rows=2000)
    op = ops(schema)["vime_mask"]
    corrupted, mask = op.corrupt(x, generator(5))
    assert mask.shape == (2000, schema.layout.num_features)
    assert abs(float(mask.float().mean()) - 0.3) < 0.02
    changed = changed_features(x, corrupted, schema.layout)
    assert not bool((changed & ~mask).any())  # only drawn features change
    assert torch.equal(op(x, generator(5)), corrupted)


def test_gaussian_noise_touches_numeric_columns_only():
    x, schema = table()
    made = GaussianNoise(1.0, layout=schema.layout)(x, generator())
    numeric = schema.layout.num_numeric
    assert torch.equal(made[:, numeric:], x[:, numeric:])
    assert (made[:, :numeric] != x[:, :numeric]).all()


def test_mixup_interpolates_numbers_and_takes_partner_levels():
    x, schema = table()
    made = TabularMixup(1.0, layout=schema.layout)(x, generator(7))
    layout = schema.layout
    numeric = made[:, :layout.num_numeric]
    low = torch.minimum(x[:, :layout.num_numeric].min(0).values, numeric.min(0).values)
    assert (numeric >= low).all()
    rest = made[:, layout.num_numeric:]
    rows = {tuple(row) for row in x[:, layout.num_numeric:].tolist()}
    assert any(tuple(row) not in rows for row in rest.tolist())  # levels from two rows mixed


def test_a_table_without_schema_is_read_as_numeric_columns():
    x = torch.randn(16, 5)
    for op in (ScarfCorruption(), VimeMask(), GaussianNoise(), TabularMixup()):
        assert op(x, generator()).shape == x.shape
    with pytest.raises(ValueError, match=r"reads \(batch, 5\) table rows"):
        ScarfCorruption(layout=TableLayout(5))(torch.randn(4, 3), generator())


@pytest.mark.parametrize("policy", [scarf_views, vime_views])
def test_view_policies_pair_the_row_with_its_corruption(policy):
    x, schema = table()
    inputs = {"layout": schema.layout, "marginals": MarginalBank.from_schema(schema)}
    views = policy(**inputs)
    anchor, corrupted = views(x, generator())
    assert torch.equal(anchor, x) and not torch.equal(corrupted, x)
    assert AUGMENTATIONS.get(policy.__name__) is policy
    views.set_strength(0.0)
    assert all(torch.equal(view, x) for view in views(x, generator()))


def test_ops_refuse_settings_out_of_range():
    with pytest.raises(ValueError, match="corruption_rate must be in"):
        ScarfCorruption(1.5)
    with pytest.raises(ValueError, match="p must be in"):
        VimeMask(p=2.0)
    with pytest.raises(ValueError, match="std must be"):
        GaussianNoise(-1.0)
