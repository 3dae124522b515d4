"""Built-in text datasets, read offline from files a system package or gensim installs.

- `wordnet`, `wordnet_glosses`, `wordnet_pairs`, `wordnet_triples`: WordNet 3.0 (Miller
  1995, CACM 38(11); Debian `wordnet-base`). Synsets are split, seeded, into training synsets
  and up to `test_synsets` held-out synsets that have an example sentence. Training texts are
  glosses and example sentences (`wordnet`), glosses only (`wordnet_glosses`), (example, gloss)
  pairs (`wordnet_pairs`) or (example, gloss, another gloss of the same class) triples
  (`wordnet_triples`), labelled by lexicographer file (45 classes: noun.animal, verb.motion,
  ...).
  The test split holds the held-out glosses (a linear probe predicts their lexicographer file),
  and `extras["retrieval"]` asks each held-out example sentence to find its own synset's gloss
  among all held-out glosses. No held-out text appears in training.
- `pang_lee_polarity`: 200 movie-review sentences, positive or negative (Pang & Lee 2005,
  ACL; the sample gensim ships), stratified holdout.
- `lee_background`: 300 news documents, unlabelled (Lee, Pincombe & Welsh 2005, the corpus
  gensim ships); no test split.
- `fortunes`: the fortune-cookie files of Debian's `fortunes` package, one class per file,
  stratified holdout.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import DataError, DatasetSplits
from contrastlearn.modalities.text.data import (
    RetrievalSet,
    TextDataset,
    label_codes,
    read_text_lines,
    text_dataset_splits,
    text_splits,
)
from contrastlearn.modalities.text.wordnet import (
    LEXNAMES,
    WORDNET_DIR,
    WORDNET_INSTALL,
    WordNetSynsets,
    parse_wordnet,
    wordnet_available,
)

_OVERSTRIKE = re.compile("[^\x08]\x08")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
FORTUNES_DIR = Path("/usr/share/games/fortunes")
FORTUNES_INSTALL = "apt-get install fortunes"
GENSIM_INSTALL = "pip install gensim"

def _wordnet_available() -> tuple[bool, str]:
    ok = wordnet_available()
    return ok, "installed" if ok else f"install with: {WORDNET_INSTALL}"


TRAIN_TEXTS = ("glosses_and_examples", "glosses", "pairs", "triples")


def load_wordnet(
    holdout_fraction: float = 0.2, seed: int = 0, *, test_synsets: int = 2000,
    max_train_texts: int | None = 20000, train_texts: str = "glosses_and_examples",
    directory: str | Path = WORDNET_DIR,
) -> DatasetSplits:
    """WordNet split by synset (see the module docstring). `train_texts` is
    "glosses_and_examples" (one text per row; a gloss and its examples are different items),
    "glosses", "pairs" ((example, gloss) rows) or "triples" ((example, gloss, hard negative)
    rows: the hard negative is the gloss of another training synset of the same lexicographer
    class, drawn with the seed). At most `max_train_texts` training rows, a seeded sample (None
    keeps all). `holdout_fraction` is unused: the held-out part is `test_synsets` synsets."""
    if train_texts not in TRAIN_TEXTS:
        raise ValueError(f"unknown train_texts {train_texts!r}; use one of {TRAIN_TEXTS}")
    if test_synsets < 1:
        raise ValueError(f"test_synsets must be at least 1, got {test_synsets}")
    wordnet = parse_wordnet(str(directory))
    generator = torch.Generator().manual_seed(seed)
    held = _held_out_synsets(wordnet, test_synsets, generator)
    if not held:
        raise DataError(f"no WordNet synset in {directory} has an example sentence to hold out")
    held_texts = {text for index in held
                  for text in (wordnet.definitions[index], *wordnet.examples[index])}
    held_set = set(held)
    rows, labels = [], []
    for index, (definition, examples, lexname) in enumerate(
            zip(wordnet.definitions, wordnet.examples, wordnet.lexnames)):
        if index in held_set or not definition or definition in held_texts:
            continue
        if train_texts in ("pairs", "triples"):
            pairs = [(example, definition) for example in examples if example not in held_texts]
        else:
            pairs = [(definition,)]
            if train_texts == "glosses_and_examples":
                pairs += [(example,) for example in examples if example not in held_texts]
        rows += pairs
        labels += [lexname] * len(pairs)
    if train_texts == "triples":
        rows = _with_hard_negatives(rows, labels, generator)
    if max_train_texts is not None and len(rows) > max_train_texts:
        keep = torch.randperm(len(rows), generator=generator)[:max_train_texts].sort().values
        rows, labels = [rows[i] for i in keep.tolist()], [labels[i] for i in keep.tolist()]
    name = {"glosses_and_examples": "wordnet", "glosses": "wordnet_glosses",
            "pairs": "wordnet_pairs", "triples": "wordnet_triples"}[train_texts]
    train = TextDataset([list(column) for column in zip(*rows)], torch.tensor(labels), name=name)
    documents = [wordnet.definitions[index] for index in held]
    test = TextDataset([documents], torch.tensor([wordnet.lexnames[index] for index in held]),
                       torch.arange(len(held)) + int(train.ids.max()) + 1, name=name)
    queries = [(example, position) for position, index in enumerate(held)
               for example in wordnet.examples[index]]
    retrieval = RetrievalSet([query for query, _ in queries], documents,
                             torch.tensor([target for _, target in queries]))
    splits = text_dataset_splits(
        train, test, name=name, test_split=f"{len(held)}_synsets_seed{seed}",
        info={"num_classes": len(LEXNAMES), "classes": list(LEXNAMES),
              "source": f"WordNet 3.0 ({directory})", "num_queries": len(retrieval.queries),
              "num_documents": len(retrieval.documents)},
    )
    splits.extras["retrieval"] = retrieval
    return splits


def _with_hard_negatives(rows: list[tuple[str, str]], labels: list[int],
                         generator: torch.Generator) -> list[tuple[str, str, str]]:
    """(example, gloss) rows with a third text: the gloss of another row of the same class whose
    gloss differs (a random other synset of the same lexicographer file); rows of a class with
    a single gloss are dropped."""
    glosses_by_class: dict[int, list[str]] = {}
    for (_, gloss), label in zip(rows, labels):
        glosses = glosses_by_class.setdefault(label, [])
        if not glosses or glosses[-1] != gloss:
            glosses.append(gloss)
    triples = []
    draws = torch.rand(len(rows), generator=generator).tolist()
    for (example, gloss), label, draw in zip(rows, labels, draws):
        others = glosses_by_class[label]
        if len(others) < 2:
            continue
        negative = others[int(draw * len(others))]
        if negative == gloss:
            negative = others[(int(draw * len(others)) + 1) % len(others)]
        triples.append((example, gloss, negative))
    labels[:] = [label for (_, gloss), label in zip(rows, labels)
                 if len(glosses_by_class[label]) >= 2]
    return triples


def _held_out_synsets(wordnet: WordNetSynsets, count: int,
                      generator: torch.Generator) -> list[int]:
    """Up to `count` synsets, in a seeded random order, that have an example sentence and a
    definition no other held-out synset has (so each query has one right document)."""
    held, definitions = [], set()
    for index in torch.randperm(len(wordnet.definitions), generator=generator).tolist():
        if len(held) == count:
            break
        definition = wordnet.definitions[index]
        if wordnet.examples[index] and definition and definition not in definitions:
            held.append(index)
            definitions.add(definition)
    return held


def _register_wordnet(name: str, train_texts: str, what: str) -> None:
    def load(holdout_fraction: float = 0.2, seed: int = 0, test_synsets: int = 2000,
             max_train_texts: int | None = 20000) -> DatasetSplits:
        return load_wordnet(holdout_fraction, seed, test_synsets=test_synsets,
                            max_train_texts=max_train_texts, train_texts=train_texts)

    load.__doc__ = (f"WordNet 3.0 {what}, 45 lexicographer classes; held-out glosses and "
                    "example-to-gloss retrieval (system package wordnet-base).")
    load.available = _wordnet_available
    DATASETS.register(name, modality="text")(load)


_register_wordnet("wordnet", "glosses_and_examples", "glosses and example sentences")
_register_wordnet("wordnet_glosses", "glosses", "glosses")
_register_wordnet("wordnet_pairs", "pairs", "(example sentence, gloss) pairs")
_register_wordnet("wordnet_triples", "triples",
                  "(example sentence, gloss, gloss of another synset of the same class) triples")


def _gensim_file(name: str) -> Path:
    """A test corpus gensim ships (gensim.test.utils.datapath)."""
    try:
        from gensim.test.utils import datapath
    except ImportError:
        raise DataError(f"the {name} corpus ships with gensim; install it with: "
                        f"{GENSIM_INSTALL}") from None
    path = Path(datapath(name))
    if not path.is_file():
        raise DataError(f"gensim's test data {name} is missing ({path}); reinstall gensim")
    return path


def _gensim_available() -> tuple[bool, str]:
    try:
        import gensim  # noqa: F401
    except ImportError:
        return False, f"install with: {GENSIM_INSTALL}"
    return True, "ships with gensim"


@DATASETS.register("pang_lee_polarity", modality="text")
def load_pang_lee_polarity(holdout_fraction: float = 0.2, seed: int = 0) -> DatasetSplits:
    """Pang & Lee movie-review polarity: 200 sentences, negative or positive (gensim's sample)."""
    path = _gensim_file("pang_lee_polarity.cor")
    lines = read_text_lines(path, encoding="latin-1")
    texts, labels = [], []
    for row, line in enumerate(lines.texts):
        label, _, text = line.partition(" ")
        if not label.startswith("__label__") or not text.strip():
            raise DataError(f"{path} text line {row + 1}: expected '__label__<class> <text>'")
        labels.append(label.removeprefix("__label__"))
        texts.append(text.strip())
    codes, classes = label_codes(labels, str(path))
    dataset = TextDataset([texts], codes, name="pang_lee_polarity",
                          info={"source": str(path), "classes": classes})
    return text_splits(dataset, name="pang_lee_polarity", holdout_fraction=holdout_fraction,
                       seed=seed)


load_pang_lee_polarity.available = _gensim_available


@DATASETS.register("lee_background", modality="text")
def load_lee_background(holdout_fraction: float = 0.2, seed: int = 0) -> DatasetSplits:
    """Lee background corpus: 300 news documents, unlabelled (gensim's sample); no test split."""
    path = _gensim_file("lee_background.cor")
    dataset = replace(read_text_lines(path, encoding="latin-1"), name="lee_background")
    return text_splits(dataset, name="lee_background", holdout_fraction=holdout_fraction,
                       seed=seed)


load_lee_background.available = _gensim_available


def read_fortunes(path: Path) -> list[str]:
    """The entries of a fortune file (separated by lines holding only '%'), with overstrike
    (underline, backspaces) and control characters removed and whitespace collapsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read the fortune file {path}: {error}") from None
    while "\x08" in text and _OVERSTRIKE.search(text):
        text = _OVERSTRIKE.sub("", text)  # "___\b\b\bword": innermost pairs first
    entries = re.split(r"^%\r?$", _CONTROL.sub("", text), flags=re.MULTILINE)
    return [" ".join(entry.split()) for entry in entries if entry.strip()]


def fortune_categories(directory: Path = FORTUNES_DIR) -> list[str]:
    """The category files of a fortunes folder (not the .dat indexes, .u8 links or folders)."""
    if not directory.is_dir():
        return []
    return sorted(path.name for path in directory.iterdir()
                  if path.is_file() and path.suffix not in (".dat", ".u8"))


def _fortunes_available() -> tuple[bool, str]:
    ok = len(fortune_categories()) >= 2
    return ok, "installed" if ok else f"install with: {FORTUNES_INSTALL}"


@DATASETS.register("fortunes", modality="text")
def load_fortunes(holdout_fraction: float = 0.2, seed: int = 0,
                  categories: Sequence[str] | None = None) -> DatasetSplits:
    """Fortune cookies, one class per category file (Debian fortunes); stratified holdout."""
    available = fortune_categories(FORTUNES_DIR)
    if len(available) < 2:
        raise DataError(f"the fortunes categories are not installed in {FORTUNES_DIR}; install "
                        f"them with: {FORTUNES_INSTALL}")
    chosen = list(categories) if categories is not None else available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise DataError(f"unknown fortune categories {unknown}; available: {available}")
    texts, labels = [], []
    for label, category in enumerate(sorted(chosen)):
        entries = read_fortunes(FORTUNES_DIR / category)
        texts += entries
        labels += [label] * len(entries)
    dataset = TextDataset([texts], torch.tensor(labels), name="fortunes",
                          info={"source": str(FORTUNES_DIR), "classes": sorted(chosen)})
    return text_splits(dataset, name="fortunes", holdout_fraction=holdout_fraction, seed=seed)


load_fortunes.available = _fortunes_available
