"""Encoders of table rows: (B, width) samples in the layout of `schema` -> (B, out_dim).

Both read continuous columns (numeric and missing indicators) as numbers and each
categorical column's one-hot block through an embedding of its levels (a block times its
embedding table: the level's vector for a one-hot block, zero for an unseen value).

Their kwargs are plain JSON: `num_continuous` and `cardinalities` (how many continuous
columns, how many levels per categorical column) and the table `schema` itself (filled in from
the data by `Modality.encoder_inputs`), so an exported encoder rebuilds from its config alone
and turns new tables into samples as in training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.tabular.schema import TableLayout, TableSchema


def encoder_layout(num_continuous: int | None, cardinalities: Sequence[int] | None,
                   schema: dict[str, Any] | TableSchema | None,
                   name: str) -> tuple[TableLayout, TableSchema | None]:
    """The columns an encoder reads, from its schema or its counts (which must agree)."""
    table = None if schema is None else TableSchema.from_dict(schema)
    if table is not None:
        layout = table.layout
        given = (num_continuous, None if cardinalities is None else tuple(cardinalities))
        if given[0] is not None and given[0] != layout.num_continuous or (
                given[1] is not None and given[1] != layout.cardinalities):
            raise ValueError(f"{name}: num_continuous={num_continuous} and cardinalities="
                             f"{cardinalities} do not match the schema's "
                             f"({layout.num_continuous}, {list(layout.cardinalities)})")
        return layout, table
    if num_continuous is None:
        raise ValueError(f"{name} needs the table's columns: num_continuous (and "
                         "cardinalities), or a schema (pretrain fills both in from the data)")
    return TableLayout(int(num_continuous), 0, tuple(cardinalities or ())), None


class CategoricalEmbeddings(nn.Module):
    """(B, width) samples -> (B, categorical columns, dim): each one-hot block times its own
    (levels, dim) table, as one batched product over blocks padded to the largest one."""

    def __init__(self, layout: TableLayout, dim: int) -> None:
        super().__init__()
        most = max(layout.cardinalities, default=0)
        self.register_buffer("level_index", layout.level_index(), persistent=False)
        self.weight = nn.Parameter(torch.empty(len(layout.cardinalities), most, int(dim)))
        nn.init.uniform_(self.weight, -1 / math.sqrt(dim), 1 / math.sqrt(dim))

    def forward(self, x: Tensor) -> Tensor:
        padded = torch.cat([x, x.new_zeros(x.shape[0], 1)], dim=1)
        blocks = padded[:, self.level_index]  # (B, columns, largest cardinality)
        return torch.einsum("bgl,gld->bgd", blocks, self.weight)


class _TableEncoder(nn.Module):
    """What both encoders share: the layout check, the schema, the modality."""

    modality = "tabular"
    """The kind of data it reads (`evaluate` and `embed` read it from the module)."""

    def _setup(self, num_continuous: int | None, cardinalities: Sequence[int] | None,
               schema: dict[str, Any] | TableSchema | None) -> None:
        self.layout, self.schema = encoder_layout(num_continuous, cardinalities, schema,
                                                  type(self).__name__)
        self.num_continuous = self.layout.num_continuous
        self.cardinalities = list(self.layout.cardinalities)

    def continuous(self, x: Tensor) -> Tensor:
        self.layout.check(x, type(self).__name__)
        return x[:, :self.num_continuous]


@ENCODERS.register("tabular_mlp")
class TabularMLP(_TableEncoder):
    """Continuous columns and `embedding_dim`-wide embeddings of the categorical columns,
    concatenated, through a ReLU MLP (`hidden_dims`) and a last Linear to `out_dim`: SCARF's
    encoder (Bahri et al. 2022, arXiv 2106.15147: four 256-wide layers in the paper)."""

    def __init__(self, num_continuous: int | None = None,
                 cardinalities: Sequence[int] | None = None,
                 schema: dict[str, Any] | None = None, embedding_dim: int = 8,
                 hidden_dims: Sequence[int] = (256, 256, 256), out_dim: int = 256,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self._setup(num_continuous, cardinalities, schema)
        if int(embedding_dim) < 1 or int(out_dim) < 1 or any(int(h) < 1 for h in hidden_dims):
            raise ValueError(f"TabularMLP needs embedding_dim, hidden_dims and out_dim >= 1; got "
                             f"{embedding_dim}, {list(hidden_dims)}, {out_dim}")
        if not 0 <= float(dropout) < 1:
            raise ValueError(f"TabularMLP dropout must be in [0, 1); got {dropout}")
        self.embeddings = CategoricalEmbeddings(self.layout, int(embedding_dim))
        layers: list[nn.Module] = []
        width = self.num_continuous + len(self.cardinalities) * int(embedding_dim)
        for hidden in hidden_dims:
            layers += [nn.Linear(width, int(hidden)), nn.ReLU(inplace=True)]
            if dropout > 0:
                layers.append(nn.Dropout(float(dropout)))
            width = int(hidden)
        layers.append(nn.Linear(width, int(out_dim)))
        self.mlp = nn.Sequential(*layers)
        self.out_dim = int(out_dim)

    def forward(self, x: Tensor) -> Tensor:
        inputs = torch.cat([self.continuous(x), self.embeddings(x).flatten(1)], dim=1)
        return self.mlp(inputs)


class _ReGLU(nn.Module):
    """The Transformer's feed-forward part in FT-Transformer: Linear -> ReGLU -> Linear."""

    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.expand = nn.Linear(dim, 2 * hidden)
        self.dropout = nn.Dropout(dropout)
        self.shrink = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        value, gate = self.expand(x).chunk(2, dim=-1)
        return self.shrink(self.dropout(value * torch.relu(gate)))


