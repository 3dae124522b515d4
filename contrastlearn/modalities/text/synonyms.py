"""WordNet synonyms mapped onto a tokenizer vocabulary, for EDA's synonym replacement and
insertion (Wei & Zou 2019, arXiv 1901.11196).

`read_wordnet_synonyms` parses the WordNet 3.0 data files that Debian's `wordnet-base`
installs; `SynonymTable` turns them into a (V, K) tensor of synonym token ids per token id, so
the views can look synonyms up batched on any device.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from contrastlearn.modalities.text.tokens import PAD_ID
from contrastlearn.modalities.text.wordnet import (
    WORDNET_DIR,
    parse_wordnet,
)

_SPECIAL_TOKEN = re.compile(r"^(\[.*\]|<.*>)$")


def read_wordnet_synonyms(root: Path = WORDNET_DIR) -> dict[str, set[str]]:
    """Map every single-word lemma to the other single-word lemmas it shares a synset with,
    over data.noun, data.verb, data.adj and data.adv (words without synonyms are left out; a
    missing file is a DataError naming it and the install command)."""
    synonyms: dict[str, set[str]] = {}
    for lemmas in parse_wordnet(str(root)).words:
        words = set(lemmas)
        for word in words:
            others = words - {word}
            if others:
                synonyms.setdefault(word, set()).update(others)
    return synonyms


def _is_whole_word(token: str) -> bool:
    return bool(token) and not token.startswith("##") and not _SPECIAL_TOKEN.match(token)


@dataclass(frozen=True, eq=False, repr=False)
class SynonymTable:
    """Synonyms per token id: `table` (V, K) int64 synonym ids padded with -1, `counts` (V,)
    how many of a row are real. Only whole-word tokens of a WordPiece vocabulary take part."""

    table: Tensor
    counts: Tensor

    def __post_init__(self) -> None:
        if self.table.dim() != 2 or self.counts.shape != self.table.shape[:1]:
            raise ValueError(f"SynonymTable needs table (V, K) and counts (V,); got "
                             f"{tuple(self.table.shape)} and {tuple(self.counts.shape)}")

    def __repr__(self) -> str:
        with_synonyms = int((self.counts > 0).sum())
        return f"SynonymTable({with_synonyms} of {self.vocab_size} tokens have synonyms)"

    @classmethod
    def from_vocabulary(
        cls, vocab: dict[str, int], synonyms: dict[str, set[str]], max_synonyms: int = 8,
    ) -> SynonymTable:
        """Keep, for each whole-word token (not a ``##`` continuation, not a ``[special]``
        token, not the pad id), its synonyms that are whole-word tokens too, lowest ids first
        (in WordPiece vocabularies the more frequent words), at most `max_synonyms`."""
        if max_synonyms < 1:
            raise ValueError(f"max_synonyms must be >= 1, got {max_synonyms}")
        if not vocab:
            raise ValueError("SynonymTable.from_vocabulary got an empty vocabulary")
        words = {token: index for token, index in vocab.items()
                 if _is_whole_word(token) and index != PAD_ID}
        size = max(vocab.values()) + 1
        table = torch.full((size, max_synonyms), -1, dtype=torch.int64)
        counts = torch.zeros(size, dtype=torch.int64)
        for token, index in words.items():
            found = {words[word] for word in synonyms.get(token.lower(), ()) if word in words}
            chosen = sorted(found - {index})[:max_synonyms]
            if chosen:
                table[index, :len(chosen)] = torch.tensor(chosen)
                counts[index] = len(chosen)
        return cls(table, counts)

    @classmethod
    def from_tokenizer(
        cls, tokenizer: Any, synonyms: dict[str, set[str]] | None = None,
        max_synonyms: int = 8,
    ) -> SynonymTable:
        """Build from a transformers or tokenizers object (anything with `get_vocab()`), with
        the system's WordNet synonyms unless `synonyms` is given."""
        if not hasattr(tokenizer, "get_vocab"):
            raise TypeError(f"SynonymTable.from_tokenizer needs an object with get_vocab(); got "
                            f"{type(tokenizer).__name__}")
        chosen = read_wordnet_synonyms() if synonyms is None else synonyms
        return cls.from_vocabulary(dict(tokenizer.get_vocab()), chosen, max_synonyms)

    @property
    def vocab_size(self) -> int:
        return self.table.shape[0]

    @property
    def device(self) -> torch.device:
        return self.table.device

    def to(self, device: torch.device | str) -> SynonymTable:
        return SynonymTable(self.table.to(device), self.counts.to(device))

    def synonym_counts(self, ids: Tensor) -> Tensor:
        """Number of synonyms of each id (0 for ids outside the vocabulary, like CUT_ID)."""
        inside = (ids >= 0) & (ids < self.vocab_size)
        return torch.where(inside, self.counts[ids.clamp(0, self.vocab_size - 1)], 0)

    def random_synonyms(self, ids: Tensor, generator: torch.Generator) -> Tensor:
        """A uniformly drawn synonym of every id (the id itself where it has none)."""
        counts = self.synonym_counts(ids)
        draws = torch.rand(ids.shape, generator=generator, device=ids.device)
        column = (draws * counts).long().clamp(max=self.table.shape[1] - 1)
        rows = ids.clamp(0, self.vocab_size - 1)
        return torch.where(counts > 0, self.table[rows, column], ids)
