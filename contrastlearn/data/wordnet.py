"""WordNet 3.0's data files (Miller 1995, CACM 38(11); Debian `wordnet-base`): every synset
parsed once (definitions, example sentences, lexicographer files, lemmas), or the few synsets
of one lemma looked up through the index file. Shared by the rooms that read WordNet (text
datasets and synonym views, multimodal captions), so each reads it the same way."""

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


def _synset_lemmas(head: str, path: Path, where: str) -> tuple[str, ...]:
    """Every lemma of a data line's head ``offset lex_filenum ss_type w_cnt word lex_id
    [word lex_id ...] p_cnt ...``, w_cnt two hex digits; `where` ("line 12") places errors."""
    fields = head.split()
    try:
        count = int(fields[3], 16)
    except (IndexError, ValueError):
        raise DataError(f"{path} {where}: not a WordNet 3.0 data line: "
                        f"{head[:80]!r}") from None
    if len(fields) < 4 + 2 * count:
        raise DataError(f"{path} {where}: announces {count} words but has fewer fields")
    return tuple(lemma for lemma in map(_lemma, fields[4:4 + 2 * count:2]) if lemma)


def _single_words(lemmas: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(lemma for lemma in lemmas if " " not in lemma)


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


@dataclass(frozen=True)
class Synset:
    """One synset of a looked-up lemma: all its lemmas (lowercase, multi-word ones with
    spaces), definition, example sentences and lexicographer file name ("noun.artifact")."""

    lemmas: tuple[str, ...]
    definition: str
    examples: tuple[str, ...]
    lexname: str


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


def _data_line(line: str, path: Path, where: str) -> tuple[str, int, str]:
    """(head, lexicographer file number, gloss) of one line of a data file."""
    head, bar, gloss = line.partition(" | ")
    fields = head.split(maxsplit=2)
    if not bar or len(fields) < 3 or not fields[1].isdigit():
        raise DataError(f"{path} {where}: not a WordNet 3.0 data line")
    lexname = int(fields[1])
    if lexname >= len(LEXNAMES):
        raise DataError(f"{path} {where}: unknown lexicographer file {lexname}")
    return head, lexname, gloss


def _require_wordnet(folder: Path) -> None:
    missing = [part for part in WORDNET_PARTS if not (folder / f"data.{part}").is_file()]
    if missing:
        raise DataError(f"WordNet is not installed (no {folder}/data.{missing[0]}); install it "
                        f"with: {WORDNET_INSTALL}")


@lru_cache(maxsize=2)
def parse_wordnet(directory: str = str(WORDNET_DIR)) -> WordNetSynsets:
    """The synsets of WordNet's `data.{noun,verb,adj,adv}` files (parsed once per directory)."""
    folder = Path(directory)
    _require_wordnet(folder)
    definitions, examples, lexnames, words = [], [], [], []
    for part in WORDNET_PARTS:
        path = folder / f"data.{part}"
        with path.open(encoding="utf-8") as file:
            for line_number, line in enumerate(file, start=1):
                if line.startswith("  "):
                    continue  # the licence header
                where = f"line {line_number}"
                head, lexname, gloss = _data_line(line, path, where)
                definition, sentences = split_gloss(gloss)
                definitions.append(definition)
                examples.append(sentences)
                lexnames.append(lexname)
                words.append(_single_words(_synset_lemmas(head, path, where)))
    return WordNetSynsets(tuple(definitions), tuple(examples), tuple(lexnames), tuple(words))


def _synset_offsets(lemma: str, index_path: Path) -> list[int]:
    """The synset offsets that `index.<part>` lists for `lemma`, most frequent sense first:
    the last synset_cnt fields of ``lemma pos synset_cnt p_cnt [ptr...] sense_cnt
    tagsense_cnt offset...``."""
    key = lemma.strip().lower().replace(" ", "_") + " "
    with index_path.open(encoding="utf-8") as file:
        for line in file:
            if line.startswith(key):
                fields = line.split()
                try:
                    count = int(fields[2])
                    return [int(offset) for offset in fields[len(fields) - count:]]
                except (IndexError, ValueError):
                    raise DataError(f"{index_path}: not a WordNet 3.0 index line: "
                                    f"{line[:80]!r}") from None
    return []


def lookup_synsets(lemma: str, part: str = "noun",
                   directory: str | Path = WORDNET_DIR) -> list[Synset]:
    """The `part` synsets of `lemma` ("ankle boot" or "ankle_boot"), most frequent sense
    first, read through `index.<part>` and the byte offsets into `data.<part>` it lists,
    without parsing the whole data file; an unknown lemma has none."""
    if part not in WORDNET_PARTS:
        raise DataError(f"unknown WordNet part of speech {part!r}; use one of {WORDNET_PARTS}")
    folder = Path(directory)
    _require_wordnet(folder)
    data_path = folder / f"data.{part}"
    synsets = []
    with data_path.open("rb") as file:
        for offset in _synset_offsets(lemma, folder / f"index.{part}"):
            file.seek(offset)
            where = f"offset {offset:08d}"
            line = file.readline().decode("utf-8")
            if not line.startswith(f"{offset:08d} "):
                raise DataError(f"{data_path} {where}: no synset starts there; the index and "
                                f"data files do not match (reinstall with: {WORDNET_INSTALL})")
            head, lexname, gloss = _data_line(line, data_path, where)
            definition, examples = split_gloss(gloss)
            synsets.append(Synset(_synset_lemmas(head, data_path, where), definition, examples,
                                  LEXNAMES[lexname]))
    return synsets
