"""SASRec (Kang & McAuley 2018, "Self-Attentive Sequential Recommendation", arXiv 1808.09781):
a user is the causal self-attention encoding of her item history, read at its last (most
recent) position; an item is its embedding, and a user's score for an item the dot product of
the two (as RecBole's SASRec trained with the cross-entropy loss).

Layout follows RecBole's SASRec: item + learned position embeddings, LayerNorm and dropout,
then post-LN Transformer blocks (GELU, feed-forward 4 * dim), weights drawn from N(0, 0.02).
Histories come right-aligned and left-padded with PAD (-1), so the last column is always the
most recent item and positions count back from it; a history wider than `max_length` keeps
its last `max_length` items. The item table has two extra rows: CL4SRec's `MASK` item (its own
learned embedding) and the padding row.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.recsys.batch import MASK, PAD, RecBatch
from contrastlearn.modalities.recsys.fast_dropout import FastDropout
from contrastlearn.modalities.recsys.sequence_views import SEQUENCE_FIX

INIT_STD = 0.02
"""Standard deviation of the normal initialisation (RecBole's `initializer_range`)."""

LAYER_NORM_EPS = 1e-12
"""RecBole's `layer_norm_eps` for SASRec."""


def require_sequences(sequences: Tensor | None, who: str) -> Tensor:
    """`sequences`, or a one-line ValueError naming the fix when a batch has no histories."""
    if sequences is None:
        raise ValueError(f"{who} reads item histories and the batch has none "
                         f"(RecBatch.sequences is None): {SEQUENCE_FIX}")
    return sequences


@ENCODERS.register("sasrec")
class SASRec(nn.Module):
    """SASRec over item histories (see the module docstring). `num_items` (and the ignored
    `num_users`, `num_edges`) and `max_length` come from the data; `dim`, `layers`, `heads`
    and `dropout` (embedding, attention and feed-forward dropout) size the model."""

    def __init__(self, num_items: int, max_length: int = 50, dim: int = 64, layers: int = 2,
                 heads: int = 2, dropout: float = 0.2, num_users: int = 0,
                 num_edges: int = 0) -> None:
        super().__init__()
        if num_items < 1 or max_length < 1 or dim < 1 or layers < 1 or heads < 1:
            raise ValueError(f"sasrec needs num_items, max_length, dim, layers and heads >= 1; "
                             f"got {num_items}, {max_length}, {dim}, {layers}, {heads}")
        if dim % heads:
            raise ValueError(f"sasrec dim ({dim}) must be a multiple of heads ({heads})")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"sasrec dropout must be in [0, 1); got {dropout}")
        self.num_items, self.max_length, self.heads, self.out_dim = (
            num_items, max_length, heads, dim)
        self.mask_row, self.padding_row = num_items, num_items + 1
        self.item_embedding = nn.Embedding(num_items + 2, dim, padding_idx=self.padding_row)
        self.position_embedding = nn.Embedding(max_length, dim)
        self.input_norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.input_dropout = FastDropout(dropout)
        block = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=4 * dim, dropout=dropout, activation="gelu",
            layer_norm_eps=LAYER_NORM_EPS, batch_first=True)
        for name in ("dropout", "dropout1", "dropout2"):  # the feed-forward and residual ones
            setattr(block, name, FastDropout(dropout))
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self._initialise()

    def _initialise(self) -> None:
        for name, parameter in self.named_parameters():
            if "norm" in name:
                continue  # LayerNorms keep weight 1, bias 0
            if name.endswith("bias"):
                nn.init.zeros_(parameter)
            else:
                nn.init.normal_(parameter, std=INIT_STD)
        with torch.no_grad():
            self.item_embedding.weight[self.padding_row].zero_()

    def _rows(self, sequences: Tensor) -> Tensor:
        """Item-table rows of `sequences`: items as they are, MASK and PAD to their rows."""
        known = (sequences == PAD) | (sequences == MASK)
        if bool((~known & ((sequences < 0) | (sequences >= self.num_items))).any()):
            raise ValueError(f"sequences hold item indices outside [0, {self.num_items}) (other "
                             f"than PAD {PAD} and MASK {MASK}): the encoder was built for "
                             f"{self.num_items} items")
        rows = sequences.masked_fill(sequences == MASK, self.mask_row)
        return rows.masked_fill(sequences == PAD, self.padding_row)

    def encode_sequences(self, sequences: Tensor) -> Tensor:
        """(B, D) the representation at the last position of (B, L) right-aligned histories."""
        if sequences.dim() != 2:
            raise ValueError(f"sasrec encodes (B, L) item histories; got shape "
                             f"{tuple(sequences.shape)}")
        sequences = sequences[:, -self.max_length:]
        width = sequences.shape[1]
        positions = torch.arange(self.max_length - width, self.max_length,
                                 device=sequences.device)
        hidden = self.item_embedding(self._rows(sequences)) + self.position_embedding(positions)
        hidden = self.input_dropout(self.input_norm(hidden))
        self_only = torch.eye(width, dtype=torch.bool, device=sequences.device)
        future = torch.ones_like(self_only).triu(diagonal=1)
        # True = may not attend: the future and padding, except a position itself, so that
        # padding rows attend to themselves and no softmax row is empty
        blocked = (future[None] | (sequences == PAD)[:, None, :]) & ~self_only[None]
        hidden = self.blocks(hidden, mask=blocked.repeat_interleave(self.heads, dim=0))
        return hidden[:, -1]

    def forward(self, batch: RecBatch) -> Tensor:
        return self.encode_sequences(require_sequences(batch.sequences, "sasrec"))

    def user_representations(self, users: Tensor, sequences: Tensor | None = None) -> Tensor:
        """(U, D) the encodings of the users' histories (`sequences`, (U, L))."""
        return self.encode_sequences(require_sequences(sequences, "sasrec"))

    def item_representations(self) -> Tensor:
        """(num_items, D) the item embeddings (the MASK and padding rows left out)."""
        return self.item_embedding.weight[:self.num_items]
