"""Text views: batched torch ops on (B, L) int64 token ids with per-sentence random parameters.

Every op follows the token contract of `text.tokens`: it only changes the interior of a row
(never its CLS, its SEP or the padding), re-packs rows whose length changes, takes a plain
tensor or a `TokenBatch` and returns the same kind, is the identity at ratio 0 (the very same
tensor) and gives the same views for the same generator state.

The ops are ESimCSE's word repetition (Wu et al. 2021, arXiv 2109.04380), EDA's deletion,
swap, insertion and synonym replacement (Wei & Zou 2019, arXiv 1901.11196) and the token,
span and feature cutoffs of Shen et al. (2020, arXiv 2009.13818).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from contrastlearn.augment.base import Augmentation, Compose, Identity
from contrastlearn.augment.views import Views
from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.text.synonyms import SynonymTable
from contrastlearn.modalities.text.tokens import (
    CUT_ID,
    PAD_ID,
    TokenBatch,
    check_tokens,
    interior_mask,
    pack,
    with_token_ids,
)

CUTOFF_KINDS = ("token", "span", "feature")
_SEED_RANGE = 2**62


def _check_ratio(value: float, name: str, owner: str) -> float:
    if not 0 <= value <= 1:
        raise ValueError(f"{owner} {name} must be in [0, 1], got {value}")
    return float(value)


def _check_max_length(max_length: int | None, owner: str) -> int | None:
    if max_length is not None and int(max_length) < 2:
        raise ValueError(f"{owner} max_length must be >= 2 (room for CLS and SEP) or None, "
                         f"got {max_length}")
    return None if max_length is None else int(max_length)


def _edit_count(ratio: float, sizes: Tensor) -> Tensor:
    """EDA's number of edits per sentence: max(1, round(ratio * n)), 0 where n is 0."""
    count = torch.round(ratio * sizes.to(torch.float64)).long().clamp(min=1)
    return torch.where(sizes > 0, count, 0)


def _table_on(table: SynonymTable, device: torch.device) -> SynonymTable:
    return table if table.device == device else table.to(device)


def choose_without_replacement(mask: Tensor, count: Tensor, generator: torch.Generator) -> Tensor:
    """(B, L) bool: min(count, available) positions per row, drawn uniformly from `mask`."""
    scores = torch.rand(mask.shape, generator=generator, device=mask.device)
    scores = scores.masked_fill(~mask, 2.0)
    rank = scores.argsort(dim=1).argsort(dim=1)
    return mask & (rank < count[:, None])


