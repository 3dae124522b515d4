"""WordNet 3.0's data files (Miller 1995, CACM 38(11); Debian `wordnet-base`), parsed once:
definitions, example sentences, lexicographer files and lemmas of every synset, for the built-in
datasets and for synonym views."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from contrastlearn.data.arrays import DataError

WORDNET_DIR = Path("/usr/share/wordnet")
WORDNET_INSTALL = "apt-get install wordnet-base"
WORDNET_PARTS = ("noun", "verb", "adj", "adv")
_ADJECTIVE_MARKER = re.compile(r"\((a|p|ip)\)$")


def wordnet_available(directory: str | Path = WORDNET_DIR) -> bool:
    """True when all four WordNet data files (noun, verb, adj, adv) are in `directory`."""
    return all((Path(directory) / f"data.{part}").is_file() for part in WORDNET_PARTS)


def _lemma(word: str) -> str:
    """A WordNet lemma as plain text: no adjective marker, lowercase, spaces for underscores."""
    return _ADJECTIVE_MARKER.sub("", word).lower().replace("_", " ")


def _synset_words(head: str, path: Path, number: int) -> tuple[str, ...]:
    """The single-word lemmas of a data line's head ``offset lex_filenum ss_type w_cnt word
    lex_id [word lex_id ...] p_cnt ...``, w_cnt two hex digits."""
    fields = head.split()
    try:
        count = int(fields[3], 16)
    except (IndexError, ValueError):
        raise DataError(f"{path} line {number}: not a WordNet 3.0 data line: "
                        f"{head[:80]!r}") from None
    if len(fields) < 4 + 2 * count:
        raise DataError(f"{path} line {number}: announces {count} words but has fewer fields")
    lemmas = (_lemma(word) for word in fields[4:4 + 2 * count:2])
    return tuple(word for word in lemmas if word and " " not in word)


LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
    "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather",
    "adj.ppl",
)
"""WordNet's lexicographer files, indexed by the file number of a synset (lexnames(5WN))."""

_EXAMPLES_START = re.compile(r'[;:,]\s*"')
_QUOTED = re.compile(r'"([^"]*)"')


@dataclass(frozen=True)
class WordNetSynsets:
    """Every synset of WordNet: its definition, example sentences, lexicographer file and its
    single-word lemmas (lowercase, adjective markers dropped)."""

    definitions: tuple[str, ...]
    examples: tuple[tuple[str, ...], ...]
    lexnames: tuple[int, ...]
    words: tuple[tuple[str, ...], ...]


def split_gloss(gloss: str) -> tuple[str, tuple[str, ...]]:
    """A WordNet gloss as (definition, example sentences): the examples are the double-quoted
    parts from the first quote that follows a ';', ':' or ',' on (attributions such as
    '- Shakespeare' are dropped); a gloss without one is all definition."""
    gloss = gloss.strip()
    start = _EXAMPLES_START.search(gloss)
    if start is None:
        return gloss.rstrip(";").strip(), ()
    definition = gloss[: start.start()].strip()
    examples = tuple(text.strip() for text in _QUOTED.findall(gloss[start.start():])
                     if text.strip())
    return definition, examples


@lru_cache(maxsize=2)
def parse_wordnet(directory: str = str(WORDNET_DIR)) -> WordNetSynsets:
    """The synsets of WordNet's `data.{noun,verb,adj,adv}` files (parsed once per directory)."""
    folder = Path(directory)
    missing = [part for part in WORDNET_PARTS if not (folder / f"data.{part}").is_file()]
    if missing:
        raise DataError(f"WordNet is not installed (no {folder}/data.{missing[0]}); install it "
                        f"with: {WORDNET_INSTALL}")
    definitions, examples, lexnames, words = [], [], [], []
    for part in WORDNET_PARTS:
        path = folder / f"data.{part}"
        with path.open(encoding="utf-8") as file:
            for line_number, line in enumerate(file, start=1):
                if line.startswith("  "):
                    continue  # the licence header
                head, bar, gloss = line.partition(" | ")
                fields = head.split(maxsplit=2)
                if not bar or len(fields) < 3 or not fields[1].isdigit():
                    raise DataError(f"{path} line {line_number}: not a WordNet 3.0 data line")
                lexname = int(fields[1])
                if lexname >= len(LEXNAMES):
                    raise DataError(f"{path} line {line_number}: unknown lexicographer file "
                                    f"{lexname}")
                definition, sentences = split_gloss(gloss)
                definitions.append(definition)
                examples.append(sentences)
                lexnames.append(lexname)
                words.append(_synset_words(head, path, line_number))
    return WordNetSynsets(tuple(definitions), tuple(examples), tuple(lexnames), tuple(words))


