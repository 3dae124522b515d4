"""Table encoders: shapes and out_dim, rebuilt from JSON kwargs alone, categorical blocks read
as embeddings (an unseen value reads as zero), one token per feature plus [CLS], and clear
errors for rows of another layout."""

from __future__ import annotations

import json

import pytest
import torch

from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.tabular.encoders import CategoricalEmbeddings, FTTransformer
from contrastlearn.modalities.tabular.schema import NumericColumn, TableLayout, TableSchema

pytestmark = pytest.mark.usefixtures("one_thread")

KWARGS = {"num_continuous": 3, "cardinalities": [2, 4]}
SMALL = {"tabular_mlp": {"hidden_dims": [16, 16], "out_dim": 8, "embedding_dim": 3},
         "ft_transformer": {"d_token": 16, "n_blocks": 2, "n_heads": 2, "out_dim": 8}}


def rows(batch: int = 6, seed: int = 0) -> torch.Tensor:
    """Rows of 3 continuous columns and one-hot blocks of 2 and 4 levels."""
    generator = torch.Generator().manual_seed(seed)
    continuous = torch.randn(batch, 3, generator=generator)
    first = torch.nn.functional.one_hot(torch.randint(2, (batch,), generator=generator), 2)
    second = torch.nn.functional.one_hot(torch.randint(4, (batch,), generator=generator), 4)
    return torch.cat([continuous, first.float(), second.float()], dim=1)


@pytest.mark.parametrize("name", ["tabular_mlp", "ft_transformer"])
def test_encoders_map_rows_to_out_dim_and_learn(name):
    encoder = ENCODERS.build(name, **KWARGS, **SMALL[name])
    out = encoder(rows())
    assert out.shape == (6, 8) and encoder.out_dim == 8 and encoder.modality == "tabular"
    out.square().sum().backward()
    assert all(p.grad is not None for p in encoder.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", ["tabular_mlp", "ft_transformer"])
def test_encoders_rebuild_from_json_kwargs(name):
    kwargs = json.loads(json.dumps({**KWARGS, **SMALL[name]}))
    first, second = ENCODERS.build(name, **kwargs), ENCODERS.build(name, **kwargs)
    second.load_state_dict(first.state_dict())
    first.eval(), second.eval()
    assert torch.equal(first(rows()), second(rows()))


@pytest.mark.parametrize("name", ["tabular_mlp", "ft_transformer"])
def test_rows_of_another_width_are_refused_naming_the_layout(name):
    encoder = ENCODERS.build(name, **KWARGS, **SMALL[name])
    with pytest.raises(ValueError, match=r"reads \(batch, 9\) table rows"):
        encoder(torch.randn(2, 5))


def test_an_encoder_needs_the_columns():
    with pytest.raises(ValueError, match="needs the table's columns"):
        ENCODERS.build("tabular_mlp")
    schema = TableSchema([NumericColumn("x", 0.0, 0.0, 1.0)], []).to_dict()
    with pytest.raises(ValueError, match="do not match the schema"):
        ENCODERS.build("tabular_mlp", num_continuous=9, schema=schema)


def test_categorical_embeddings_pick_each_levels_vector_and_zero_for_unseen():
    layout = TableLayout(1, 0, (2, 3))
    embeddings = CategoricalEmbeddings(layout, 4)
    x = torch.tensor([[0.5, 0, 1, 0, 0, 1], [0.5, 0, 0, 1, 0, 0]])
    out = embeddings(x)
    assert out.shape == (2, 2, 4)
    torch.testing.assert_close(out[0, 0], embeddings.weight[0, 1])
    torch.testing.assert_close(out[0, 1], embeddings.weight[1, 2])
    torch.testing.assert_close(out[1, 0], torch.zeros(4))  # an unseen value: all-zero block
    torch.testing.assert_close(out[1, 1], embeddings.weight[1, 0])


def test_ft_transformer_makes_one_token_per_feature_and_a_cls_token():
    encoder = FTTransformer(**KWARGS, **SMALL["ft_transformer"])
    assert encoder.tokens(rows()).shape == (6, 3 + 2 + 1, 16)


def test_a_numbers_only_table_needs_no_cardinalities():
    encoder = ENCODERS.build("ft_transformer", num_continuous=4, d_token=8, n_heads=2,
                             out_dim=5)
    assert encoder(torch.randn(3, 4)).shape == (3, 5)