class _Block(nn.Module):
    """A pre-norm Transformer block; the first block of FT-Transformer has no norm before its
    attention (the tokens come straight from the tokenizer)."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, attention_dropout: float,
                 ffn_dropout: float, residual_dropout: float, first: bool) -> None:
        super().__init__()
        self.attention_norm = nn.Identity() if first else nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, dropout=attention_dropout,
                                               batch_first=True)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn = _ReGLU(dim, ffn_dim, ffn_dropout)
        self.residual_dropout = nn.Dropout(residual_dropout)

    def forward(self, tokens: Tensor) -> Tensor:
        normed = self.attention_norm(tokens)
        attended, _ = self.attention(normed, normed, normed, need_weights=False)
        tokens = tokens + self.residual_dropout(attended)
        return tokens + self.residual_dropout(self.ffn(self.ffn_norm(tokens)))


@ENCODERS.register("ft_transformer")
class FTTransformer(_TableEncoder):
    """FT-Transformer (Gorishniy et al. 2021, arXiv 2106.11959), small: a feature tokenizer
    (continuous column j -> x_j w_j + b_j; categorical column -> its level's embedding + b_j),
    a [CLS] token appended, `n_blocks` pre-norm Transformer blocks with ReGLU feed-forward
    parts, and the paper's readout of the [CLS] token (LayerNorm -> ReLU -> Linear to
    `out_dim`). The paper's default is 3 blocks of 192-wide tokens; ours is smaller for CPUs."""

    def __init__(self, num_continuous: int | None = None,
                 cardinalities: Sequence[int] | None = None,
                 schema: dict[str, Any] | None = None, d_token: int = 64, n_blocks: int = 2,
                 n_heads: int = 4, ffn_factor: float = 4 / 3, attention_dropout: float = 0.1,
                 ffn_dropout: float = 0.1, residual_dropout: float = 0.0,
                 out_dim: int = 128) -> None:
        super().__init__()
        self._setup(num_continuous, cardinalities, schema)
        if int(d_token) < 1 or int(n_heads) < 1 or int(d_token) % int(n_heads):
            raise ValueError(f"FTTransformer d_token ({d_token}) must be a positive multiple of "
                             f"n_heads ({n_heads})")
        if int(n_blocks) < 1 or int(out_dim) < 1:
            raise ValueError(f"FTTransformer needs n_blocks and out_dim >= 1; got {n_blocks}, "
                             f"{out_dim}")
        dim = int(d_token)
        bound = 1 / math.sqrt(dim)
        self.continuous_weight = nn.Parameter(torch.empty(self.num_continuous, dim))
        self.bias = nn.Parameter(torch.empty(self.num_continuous + len(self.cardinalities), dim))
        self.cls = nn.Parameter(torch.empty(dim))
        for parameter in (self.continuous_weight, self.bias, self.cls):
            nn.init.uniform_(parameter, -bound, bound)
        self.embeddings = CategoricalEmbeddings(self.layout, dim)
        ffn_dim = max(1, int(dim * float(ffn_factor)))
        self.blocks = nn.ModuleList(
            _Block(dim, int(n_heads), ffn_dim, float(attention_dropout), float(ffn_dropout),
                   float(residual_dropout), first=index == 0) for index in range(int(n_blocks)))
        self.readout = nn.Sequential(nn.LayerNorm(dim), nn.ReLU(), nn.Linear(dim, int(out_dim)))
        self.out_dim = int(out_dim)

    def tokens(self, x: Tensor) -> Tensor:
        """(B, features + 1, d_token): one token per feature, then [CLS]."""
        continuous = self.continuous(x)[:, :, None] * self.continuous_weight
        features = torch.cat([continuous, self.embeddings(x)], dim=1) + self.bias
        return torch.cat([features, self.cls.expand(x.shape[0], 1, -1)], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.tokens(x)
        for block in self.blocks:
            tokens = block(tokens)
        return self.readout(tokens[:, -1])
