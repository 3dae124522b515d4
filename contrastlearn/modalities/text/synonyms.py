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

from contrastlearn.data.arrays import DataError
from contrastlearn.modalities.text.tokens import PAD_ID

WORDNET_ROOT = Path("/usr/share/wordnet")
WORDNET_INSTALL = "apt-get install wordnet-base"
WORDNET_PARTS = ("noun", "verb", "adj", "adv")
_ADJECTIVE_MARKER = re.compile(r"\((a|p|ip)\)$")
_SPECIAL_TOKEN = re.compile(r"^(\[.*\]|<.*>)$")


def _data_files(root: Path) -> list[Path]:
    return [Path(root) / f"data.{part}" for part in WORDNET_PARTS]


def wordnet_available(root: Path = WORDNET_ROOT) -> bool:
    """True when all four WordNet data files (noun, verb, adj, adv) are under `root`."""
    return all(path.is_file() for path in _data_files(root))


def _lemma(word: str) -> str:
    """A WordNet lemma as plain text: no adjective marker, lowercase, spaces for underscores."""
    return _ADJECTIVE_MARKER.sub("", word).lower().replace("_", " ")


def _synset_words(line: str, path: Path, number: int) -> list[str]:
    """The single-word lemmas of one data line: ``offset lex_filenum ss_type w_cnt word lex_id
    [word lex_id ...] p_cnt ...`` with w_cnt two hex digits."""
    fields = line.split()
    try:
        count = int(fields[3], 16)
    except (IndexError, ValueError):
        raise DataError(f"{path}:{number} is not a WordNet 3.0 data line: {line[:80]!r}") from None
    if len(fields) < 4 + 2 * count:
        raise DataError(f"{path}:{number} announces {count} words but has fewer fields")
    words = (_lemma(word) for word in fields[4:4 + 2 * count:2])
    return [word for word in words if word and " " not in word]


def read_wordnet_synonyms(root: Path = WORDNET_ROOT) -> dict[str, set[str]]:
    """Map every single-word lemma to the other single-word lemmas it shares a synset with,
    over data.noun, data.verb, data.adj and data.adv (words without synonyms are left out)."""
    missing = [str(path) for path in _data_files(root) if not path.is_file()]
    if missing:
        raise DataError(f"WordNet data files not found: {', '.join(missing)}. Install them with "
                        f"`{WORDNET_INSTALL}` or pass the folder that holds data.noun etc.")
    synonyms: dict[str, set[str]] = {}
    for path in _data_files(root):
        with path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                if line.startswith("  ") or not line.strip():
                    continue  # the license header
                words = set(_synset_words(line, path, number))
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
