"""Which tokens to keep when a method removes most of them (token removal as augmentation).

- `random_keep`: a uniform random subset per sample, the baseline of FLIP (Li et al., 2022,
  arXiv:2212.00794) and of Attentive Mask CLIP's ablations.
- `attentive_keep`: the top-scoring tokens per sample; Attentive Mask CLIP (Yang et al., 2023,
  arXiv:2212.08653) keeps the image tokens most related to the paired text, scored by an EMA
  copy of the image encoder, so the removed ones rarely carry what the caption describes.
  The paper keeps the top tokens only (no random tokens mixed in).
- `text_relevance`: one such score, the cosine of each patch feature with its paired text.

Every function returns sorted, unique int64 (B, K) indices with K = `kept_count(...)`, ready
for an encoder's `forward(x, keep=...)`. Nothing here knows a modality.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def kept_count(num_tokens: int, keep_ratio: float) -> int:
    """K = keep_ratio * num_tokens rounded half up, at least 1."""
    if not 0.0 < float(keep_ratio) <= 1.0:
        raise ValueError(f"keep_ratio must be in (0, 1]; got {keep_ratio!r}")
    if int(num_tokens) < 1:
        raise ValueError(f"num_tokens must be >= 1; got {num_tokens!r}")
    return max(1, int(float(keep_ratio) * int(num_tokens) + 0.5))


def random_keep(batch_size: int, num_tokens: int, keep_ratio: float,
                generator: torch.Generator | None = None,
                device: torch.device | str | None = None) -> Tensor:
    """(batch_size, K) sorted indices of a uniform random subset of tokens for each sample.

    Deterministic for a seeded `generator`; `device` defaults to the generator's (CPU without
    one), and a generator must live on the device it draws for.
    """
    count = kept_count(num_tokens, keep_ratio)
    if device is None:
        device = generator.device if generator is not None else "cpu"
    noise = torch.rand(int(batch_size), int(num_tokens), generator=generator, device=device)
    return noise.topk(count, dim=1).indices.sort(dim=1).values


def attentive_keep(scores: Tensor, keep_ratio: float) -> Tensor:
    """(B, K) sorted indices of the K highest `scores` (B, P) of each sample.

    Ties are broken by `torch.topk`; NaN scores rank as the highest, so score with finite
    values. The scores carry no gradient through the indices.
    """
    if scores.dim() != 2 or not scores.is_floating_point():
        raise ValueError(
            f"scores must be a floating (batch, num_tokens) tensor; got {scores.dtype} "
            f"{tuple(scores.shape)}"
        )
    count = kept_count(scores.shape[1], keep_ratio)
    return scores.detach().topk(count, dim=1).indices.sort(dim=1).values


def text_relevance(patch_tokens: Tensor, text_embeddings: Tensor,
                   projection: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """(B, P) cosine similarity of each patch feature with its own sample's text embedding.

    `patch_tokens` (B, P, D) are per-patch features (e.g. `patch_tokens(x)` of an EMA copy of
    the image encoder); `projection` maps them into the text's embedding space (the image
    projection head) when D differs from the text's dimension; `text_embeddings` is (B, E).
    """
    if patch_tokens.dim() != 3 or text_embeddings.dim() != 2:
        raise ValueError(
            "text_relevance needs patch_tokens (batch, patches, dim) and text_embeddings "
            f"(batch, dim); got {tuple(patch_tokens.shape)} and {tuple(text_embeddings.shape)}"
        )
    projected = patch_tokens if projection is None else projection(patch_tokens)
    if projected.shape[0] != text_embeddings.shape[0] or projected.shape[-1] != (
        text_embeddings.shape[-1]
    ):
        raise ValueError(
            f"(projected) patch features {tuple(projected.shape)} do not pair with text "
            f"embeddings {tuple(text_embeddings.shape)}: batch and last dim must match; pass "
            "the image projection head as `projection`"
        )
    patches = F.normalize(projected, dim=-1)
    texts = F.normalize(text_embeddings, dim=-1)
    return (patches @ texts.unsqueeze(-1)).squeeze(-1)
