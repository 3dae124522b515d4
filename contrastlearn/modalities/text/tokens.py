"""Token batches: the one representation every text view, encoder and method shares.

A batch of sentences is an int64 tensor `ids` of shape (B, L):

- every row is ``[CLS] token ... token [SEP]`` followed by padding; **the pad id is 0**
  (tokenizers whose pad id is not 0 are remapped when the data is tokenized);
- positions 0 and ``length - 1`` of a row are its frame (CLS and SEP); views never move, drop or
  duplicate them and only touch the interior ``1 .. length - 2``;
- ``CUT_ID`` (-1) marks a token whose embedding is zeroed but which is still attended to
  (token and span cutoff, Shen et al. 2020, arXiv 2009.13818);
- padding sits only at the end of a row; a view that changes lengths re-packs its rows and may
  widen or narrow the tensor (never past its `max_length`, which recipes fill in from the
  encoder).

Feature cutoff needs the embedding width, which only the encoder knows, so a view that asks for
it returns a `TokenBatch`: the ids plus a cutoff ratio and a seed from which the encoder draws
the (B, width) mask. A learned view (`autotcl_text`) returns a `TokenBatch` with (B, L)
`token_weights` that scale each token's input embedding (0 cuts it, as CUT_ID does), so its
generator gets gradients through the encoder. Everything that takes token ids accepts a plain
tensor or a `TokenBatch`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from torch import Tensor

from contrastlearn.data.arrays import ArrayDataset

PAD_ID = 0
CUT_ID = -1


@dataclass(frozen=True, eq=False)
class TokenBatch:
    """Token ids (B, L) plus an optional feature cutoff: a fraction `feature_cutoff` of the
    embedding dimensions of each sentence is zeroed, drawn from `feature_seed`; and optional
    float `token_weights` (B, L) that multiply each token's input embedding (a learned view's,
    differentiable)."""

    ids: Tensor
    feature_cutoff: float = 0.0
    feature_seed: int = 0
    token_weights: Tensor | None = None

    def __post_init__(self) -> None:
        if self.token_weights is not None and self.token_weights.shape != self.ids.shape:
            raise ValueError(f"TokenBatch token_weights must have the ids' shape "
                             f"{tuple(self.ids.shape)}; got {tuple(self.token_weights.shape)}")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def device(self) -> torch.device:
        return self.ids.device

    def to(self, device: torch.device | str, non_blocking: bool = False) -> TokenBatch:
        weights = (None if self.token_weights is None
                   else self.token_weights.to(device, non_blocking=non_blocking))
        return replace(self, ids=self.ids.to(device, non_blocking=non_blocking),
                       token_weights=weights)

    def detach(self) -> TokenBatch:
        """The same batch with its token weights cut from the autograd graph."""
        if self.token_weights is None:
            return self
        return replace(self, token_weights=self.token_weights.detach())

    def with_ids(self, ids: Tensor) -> TokenBatch:
        if self.token_weights is not None:
            raise ValueError("a TokenBatch with token_weights (a learned view) cannot take new "
                             "ids: its weights belong to its positions; make learned views "
                             "after every token view")
        return replace(self, ids=ids)

    def feature_keep(self, width: int, dtype: torch.dtype = torch.float32) -> Tensor | None:
        """(B, 1, width) multiplier that zeroes the cut dimensions, or None without cutoff."""
        if self.feature_cutoff <= 0:
            return None
        generator = torch.Generator(device=self.ids.device).manual_seed(int(self.feature_seed))
        draws = torch.rand(len(self.ids), 1, width, generator=generator, device=self.ids.device)
        return (draws >= self.feature_cutoff).to(dtype)


def token_ids(batch: Tensor | TokenBatch) -> Tensor:
    """The (B, L) ids of a plain tensor or a TokenBatch."""
    return batch.ids if isinstance(batch, TokenBatch) else batch


def check_tokens(x: Tensor | TokenBatch, owner: str) -> Tensor:
    """The (B, L) int64 ids of `x`, or a clear error naming `owner` and what was wrong."""
    ids = token_ids(x)
    if not isinstance(ids, Tensor):
        raise ValueError(f"{owner} expects token ids (a tensor or TokenBatch); got "
                         f"{type(x).__name__}")
    if ids.dim() != 2:
        raise ValueError(f"{owner} expects token ids of shape (batch, length); got "
                         f"{tuple(ids.shape)} (pairs and triples are (batch, k, length): views "
                         "use text_identity_views, encoders take one column at a time)")
    if ids.dtype != torch.int64:
        raise ValueError(f"{owner} expects int64 token ids; got {ids.dtype}")
    return ids


def with_token_ids(batch: Tensor | TokenBatch, ids: Tensor) -> Tensor | TokenBatch:
    """`ids` in the same container as `batch` (keeps a TokenBatch's feature cutoff)."""
    return batch.with_ids(ids) if isinstance(batch, TokenBatch) else ids


def lengths(ids: Tensor) -> Tensor:
    """(B,) number of non-pad positions per row (cut tokens count: they are attended)."""
    return (ids != PAD_ID).sum(dim=1)


def attention_mask(ids: Tensor) -> Tensor:
    """(B, L) bool, True on every position that is not padding."""
    return ids != PAD_ID


def trim_padding(ids: Tensor) -> Tensor:
    """Drop the columns that are padding in every row (dynamic padding)."""
    width = int(lengths(ids).max()) if len(ids) else 0
    return ids[:, :max(width, 1)]


def interior_mask(ids: Tensor) -> Tensor:
    """(B, L) bool, True on the positions views may change: not padding, not the frame."""
    positions = torch.arange(ids.shape[1], device=ids.device)[None, :]
    row_lengths = lengths(ids)[:, None]
    return (positions >= 1) & (positions < row_lengths - 1)


def pack(ids: Tensor, keep: Tensor, max_length: int | None = None) -> Tensor:
    """Rows of `ids` with only the `keep` positions, moved to the front in order, padded with
    PAD_ID at the end; as wide as the longest kept row (at most `max_length`, cutting the
    interior and keeping each row's last kept token, its SEP)."""
    if max_length is not None and max_length < 2:
        raise ValueError(f"max_length must be >= 2 (CLS and SEP), got {max_length}")
    kept = keep & (ids != PAD_ID)
    counts = kept.sum(dim=1)
    width = int(counts.max()) if len(ids) else 0
    order = torch.argsort((~kept).to(torch.int8), dim=1, stable=True)
    packed = ids.gather(1, order)[:, :max(width, 1)]
    positions = torch.arange(packed.shape[1], device=ids.device)[None, :]
    packed = torch.where(positions < counts[:, None], packed, torch.full_like(packed, PAD_ID))
    if max_length is not None and packed.shape[1] > max_length:
        last = packed.gather(1, (counts.clamp(max=packed.shape[1]) - 1).clamp(min=0)[:, None])
        packed = packed[:, :max_length].clone()
        too_long = counts > max_length
        packed[too_long, max_length - 1] = last[too_long, 0]
    return packed


def pad_to(ids: Tensor, width: int) -> Tensor:
    """`ids` right-padded with PAD_ID to `width` columns (unchanged when already as wide)."""
    if ids.shape[-1] >= width:
        return ids
    return torch.nn.functional.pad(ids, (0, width - ids.shape[-1]), value=PAD_ID)


def concat_ids(batches: list[Tensor]) -> Tensor:
    """Stack token-id tensors of different widths along the batch, padded to the widest, so
    several views go through the encoder in one call."""
    width = max(batch.shape[-1] for batch in batches)
    return torch.cat([pad_to(batch, width) for batch in batches])


@dataclass
class TokenDataset(ArrayDataset):
    """Tokenized text: ids (N, L), or (N, k, L) for pairs and triples. Batches are cut to their
    longest row (dynamic padding) and, with `bucket_by_length`, drawn from rows of similar
    length (the trainer reads `bucket_lengths`)."""

    bucket_by_length: bool = True
    variable_length: ClassVar[bool] = True

    @property
    def bucket_lengths(self) -> Tensor | None:
        if not self.bucket_by_length:
            return None
        return (self.x != PAD_ID).reshape(len(self.x), -1).sum(dim=1)

    def batch_x(self, indices: Tensor) -> Tensor:
        x = self.x[indices]
        used = (x != PAD_ID).reshape(-1, x.shape[-1]).any(dim=0)
        width = int(used.nonzero().max()) + 1 if bool(used.any()) else 1
        return x[..., :width]

    def count_tokens(self, x: Tensor) -> int:
        """Real (non-pad) tokens in a batch of this dataset: the trainer's tokens/s."""
        return int((x != PAD_ID).sum())

    def embed_with(self, encoder: torch.nn.Module, *, batch_size: int = 512,
                   device: torch.device | str | None = None) -> Tensor:
        """(N, D) embeddings, encoded shortest first (little padding per batch) and returned in
        the dataset's order; pairs and triples embed their first column."""
        from contrastlearn.evaluation.features import extract_embeddings

        ids = self.x[:, 0] if self.x.dim() == 3 else self.x
        order = torch.argsort(lengths(ids), stable=True)
        embeddings = extract_embeddings(encoder, ids[order], batch_size=batch_size,
                                        device=device)
        restored = torch.empty_like(embeddings)
        restored[order] = embeddings
        return restored
