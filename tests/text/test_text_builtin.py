"""Built-in text datasets: WordNet glosses/examples with retrieval, gensim's corpora, fortunes."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import DataError
from contrastlearn.data.resolve import resolve_dataset
from contrastlearn.modalities.text import builtin
from contrastlearn.modalities.text.builtin import (
    FORTUNES_DIR,
    fortune_categories,
    load_wordnet,
    read_fortunes,
)
from contrastlearn.modalities.text.data import RetrievalSet, TextDataset
from contrastlearn.modalities.text.wordnet import (
    LEXNAMES,
    WORDNET_INSTALL,
    parse_wordnet,
    split_gloss,
)
from tests.conftest import require_system_data

LICENCE = "  1 This software and database is being provided\n  2 Princeton University\n"


def write_fake_wordnet(folder, synsets_by_part):
    """data.<part> files of (lexfile, gloss) synsets, in the WordNet 3.0 line format."""
    folder.mkdir()
    for part in ("noun", "verb", "adj", "adv"):
        lines = [f"{1000 + i:08d} {lexfile:02d} n 01 word{i} 0 000 | {gloss}  \n"
                 for i, (lexfile, gloss) in enumerate(synsets_by_part.get(part, []))]
        (folder / f"data.{part}").write_text(LICENCE + "".join(lines), encoding="utf-8")
    return folder


FAKE_SYNSETS = {
    "noun": [(5, 'a dog; "the dog barked"; "a dog ran"'), (5, "a cat"),
             (13, 'bread; "she ate bread"'), (3, 'entity; "it exists"')],
    "verb": [(38, 'run fast; "he runs"'), (29, "breathe")],
}


@pytest.fixture
def fake_wordnet(tmp_path):
    return write_fake_wordnet(tmp_path / "wordnet", FAKE_SYNSETS)


# --- gloss parsing ------------------------------------------------------------------------

@pytest.mark.parametrize(("gloss", "definition", "examples"), [
    ('draw air into the lungs; "I can breathe"; "The patient is respiring"  ',
     "draw air into the lungs", ("I can breathe", "The patient is respiring")),
    ("a projection out from one end", "a projection out from one end", ()),
    ('complete change; "the permutations of the world"- Henry Miller',
     "complete change", ("the permutations of the world",)),
    ('the act of putting: "he sent Smith in"', "the act of putting", ("he sent Smith in",)),
    ('a workplace; as in the expression "on the job";',
     'a workplace; as in the expression "on the job"', ()),
    ("give a reply to; respond favorably to;", "give a reply to; respond favorably to", ()),
])
def test_split_gloss(gloss, definition, examples):
    assert split_gloss(gloss) == (definition, examples)


def test_parse_wordnet_reads_every_part_and_skips_the_licence(fake_wordnet):
    wordnet = parse_wordnet(str(fake_wordnet))
    assert wordnet.definitions == ("a dog", "a cat", "bread", "entity", "run fast", "breathe")
    assert wordnet.examples[0] == ("the dog barked", "a dog ran") and wordnet.examples[1] == ()
    assert wordnet.lexnames == (5, 5, 13, 3, 38, 29)
    assert parse_wordnet(str(fake_wordnet)) is wordnet  # cached


def test_parse_wordnet_rejects_malformed_lines(tmp_path):
    folder = write_fake_wordnet(tmp_path / "wn", {})
    (folder / "data.adv").write_text("00001 xx r no gloss here\n", encoding="utf-8")
    with pytest.raises(DataError, match="data.adv line 1: not a WordNet 3.0 data line"):
        parse_wordnet(str(folder))


def test_missing_wordnet_names_the_install_command(tmp_path):
    with pytest.raises(DataError, match="apt-get install wordnet-base"):
        load_wordnet(directory=tmp_path / "absent")


def test_lexnames_are_the_45_lexicographer_files():
    assert len(LEXNAMES) == 45 and LEXNAMES[5] == "noun.animal" and LEXNAMES[44] == "adj.ppl"
    assert LEXNAMES[29] == "verb.body" and LEXNAMES[43] == "verb.weather"


# --- WordNet splits on the fake data ------------------------------------------------------

def test_fake_wordnet_split_retrieval_and_no_leakage(fake_wordnet):
    splits = load_wordnet(seed=0, test_synsets=2, directory=fake_wordnet)
    wordnet = parse_wordnet(str(fake_wordnet))
    assert splits.modality == "text" and len(splits.test) == 2
    held = [wordnet.definitions.index(text) for text in splits.test.texts]
    assert all(wordnet.examples[index] for index in held)
    assert splits.test.y.tolist() == [wordnet.lexnames[index] for index in held]
    retrieval = splits.extras["retrieval"]
    assert isinstance(retrieval, RetrievalSet) and retrieval.documents == splits.test.texts
    expected = [(example, position) for position, index in enumerate(held)
                for example in wordnet.examples[index]]
    assert list(zip(retrieval.queries, retrieval.query_targets.tolist())) == expected
    held_texts = set(splits.test.texts) | set(retrieval.queries)
    assert held_texts.isdisjoint(splits.train.texts)
    train_synsets = [i for i in range(len(wordnet.definitions)) if i not in held]
    expected_train = [text for i in train_synsets
                      for text in (wordnet.definitions[i], *wordnet.examples[i])]
    assert splits.train.texts == expected_train
    assert set(splits.train.ids.tolist()).isdisjoint(splits.test.ids.tolist())
    assert splits.info["num_classes"] == 45 and splits.info["num_queries"] == len(expected)


def test_fake_wordnet_glosses_and_pairs(fake_wordnet):
    glosses = load_wordnet(seed=1, test_synsets=1, train_texts="glosses", directory=fake_wordnet)
    assert len(glosses.train) == 5 and glosses.train.num_columns == 1
    pairs = load_wordnet(seed=1, test_synsets=1, train_texts="pairs", directory=fake_wordnet)
    train = pairs.train
    assert train.num_columns == 2 and all(a != b for a, b in zip(*train.columns))
    wordnet = parse_wordnet(str(fake_wordnet))
    for example, gloss in zip(*train.columns):
        assert example in wordnet.examples[wordnet.definitions.index(gloss)]
    if "a dog" in train.columns[1]:
        dog_rows = [i for i, gloss in enumerate(train.columns[1]) if gloss == "a dog"]
        assert len(dog_rows) == 2 and train.ids[dog_rows[0]] == train.ids[dog_rows[1]]


def test_fake_wordnet_is_seeded_and_capped(fake_wordnet):
    first = load_wordnet(seed=2, test_synsets=1, max_train_texts=3, directory=fake_wordnet)
    again = load_wordnet(seed=2, test_synsets=1, max_train_texts=3, directory=fake_wordnet)
    assert len(first.train) == 3 and first.train.texts == again.train.texts
    assert first.test.texts == again.test.texts
    tests = {tuple(load_wordnet(seed=s, test_synsets=1, directory=fake_wordnet).test.texts)
             for s in range(8)}
    assert len(tests) > 1


def test_wordnet_without_examples_cannot_hold_out(tmp_path):
    folder = write_fake_wordnet(tmp_path / "plain", {"noun": [(5, "a dog"), (5, "a cat")]})
    with pytest.raises(DataError, match="no WordNet synset .* has an example sentence"):
        load_wordnet(directory=folder)


def test_wordnet_options_are_checked(fake_wordnet):
    with pytest.raises(ValueError, match="train_texts"):
        load_wordnet(train_texts="everything", directory=fake_wordnet)
    with pytest.raises(ValueError, match="test_synsets"):
        load_wordnet(test_synsets=0, directory=fake_wordnet)


# --- WordNet, the real thing --------------------------------------------------------------

def require_wordnet():
    require_system_data(builtin._wordnet_available()[0], WORDNET_INSTALL)


def test_wordnet_registered_dataset():
    require_wordnet()
    splits = DATASETS.build("wordnet", seed=0, test_synsets=300, max_train_texts=3000)
    assert isinstance(splits.train, TextDataset) and len(splits.train) == 3000
    assert len(splits.test) == 300 and splits.info["num_classes"] == 45
    assert int(splits.train.y.max()) < 45 and splits.train.y.unique().numel() > 30
    retrieval = splits.extras["retrieval"]
    assert len(retrieval.queries) >= 300 and retrieval.documents == splits.test.texts
    wordnet = parse_wordnet()
    by_definition = {}
    for index, definition in enumerate(wordnet.definitions):
        by_definition.setdefault(definition, []).append(index)
    for query, target in zip(retrieval.queries, retrieval.query_targets.tolist()):
        synsets = by_definition[retrieval.documents[target]]
        assert any(query in wordnet.examples[index] for index in synsets)
    assert set(retrieval.queries).isdisjoint(splits.train.texts)
    assert set(retrieval.documents).isdisjoint(splits.train.texts)


def test_wordnet_variants_resolve_by_name():
    require_wordnet()
    pairs = resolve_dataset("wordnet_pairs", modality="text", seed=1)
    assert pairs.train.num_columns == 2 and len(pairs.test) == 2000
    assert pairs.info["num_items"] < len(pairs.train)  # examples of one synset share an item
    glosses = DATASETS.build("wordnet_glosses", test_synsets=50, max_train_texts=None)
    assert glosses.train.num_columns == 1 and len(glosses.train) > 100_000


def test_wordnet_parse_is_fast_enough():
    require_wordnet()
    parse_wordnet.cache_clear()
    import time

    start = time.perf_counter()
    wordnet = parse_wordnet()
    assert time.perf_counter() - start < 5.0
    assert len(wordnet.definitions) == 117_659 and sum(map(len, wordnet.examples)) > 40_000


# --- gensim corpora -----------------------------------------------------------------------

def test_pang_lee_polarity():
    splits = DATASETS.build("pang_lee_polarity", holdout_fraction=0.2, seed=0)
    assert len(splits.train) == 160 and len(splits.test) == 40
    assert splits.info["classes"] == ["neg", "pos"]
    assert torch.bincount(splits.test.y).tolist() == [20, 20]
    assert not any(text.startswith("__label__") for text in splits.train.texts)
    again = DATASETS.build("pang_lee_polarity", holdout_fraction=0.2, seed=0)
    assert again.test.texts == splits.test.texts
    other = DATASETS.build("pang_lee_polarity", holdout_fraction=0.2, seed=1)
    assert other.test.texts != splits.test.texts


def test_lee_background_is_unlabelled():
    splits = resolve_dataset("lee_background", modality="text")
    assert len(splits.train) == 300 and splits.test is None and splits.train.y is None
    assert splits.info["name"] == "lee_background"
    assert splits.train.texts[0].startswith("Hundreds of people")


def test_gensim_sets_report_available():
    assert builtin.load_pang_lee_polarity.available()[0]
    assert builtin.load_lee_background.available()[0]


# --- fortunes -----------------------------------------------------------------------------

def test_read_fortunes_splits_entries_and_removes_overstrike(tmp_path):
    path = tmp_path / "cat"
    path.write_text("first\n  entry\n%\n_\x08b_\x08o_\x08l_\x08d text\n%\n\n%\nso ___\x08\x08\x08"
                    "big\x07\ttoo\n%\nlast\n", encoding="utf-8")
    assert read_fortunes(path) == ["first entry", "bold text", "so big too", "last"]


def test_fortune_categories_skip_indexes_links_and_folders(tmp_path):
    for name in ("art", "art.dat", "art.u8", "zippy"):
        (tmp_path / name).write_text("x\n", encoding="utf-8")
    (tmp_path / "off").mkdir()
    assert fortune_categories(tmp_path) == ["art", "zippy"]
    assert fortune_categories(tmp_path / "absent") == []


def test_missing_fortunes_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(builtin, "FORTUNES_DIR", tmp_path / "absent")
    with pytest.raises(DataError, match="apt-get install fortunes"):
        builtin.load_fortunes()


def test_fortunes_dataset():
    require_system_data(len(fortune_categories(FORTUNES_DIR)) >= 2, builtin.FORTUNES_INSTALL)
    splits = DATASETS.build("fortunes", holdout_fraction=0.2, seed=0)
    classes = splits.info["classes"]
    assert splits.info["num_classes"] == len(classes) >= 2
    assert len(splits.train) > len(splits.test) > 0
    assert set(splits.train.ids.tolist()).isdisjoint(splits.test.ids.tolist())
    assert not any(char in text for text in splits.train.texts for char in "\x07\x08\n\t")
    some = builtin.load_fortunes(categories=classes[:2], seed=0)
    assert some.info["classes"] == classes[:2] and some.test.y.unique().tolist() == [0, 1]
    with pytest.raises(DataError, match="unknown fortune categories"):
        builtin.load_fortunes(categories=["no-such-category"])
