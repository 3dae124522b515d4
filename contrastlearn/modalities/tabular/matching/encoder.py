"""A row encoder that reads table rows as characters and does not care about column order."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.tabular.matching.chars import PAD, VOCAB_SIZE
from contrastlearn.modalities.tabular.matching.corruptions import check_rows

POOLINGS = ("mean", "attention")
READERS = ("ngrams", "cnn")
BOUNDARY = 1
"""The code that marks a field's start in its n-grams (byte 1 never occurs in text)."""
HASH_BASE = 257
HASH_MULTIPLIER, HASH_SHIFT = 2_654_435_761, 16
"""Knuth's multiplicative hash: the n-gram's code times an odd constant, its middle bits."""


@ENCODERS.register("row_encoder")
class RowEncoder(nn.Module):
    """Table rows (B, F, C) int64 character codes -> (B, out_dim).

    Each field is read into one vector, by `reader`:
    - "ngrams" (default): the mean of learned embeddings of the field's hashed character
      3-grams (`ngram`; `buckets` hash buckets, fastText's subword bag), the learned analogue
      of the character n-gram TF-IDF that string matching uses; a typo changes only the n
      n-grams around it;
    - "cnn": character embeddings -> two 1-d convolutions (`width` channels, `kernel_size`,
      ReLU) -> the maximum over the field's characters, the character CNN of deep entity
      matching (e.g. Mudgal et al. 2018, SIGMOD, "Deep Learning for Entity Matching").
    A shared MLP maps each field vector to `field_dim`; the fields are then pooled as a set,
    over the non-empty ones only: "attention" (default) weights them by a softmax of a
    learned score, so uninformative columns can fade, "mean" averages them. So another column
    order gives the same vector and a blank field is left out, as the reordered and
    incomplete tuples of Ji et al. (2024, arXiv 2412.00324) need. A last linear layer maps to
    `out_dim`. Fields may have any number of characters. Every setting is a plain number or
    string, so an exported encoder is rebuilt from its kwargs.
    """

    modality = "tabular"

    def __init__(self, reader: str = "ngrams", char_dim: int = 64, width: int = 128,
                 kernel_size: int = 3, ngram: int = 3, buckets: int = 32768,
                 field_dim: int = 256, out_dim: int = 128, pooling: str = "attention",
                 vocab_size: int = VOCAB_SIZE) -> None:
        super().__init__()
        if reader not in READERS:
            raise ValueError(f"row_encoder reader must be one of {READERS}, got {reader!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"row_encoder pooling must be one of {POOLINGS}, got {pooling!r}")
        if min(char_dim, width, kernel_size, ngram, buckets, field_dim, out_dim,
               vocab_size) < 1:
            raise ValueError("row_encoder sizes must all be >= 1")
        if int(ngram) < 2:
            raise ValueError(f"row_encoder ngram must be >= 2 (characters per n-gram), got "
                             f"{ngram}")
        self.reader, self.pooling = reader, pooling
        self.vocab_size, self.out_dim = int(vocab_size), int(out_dim)
        self.ngram, self.buckets = int(ngram), int(buckets)
        if reader == "ngrams":
            self.ngrams = nn.Embedding(self.buckets + 1, char_dim, padding_idx=0)
            read_dim = char_dim
        else:
            self.characters = nn.Embedding(self.vocab_size, char_dim, padding_idx=PAD)
            padding = kernel_size // 2
            self.convolutions = nn.Sequential(
                nn.Conv1d(char_dim, width, kernel_size, padding=padding), nn.ReLU(),
                nn.Conv1d(width, width, kernel_size, padding=padding), nn.ReLU())
            read_dim = width
        self.field_mlp = nn.Sequential(nn.Linear(read_dim, field_dim), nn.ReLU(),
                                       nn.Linear(field_dim, field_dim), nn.ReLU())
        self.score = nn.Linear(field_dim, 1) if pooling == "attention" else None
        self.output = nn.Linear(field_dim, self.out_dim)

    def ngram_ids(self, flat: Tensor) -> Tensor:
        """(S, C) hashed character n-gram ids of each field (S, C) in [1, buckets], 0 where
        no n-gram starts: the n-gram at position i is the characters i - 1 .. i + n - 2 of
        the field with a start mark before it and padding after it, one per character."""
        extended = torch.nn.functional.pad(flat, (1, self.ngram - 2), value=PAD)
        extended[:, 0] = BOUNDARY
        codes = torch.zeros_like(flat)
        for offset in range(self.ngram):
            codes = codes * HASH_BASE + extended[:, offset:offset + flat.shape[1]]
        hashed = (codes * HASH_MULTIPLIER >> HASH_SHIFT) % self.buckets
        return torch.where(flat != PAD, hashed + 1, 0)

    def _read(self, flat: Tensor) -> Tensor:
        """(S, read_dim) one vector per field (S, C) that holds characters."""
        present = flat != PAD
        if self.reader == "ngrams":
            vectors = self.ngrams(self.ngram_ids(flat))  # padding rows are zero
            return vectors.sum(dim=1) / present.sum(dim=1, keepdim=True).clamp(min=1)
        width = flat.shape[1]
        features = self.convolutions(self.characters(flat).transpose(1, 2))
        features = features[:, :, :width].masked_fill(~present[:, None, :], float("-inf"))
        return features.max(dim=2).values

    def field_vectors(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, F, field_dim) one vector per field and (B, F) bool: which fields are filled."""
        rows = check_rows(x, "row_encoder")
        if bool(((rows < 0) | (rows >= self.vocab_size)).any()):
            raise ValueError(f"row_encoder reads character codes in [0, {self.vocab_size}); "
                             f"got values from {int(rows.min())} to {int(rows.max())}")
        batch, fields, width = rows.shape
        flat = rows.reshape(batch * fields, width)
        filled = (flat != PAD).any(dim=1)
        pooled = self._read(flat)
        pooled = torch.where(filled[:, None], pooled, torch.zeros_like(pooled))
        return (self.field_mlp(pooled).reshape(batch, fields, -1),
                filled.reshape(batch, fields))

    def forward(self, x: Tensor) -> Tensor:
        vectors, filled = self.field_vectors(x)
        weights = filled.to(vectors.dtype)
        if self.score is not None:
            scores = self.score(vectors).squeeze(-1).masked_fill(~filled, float("-inf"))
            weights = torch.softmax(scores, dim=1).nan_to_num(0.0)  # an all-blank row: zeros
        else:
            weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=1.0)
        return self.output((weights[:, :, None] * vectors).sum(dim=1))