def choose_with_replacement(mask: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """(B, count) positions drawn uniformly, with replacement, from each row's `mask`
    (position 0 for rows with an empty mask)."""
    available = mask.sum(dim=1, keepdim=True)
    draws = torch.rand((mask.shape[0], count), generator=generator, device=mask.device)
    nth = (draws * available).long().clamp(max=(available - 1).clamp(min=0)) + 1
    positions = torch.searchsorted(mask.long().cumsum(dim=1), nth)
    return torch.where(available > 0, positions, 0)


@AUGMENTATIONS.register("word_repetition")
class WordRepetition(Augmentation):
    """ESimCSE's word repetition: per sentence draw dup_len uniformly in
    [0, max(2, int(dup_rate * n))] (at most n, the interior length), pick that many interior
    tokens without replacement and follow each with a copy of itself. Rows widen; with
    `max_length` they are cut to it, keeping the SEP. ``dup_rate=0`` is the identity."""

    def __init__(self, dup_rate: float = 0.32, max_length: int | None = None) -> None:
        self.dup_rate = _check_ratio(dup_rate, "dup_rate", "WordRepetition")
        self.max_length = _check_max_length(max_length, "WordRepetition")

    def apply(self, x: Tensor | TokenBatch, generator: torch.Generator) -> Tensor | TokenBatch:
        ids = check_tokens(x, "WordRepetition")
        if self.dup_rate == 0:
            return x
        interior = interior_mask(ids)
        sizes = interior.sum(dim=1)
        highest = torch.floor(self.dup_rate * sizes.to(torch.float64)).long().clamp(min=2)
        draws = torch.rand(ids.shape[0], generator=generator, device=ids.device)
        dup_len = torch.minimum((draws * (highest + 1)).long(), sizes)
        repeated = choose_without_replacement(interior, dup_len, generator)
        doubled = ids.repeat_interleave(2, dim=1)
        keep = torch.stack([ids != PAD_ID, repeated], dim=2).flatten(1)
        return with_token_ids(x, pack(doubled, keep, self.max_length))


@AUGMENTATIONS.register("random_deletion")
class RandomDeletion(Augmentation):
    """EDA's random deletion: drop each interior token with probability `p`, but keep one
    (chosen at random) when a sentence would lose all of them. ``p=0`` is the identity."""

    def __init__(self, p: float = 0.1) -> None:
        self.p = _check_ratio(p, "p", "RandomDeletion")

    def apply(self, x: Tensor | TokenBatch, generator: torch.Generator) -> Tensor | TokenBatch:
        ids = check_tokens(x, "RandomDeletion")
        if self.p == 0:
            return x
        interior = interior_mask(ids)
        dropped = interior & (torch.rand(ids.shape, generator=generator, device=ids.device)
                              < self.p)
        survivor = choose_without_replacement(interior, torch.ones_like(ids[:, 0]), generator)
        emptied = (interior & ~dropped).sum(dim=1) == 0
        dropped = dropped & ~(survivor & emptied[:, None])
        return with_token_ids(x, pack(ids, ~dropped))


@AUGMENTATIONS.register("random_swap")
class RandomSwap(Augmentation):
    """EDA's random swap: swap max(1, round(`ratio` * n)) random pairs of distinct interior
    positions, one after the other (sentences with fewer than two interior tokens stay as
    they are). ``ratio=0`` is the identity."""

    def __init__(self, ratio: float = 0.1) -> None:
        self.ratio = _check_ratio(ratio, "ratio", "RandomSwap")

    def apply(self, x: Tensor | TokenBatch, generator: torch.Generator) -> Tensor | TokenBatch:
        ids = check_tokens(x, "RandomSwap")
        if self.ratio == 0:
            return x
        sizes = interior_mask(ids).sum(dim=1)
        swaps = torch.where(sizes >= 2, _edit_count(self.ratio, sizes), 0)
        steps = int(swaps.max()) if len(ids) else 0
        if steps == 0:
            return x
        shape = (ids.shape[0], steps)
        first = (torch.rand(shape, generator=generator, device=ids.device)
                 * sizes[:, None]).long()
        offset = 1 + (torch.rand(shape, generator=generator, device=ids.device)
                      * (sizes[:, None] - 1)).long()
        second = (first + offset) % sizes.clamp(min=1)[:, None]
        active = torch.arange(steps, device=ids.device)[None, :] < swaps[:, None]
        first = torch.where(active, first + 1, 0)
        second = torch.where(active, second + 1, 0)
        out = ids.clone()
        for step in range(steps):
            left, right = first[:, step:step + 1], second[:, step:step + 1]
            left_token, right_token = out.gather(1, left), out.gather(1, right)
            out.scatter_(1, left, right_token)
            out.scatter_(1, right, left_token)
        return with_token_ids(x, out)


@AUGMENTATIONS.register("random_insertion")
class RandomInsertion(Augmentation):
    """EDA's random insertion: insert max(1, round(`ratio` * n)) tokens at random interior
    gaps (between CLS and SEP). Each is a copy of a random interior token of the sentence or,
    with a `SynonymTable`, a synonym of a random interior token that has one (a copy when
    none has). Rows widen; with `max_length` they are cut to it, keeping the SEP.
    ``ratio=0`` is the identity."""

    def __init__(
        self, ratio: float = 0.1, synonyms: SynonymTable | None = None,
        max_length: int | None = None,
    ) -> None:
        self.ratio = _check_ratio(ratio, "ratio", "RandomInsertion")
        if synonyms is not None and not isinstance(synonyms, SynonymTable):
            raise TypeError(f"RandomInsertion synonyms must be a SynonymTable or None; got "
                            f"{type(synonyms).__name__}")
        self.synonyms = synonyms
        self.max_length = _check_max_length(max_length, "RandomInsertion")

    def _new_tokens(self, ids: Tensor, interior: Tensor, count: int,
                    generator: torch.Generator) -> Tensor:
        """(B, count) tokens to insert: copies, or synonyms where the table has some."""
        if self.synonyms is None:
            sources = choose_with_replacement(interior, count, generator)
            return ids.gather(1, sources)
        self.synonyms = table = _table_on(self.synonyms, ids.device)
        has_synonym = interior & (table.synonym_counts(ids) > 0)
        use_synonyms = has_synonym.any(dim=1, keepdim=True)
        sources = choose_with_replacement(torch.where(use_synonyms, has_synonym, interior),
                                          count, generator)
        copies = ids.gather(1, sources)
        return torch.where(use_synonyms, table.random_synonyms(copies, generator), copies)

    def apply(self, x: Tensor | TokenBatch, generator: torch.Generator) -> Tensor | TokenBatch:
        ids = check_tokens(x, "RandomInsertion")
        if self.ratio == 0:
            return x
        interior = interior_mask(ids)
        sizes = interior.sum(dim=1)
        inserts = _edit_count(self.ratio, sizes)
        count = int(inserts.max()) if len(ids) else 0
        if count == 0:
            return x
        batch, width = ids.shape
        tokens = self._new_tokens(ids, interior, count, generator)
        gaps = 1 + (torch.rand((batch, count), generator=generator, device=ids.device)
                    * (sizes + 1)[:, None]).long().clamp(max=sizes[:, None])
        active = torch.arange(count, device=ids.device)[None, :] < inserts[:, None]
        tokens = torch.where(active, tokens, PAD_ID)
        # original position p sorts at 2p, a token inserted before position g at 2g - 1
        keys = torch.cat([2 * torch.arange(width, device=ids.device).expand(batch, -1),
                          2 * gaps - 1], dim=1)
        order = keys.argsort(dim=1, stable=True)
        merged = torch.cat([ids, tokens], dim=1).gather(1, order)
        return with_token_ids(x, pack(merged, merged != PAD_ID, self.max_length))


@AUGMENTATIONS.register("synonym_replacement")
class SynonymReplacement(Augmentation):
    """EDA's synonym replacement: replace up to max(1, round(`ratio` * n)) distinct interior
    tokens that have synonyms by a random synonym from `table`. ``ratio=0`` is the identity."""

    def __init__(self, table: SynonymTable, ratio: float = 0.1) -> None:
        if not isinstance(table, SynonymTable):
            raise TypeError(f"SynonymReplacement needs a SynonymTable (see "
                            f"SynonymTable.from_tokenizer); got {type(table).__name__}")
        self.table = table
        self.ratio = _check_ratio(ratio, "ratio", "SynonymReplacement")

    def apply(self, x: Tensor | TokenBatch, generator: torch.Generator) -> Tensor | TokenBatch:
        ids = check_tokens(x, "SynonymReplacement")
        if self.ratio == 0:
            return x
        self.table = table = _table_on(self.table, ids.device)
        interior = interior_mask(ids)
        candidates = interior & (table.synonym_counts(ids) > 0)
        chosen = choose_without_replacement(
            candidates, _edit_count(self.ratio, interior.sum(dim=1)), generator)
        replaced = torch.where(chosen, table.random_synonyms(ids, generator), ids)
        return with_token_ids(x, replaced)


@AUGMENTATIONS.register("token_cutoff")
class TokenCutoff(Augmentation):
    """Token cutoff: set round(`ratio` * n) distinct random interior tokens of each sentence to
    CUT_ID (embedding zeroed, still attended). ``ratio=0`` is the identity."""

    def __init__(self, ratio: float = 0.1) -> None:
        self.ratio = _check_ratio(ratio, "ratio", "TokenCutoff")

    def apply(self, x: Tensor | TokenBatch, generator: torch.Generator) -> Tensor | TokenBatch:
        ids = check_tokens(x, "TokenCutoff")
        if self.ratio == 0:
            return x
        interior = interior_mask(ids)
        count = torch.round(self.ratio * interior.sum(dim=1).to(torch.float64)).long()
        cut = choose_without_replacement(interior, count, generator)
        return with_token_ids(x, ids.masked_fill(cut, CUT_ID))


@AUGMENTATIONS.register("span_cutoff")
class SpanCutoff(Augmentation):
    """Span cutoff: set one contiguous interior span of round(`ratio` * n) tokens, at a
    random start, to CUT_ID. ``ratio=0`` is the identity."""

    def __init__(self, ratio: float = 0.1) -> None:
        self.ratio = _check_ratio(ratio, "ratio", "SpanCutoff")

    def apply(self, x: Tensor | TokenBatch, generator: torch.Generator) -> Tensor | TokenBatch:
        ids = check_tokens(x, "SpanCutoff")
        if self.ratio == 0:
            return x
        sizes = interior_mask(ids).sum(dim=1)
        span = torch.round(self.ratio * sizes.to(torch.float64)).long()
        draws = torch.rand(ids.shape[0], generator=generator, device=ids.device)
        start = 1 + (draws * (sizes - span + 1)).long().clamp(max=sizes - span)
        positions = torch.arange(ids.shape[1], device=ids.device)[None, :]
        cut = (positions >= start[:, None]) & (positions < (start + span)[:, None])
        return with_token_ids(x, ids.masked_fill(cut, CUT_ID))


@AUGMENTATIONS.register("feature_cutoff")
class FeatureCutoff(Augmentation):
    """Feature cutoff: ask the encoder to zero a fraction `ratio` of the embedding dimensions
    of each sentence. Returns a `TokenBatch` carrying the ratio and a seed drawn from the
    generator (the encoder draws the mask, see `TokenBatch.feature_keep`). ``ratio=0`` is the
    identity."""

    def __init__(self, ratio: float = 0.1) -> None:
        self.ratio = _check_ratio(ratio, "ratio", "FeatureCutoff")

    def apply(self, x: Tensor | TokenBatch, generator: torch.Generator) -> Tensor | TokenBatch:
        ids = check_tokens(x, "FeatureCutoff")
        if self.ratio == 0:
            return x
        seed = int(torch.randint(0, _SEED_RANGE, (1,), generator=generator, device=ids.device))
        batch = x if isinstance(x, TokenBatch) else TokenBatch(ids)
        return replace(batch, feature_cutoff=self.ratio, feature_seed=seed)


@AUGMENTATIONS.register("simcse_views")
def simcse_views() -> Views:
    """SimCSE (Gao et al. 2021, arXiv 2104.08821): the same sentences twice; the encoder's
    dropout makes the two views differ."""
    return Views([Identity(), Identity()])


@AUGMENTATIONS.register("esimcse_views")
def esimcse_views(dup_rate: float = 0.32, max_length: int | None = None) -> Views:
    """ESimCSE (Wu et al. 2021, arXiv 2109.04380): the sentences, and the sentences with word
    repetition, so the two views differ in length and length stops being a shortcut."""
    if not 0 <= dup_rate <= 1:
        raise ValueError(f"esimcse_views dup_rate must be in [0, 1], got {dup_rate}")
    return Views([Identity(), WordRepetition(dup_rate, max_length)])


@AUGMENTATIONS.register("eda_views")
def eda_views(
    strength: float = 1.0, synonyms: SynonymTable | str | None = None,
    max_length: int | None = None, tokenizer: Any = None,
) -> Views:
    """Two EDA views (Wei & Zou 2019, arXiv 1901.11196). EDA applies one operation per
    sentence; batched, each view applies them all in EDA's order -- synonym replacement (when
    synonyms are given), insertion, swap, deletion -- each at ratio 0.1 * `strength`
    (0 = identity, at most 10). `synonyms` is a `SynonymTable`, or "wordnet" for the system's
    WordNet mapped onto `tokenizer`'s vocabulary (a recipe gets the encoder's tokenizer)."""
    if not 0 <= strength <= 10:
        raise ValueError(f"eda_views strength must be in [0, 10] (ratio 0.1 * strength), got "
                         f"{strength}")
    if synonyms == "wordnet":
        if tokenizer is None:
            raise ValueError("eda_views synonyms='wordnet' needs the tokenizer whose vocabulary "
                             "the synonyms map onto")
        synonyms = SynonymTable.from_tokenizer(tokenizer)
    if synonyms is not None and not isinstance(synonyms, SynonymTable):
        raise TypeError(f"eda_views synonyms must be a SynonymTable, 'wordnet' or None; got "
                        f"{synonyms!r}")
    ratio = 0.1 * float(strength)
    steps: list[Augmentation] = [] if synonyms is None else [SynonymReplacement(synonyms, ratio)]
    steps += [RandomInsertion(ratio, synonyms, max_length), RandomSwap(ratio),
              RandomDeletion(ratio)]
    pipeline = Compose(steps)
    return Views([pipeline, pipeline])


@AUGMENTATIONS.register("deletion_views")
def deletion_views(p: float = 0.5) -> Views:
    """Two views that each keep a random part of the words (each interior token deleted with
    probability `p`; 0 = identity). With p near 0.5 the two views share few words, so the
    encoder must map different words of one sentence to one point: co-occurrence is what it
    learns, which dropout-only views cannot teach a model trained from scratch."""
    if not 0 <= p < 1:
        raise ValueError(f"deletion_views p must be in [0, 1), got {p}")
    deletion = RandomDeletion(p)
    return Views([deletion, deletion])


@AUGMENTATIONS.register("cutoff_views")
def cutoff_views(kind: str = "token", ratio: float = 0.1) -> Views:
    """Cutoff (Shen et al. 2020, arXiv 2009.13818): the sentences, and the sentences with a
    token, span or feature cutoff of `ratio`."""
    cutoffs = {"token": TokenCutoff, "span": SpanCutoff, "feature": FeatureCutoff}
    if kind not in cutoffs:
        raise ValueError(f"cutoff_views kind must be one of {', '.join(CUTOFF_KINDS)}; "
                         f"got {kind!r}")
    if not 0 <= ratio <= 1:
        raise ValueError(f"cutoff_views ratio must be in [0, 1], got {ratio}")
    return Views([Identity(), cutoffs[kind](ratio)])


@AUGMENTATIONS.register("text_identity_views")
def text_identity_views() -> Views:
    """One view: the batch itself, of any shape (pair and triple data (B, k, L) bring their
    own positives)."""
    return Views([Identity()])
