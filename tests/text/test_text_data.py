"""Text data layer: TextDataset and its item ids, tokenization, file readers, splits and the
text modality's path through resolve_dataset."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from contrastlearn.data.arrays import ArrayDataset, DataError, DatasetSplits
from contrastlearn.data.resolve import resolve_dataset, to_samples
from contrastlearn.modalities.text.data import (
    RetrievalSet,
    TextDataset,
    from_hf_dataset,
    item_ids,
    label_codes,
    read_table,
    read_text_lines,
    text_samples,
    text_splits,
    tokenize_dataset,
)


def write(path, content: str | bytes):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def reference_ids(columns: list[list[str]]) -> list[int]:
    """Item ids by a plain union-find loop: rows sharing an anchor/positive text are merged."""
    parent = list(range(len(columns[0])))

    def root(row: int) -> int:
        while parent[row] != row:
            row = parent[row]
        return row

    first_row: dict[str, int] = {}
    for column in columns[:2]:
        for row, text in enumerate(column):
            if text in first_row:
                parent[root(row)] = root(first_row[text])
            else:
                first_row[text] = row
    return [root(row) for row in range(len(parent))]


def same_partition(ids_a, ids_b) -> bool:
    pairs = set(zip(list(ids_a), list(ids_b)))
    return len(pairs) == len(set(ids_a)) == len(set(ids_b))


# --- TextDataset and item ids -------------------------------------------------------------

def test_duplicate_anchor_and_shared_positive_share_an_id():
    data = TextDataset([["a", "b", "a", "c", "d"], ["p", "q", "r", "q", "s"]])
    ids = data.ids.tolist()
    assert ids[0] == ids[2]  # same anchor "a"
    assert ids[1] == ids[3]  # same positive "q"
    assert len({ids[0], ids[1], ids[4]}) == 3
    assert data.ids.dtype == torch.int64


def test_ids_link_anchor_to_positive_across_rows_and_transitively():
    data = TextDataset([["a", "b", "c", "x"], ["b", "c", "d", "y"]])
    assert data.ids.tolist()[:3] == [data.ids[0].item()] * 3
    assert data.ids[3] != data.ids[0]


def test_hard_negative_column_does_not_link_rows():
    data = TextDataset([["a", "b"], ["p", "q"], ["n", "n"]])
    assert data.ids[0] != data.ids[1]


def test_single_column_identical_texts_share_an_id_numbered_by_first_appearance():
    data = TextDataset([["x", "y", "x", "z", "y"]])
    assert data.ids.tolist() == [0, 1, 0, 2, 1]


def test_item_ids_match_a_plain_union_find_loop():
    rng = np.random.default_rng(0)
    anchors = [f"t{v}" for v in rng.integers(0, 300, 400)]
    positives = [f"t{v}" for v in rng.integers(0, 300, 400)]
    negatives = [f"t{v}" for v in rng.integers(0, 300, 400)]
    columns = [anchors, positives, negatives]
    ids = item_ids(columns).tolist()
    assert same_partition(ids, reference_ids(columns))
    assert 1 < len(set(ids)) < 400


def test_item_ids_are_fast_for_100k_pairs():
    anchors = [f"sentence {i}" for i in range(100_000)]
    positives = [f"paraphrase {i // 2}" for i in range(100_000)]
    start = time.perf_counter()
    ids = item_ids([anchors, positives])
    assert time.perf_counter() - start < 3.0
    assert ids.unique().numel() == 50_000 and ids[0] == ids[1] and ids[1] != ids[2]


def test_given_ids_are_kept():
    data = TextDataset([["a", "a", "b"]], ids=torch.tensor([5, 6, 7]))
    assert data.ids.tolist() == [5, 6, 7]


def test_subset_keeps_columns_labels_and_ids():
    data = TextDataset([["a", "b", "c"], ["p", "q", "r"]], y=torch.tensor([0, 1, 2]), name="n")
    part = data.subset(torch.tensor([2, 0]))
    assert part.columns == [["c", "a"], ["r", "p"]]
    assert part.y.tolist() == [2, 0] and part.ids.tolist() == [data.ids[2], data.ids[0]]
    assert part.texts == ["c", "a"] and part.num_columns == 2 and len(part) == 2
    assert part.name == "n"


@pytest.mark.parametrize(("columns", "message"), [
    ([["a", "b"], ["p"]], "different lengths"),
    ([["a", 3]], "row 1: expected a string"),
    ([["a", "  "]], "row 1: the text is empty"),
    ([["a"], ["b"], ["c"], ["d"]], "1 to 3 columns"),
])
def test_invalid_text_datasets_are_rejected(columns, message):
    with pytest.raises(DataError, match=message):
        TextDataset(columns)


def test_label_count_must_match_rows():
    with pytest.raises(DataError, match="one label per row"):
        TextDataset([["a", "b"]], y=torch.tensor([0]))


def test_retrieval_set_validates_targets():
    retrieval = RetrievalSet(["q1", "q2"], ["d1"], [0, 0])
    assert retrieval.query_targets.dtype == torch.int64
    with pytest.raises(DataError, match="index the 1 documents"):
        RetrievalSet(["q1"], ["d1"], [1])
    with pytest.raises(DataError, match="2 queries"):
        RetrievalSet(["q1", "q2"], ["d1"], [0])


# --- tokenize_dataset ---------------------------------------------------------------------

class FakeTokenizer:
    """[CLS]=101, one id per word (its length + 1000), [SEP]=102, padded with 0; counts calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, texts: list[str]) -> torch.Tensor:
        self.calls += 1
        rows = [[101, *[1000 + len(word) for word in text.split()], 102] for text in texts]
        width = max(len(row) for row in rows)
        return torch.tensor([row + [0] * (width - len(row)) for row in rows])


def test_tokenize_one_column_gives_n_by_l_int64_with_labels_and_ids():
    data = TextDataset([["a b c", "d", "a b c"]], y=torch.tensor([1, 0, 1]))
    tokenizer = FakeTokenizer()
    out = tokenize_dataset(data, tokenizer)
    assert isinstance(out, ArrayDataset)
    assert out.x.shape == (3, 5) and out.x.dtype == torch.int64
    assert out.x[1].tolist() == [101, 1001, 102, 0, 0]
    assert out.y.tolist() == [1, 0, 1] and out.ids.tolist() == data.ids.tolist()
    assert tokenizer.calls == 1


def test_tokenize_triples_gives_n_by_k_by_l_padded_to_the_widest_column():
    data = TextDataset([["a", "b"], ["one two three four", "x"], ["n m", "o"]])
    tokenizer = FakeTokenizer()
    out = tokenize_dataset(data, tokenizer)
    assert out.x.shape == (2, 3, 6) and tokenizer.calls == 3
    assert out.x[0, 0].tolist() == [101, 1001, 102, 0, 0, 0]
    assert out.x[0, 1].tolist() == [101, 1003, 1003, 1005, 1004, 102]
    assert out.x[1, 2].tolist() == [101, 1001, 102, 0, 0, 0]
    assert out.y is None


def test_tokenize_rejects_a_tokenizer_with_the_wrong_output():
    data = TextDataset([["a", "b"]])
    with pytest.raises(ValueError, match=r"\(2, length\)"):
        tokenize_dataset(data, lambda texts: torch.zeros(1, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="integer token ids"):
        tokenize_dataset(data, lambda texts: torch.zeros(2, 3))


# --- plain-text files ---------------------------------------------------------------------

def test_read_text_lines_skips_and_counts_blank_lines(tmp_path):
    path = write(tmp_path / "s.txt", "\ufefffirst line\r\n\n   \n  second  \nthird\n")
    data = read_text_lines(path)
    assert data.texts == ["first line", "second", "third"]
    assert data.info["blank_lines"] == 2 and data.name == "s"
    assert data.y is None and data.ids.tolist() == [0, 1, 2]


def test_read_text_lines_names_line_and_offset_of_a_non_utf8_byte(tmp_path):
    path = write(tmp_path / "bad.txt", b"fine\ncaf\xe9 au lait\n")
    with pytest.raises(DataError) as error:
        read_text_lines(path)
    message = str(error.value)
    assert "bad.txt" in message and "line 2" in message and "byte offset 8" in message
    assert "0xe9" in message and "encoding='latin-1'" in message


def test_read_text_lines_with_latin1_encoding(tmp_path):
    path = write(tmp_path / "latin.txt", b"fine\ncaf\xe9 au lait\n")
    assert read_text_lines(path, encoding="latin-1").texts == ["fine", "café au lait"]


@pytest.mark.parametrize("content", ["", "\n  \n\t\n"])
def test_read_text_lines_rejects_a_file_without_text(tmp_path, content):
    with pytest.raises(DataError, match="holds no text"):
        read_text_lines(write(tmp_path / "empty.txt", content))


def test_read_text_lines_rejects_unknown_encoding_and_missing_file(tmp_path):
    path = write(tmp_path / "a.txt", "x\n")
    with pytest.raises(DataError, match="unknown text encoding"):
        read_text_lines(path, encoding="no-such-codec")
    with pytest.raises(DataError, match="cannot read"):
        read_text_lines(tmp_path / "missing.txt")


# --- tables -------------------------------------------------------------------------------

def test_read_csv_default_sentence_column_and_string_labels(tmp_path):
    path = write(tmp_path / "t.csv", "id,Sentence,label\n1,hello there,pos\n2,\"a, b\",neg\n"
                                     "\n3,again,pos\n")
    data = read_table(path)
    assert data.columns == [["hello there", "a, b", "again"]]
    assert data.y.tolist() == [1, 0, 1] and data.info["classes"] == ["neg", "pos"]


def test_read_csv_numeric_labels_sort_numerically(tmp_path):
    path = write(tmp_path / "t.csv", "text,label\na,10\nb,2\nc,2\n")
    data = read_table(path)
    assert data.y.tolist() == [1, 0, 0] and data.info["classes"] == ["2", "10"]


@pytest.mark.parametrize(("header", "width"), [
    ("anchor,positive,negative", 3), ("anchor,positive", 2), ("sentence1,sentence2", 2),
    ("text", 1),
])
def test_read_csv_default_column_sets(tmp_path, header, width):
    names = header.split(",")
    row = ",".join(f"{name} value" for name in names)
    data = read_table(write(tmp_path / "t.csv", f"other,{header}\nz,{row}\n"))
    assert data.columns == [[f"{name} value"] for name in names] and data.num_columns == width


def test_read_tsv_keeps_quotes_literally(tmp_path):
    path = write(tmp_path / "t.tsv", 'sentence1\tsentence2\nhe said "hi\tshe said "yo"\n')
    data = read_table(path)
    assert data.columns == [['he said "hi'], ['she said "yo"']]


def test_read_table_explicit_columns_and_label_column(tmp_path):
    path = write(tmp_path / "t.csv", "q,d,cls\nquestion,doc,x\n")
    data = read_table(path, columns=["q", "d"], label_column="cls")
    assert data.columns == [["question"], ["doc"]] and data.info["classes"] == ["x"]


def test_read_table_missing_column_lists_the_file_columns(tmp_path):
    path = write(tmp_path / "t.csv", "foo,bar\na,b\n")
    with pytest.raises(DataError, match=r"no text column found; its columns are \['foo', 'bar'\]"):
        read_table(path)
    with pytest.raises(DataError, match=r"no column 'baz'; its columns are \['foo', 'bar'\]"):
        read_table(path, columns=["foo", "baz"])
    with pytest.raises(DataError, match="no label column 'cls'"):
        read_table(path, columns=["foo"], label_column="cls")


def test_read_table_empty_cell_names_the_line(tmp_path):
    path = write(tmp_path / "t.csv", 'anchor,positive\n"multi\nline",p\na,\n')
    with pytest.raises(DataError, match=r"t.csv' line 4: the 'positive' cell is empty"):
        read_table(path)


def test_read_table_empty_label_names_the_line(tmp_path):
    path = write(tmp_path / "t.csv", "text,label\na,x\nb,\n")
    with pytest.raises(DataError, match="line 3: the 'label' label is empty"):
        read_table(path)


def test_read_table_too_many_cells_and_repeated_header(tmp_path):
    with pytest.raises(DataError, match="line 2: 3 cells but the header names 2"):
        read_table(write(tmp_path / "a.csv", "text,label\na,b,c\n"))
    with pytest.raises(DataError, match="repeats the column name"):
        read_table(write(tmp_path / "b.csv", "text,text\na,b\n"))


@pytest.mark.parametrize(("name", "content", "message"), [
    ("e.csv", "", "is empty"),
    ("h.csv", "text,label\n", "header row but no rows"),
    ("e.jsonl", "\n\n", "is empty"),
])
def test_read_table_rejects_empty_files(tmp_path, name, content, message):
    with pytest.raises(DataError, match=message):
        read_table(write(tmp_path / name, content))


def test_read_jsonl_pairs_with_labels(tmp_path):
    lines = [{"anchor": "a", "positive": "p", "label": 3}, {"anchor": "b", "positive": "q",
                                                          "label": 1}]
    path = write(tmp_path / "t.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n\n")
    data = read_table(path)
    assert data.columns == [["a", "b"], ["p", "q"]]
    assert data.y.tolist() == [1, 0] and data.info["classes"] == ["1", "3"]


def test_read_jsonl_bad_json_names_the_line(tmp_path):
    path = write(tmp_path / "t.jsonl", '{"text": "a"}\n\n{"text": "b",\n')
    with pytest.raises(DataError, match=r"line 3: not valid JSON"):
        read_table(path)


def test_read_jsonl_rejects_non_objects_non_strings_and_missing_keys(tmp_path):
    with pytest.raises(DataError, match="line 2: expected a JSON object"):
        read_table(write(tmp_path / "a.jsonl", '{"text": "a"}\n["b"]\n'))
    with pytest.raises(DataError, match="line 2: the 'text' value must be a string, got int"):
        read_table(write(tmp_path / "b.jsonl", '{"text": "a"}\n{"text": 5}\n'))
    with pytest.raises(DataError, match="line 2: the 'text' cell is empty"):
        read_table(write(tmp_path / "c.jsonl", '{"text": "a"}\n{"other": "b"}\n'))
    with pytest.raises(DataError, match="line 1: the 'label' label is empty"):
        read_table(write(tmp_path / "d.jsonl", '{"text": "a"}\n{"text": "b", "label": 1}\n'))


def test_read_table_non_utf8_and_latin1(tmp_path):
    path = write(tmp_path / "t.csv", b"text\nok\nna\xefve\n")
    with pytest.raises(DataError, match=r"line 3: byte 0xef at byte offset 10.*encoding="):
        read_table(path)
    assert read_table(path, encoding="latin-1").texts == ["ok", "naïve"]


def test_read_table_rejects_other_suffixes(tmp_path):
    with pytest.raises(DataError, match="read_table reads"):
        read_table(write(tmp_path / "t.json", "{}"))


def test_label_codes_reject_regression_targets():
    with pytest.raises(DataError, match="regression target"):
        label_codes(["0.5", "1.5"], "scores")


# --- Hugging Face datasets (duck-typed) ---------------------------------------------------

class FakeHFDataset:
    def __init__(self, table: dict[str, list]):
        self.table = table
        self.column_names = list(table)

    def __getitem__(self, column: str) -> list:
        return self.table[column]


def test_from_hf_dataset_keeps_integer_labels():
    fake = FakeHFDataset({"sentence1": ["a", "b"], "sentence2": ["c", "d"], "label": [2, 0]})
    data = from_hf_dataset(fake)
    assert data.columns == [["a", "b"], ["c", "d"]] and data.y.tolist() == [2, 0]


def test_from_hf_dataset_maps_string_labels_and_explicit_columns():
    fake = FakeHFDataset({"q": ["a", "b", "c"], "topic": ["sport", "art", "sport"]})
    data = from_hf_dataset(fake, columns=["q"], label_column="topic")
    assert data.texts == ["a", "b", "c"] and data.y.tolist() == [1, 0, 1]
    assert data.info["classes"] == ["art", "sport"]


def test_from_hf_dataset_errors():
    with pytest.raises(DataError, match="no column_names"):
        from_hf_dataset({"text": ["a"]})
    with pytest.raises(DataError, match=r"row 1: the 'text' cell is empty"):
        from_hf_dataset(FakeHFDataset({"text": ["a", None]}))
    with pytest.raises(DataError, match=r"its columns are \['foo'\]"):
        from_hf_dataset(FakeHFDataset({"foo": ["a"]}))


# --- splits -------------------------------------------------------------------------------

def labelled_texts(per_class: int = 20, classes: int = 3) -> tuple[list[str], list[str]]:
    texts = [f"text {c} {i}" for c in range(classes) for i in range(per_class)]
    labels = [f"class{c}" for c in range(classes) for _ in range(per_class)]
    return texts, labels


def test_labelled_holdout_is_stratified_and_seeded():
    texts, labels = labelled_texts()
    splits = text_splits(texts, labels, name="n", holdout_fraction=0.25, seed=3)
    assert isinstance(splits, DatasetSplits) and splits.modality == "text"
    assert isinstance(splits.train, TextDataset) and isinstance(splits.test, TextDataset)
    assert torch.bincount(splits.test.y).tolist() == [5, 5, 5]
    assert torch.bincount(splits.train.y).tolist() == [15, 15, 15]
    assert set(splits.train.texts).isdisjoint(splits.test.texts)
    assert splits.info["num_classes"] == 3 and splits.info["classes"] == ["class0", "class1",
                                                                           "class2"]
    assert splits.info["test_split"] == "holdout_0.25_seed3"
    again = text_splits(texts, labels, name="n", holdout_fraction=0.25, seed=3)
    other = text_splits(texts, labels, name="n", holdout_fraction=0.25, seed=4)
    assert again.test.texts == splits.test.texts and other.test.texts != splits.test.texts


def test_holdout_never_puts_one_item_on_both_sides():
    texts = ["dup"] * 10 + [f"t{i}" for i in range(30)]
    labels = [0] * 20 + [1] * 20
    splits = text_splits(texts, labels, holdout_fraction=0.5, seed=0)
    assert "dup" not in splits.test.texts
    assert set(splits.train.ids.tolist()).isdisjoint(splits.test.ids.tolist())
    assert len(splits.train) + len(splits.test) == 40


def test_unlabelled_data_have_no_test_split():
    splits = text_splits(["a", "b", "c"], name="plain")
    assert splits.test is None and len(splits.train) == 3 and splits.info["test_split"] == "none"
    assert splits.info["num_classes"] is None


def test_given_test_split_gets_distinct_ids():
    splits = text_splits(train=["a", "b"], test=["a", "c"], name="n")
    assert splits.test.texts == ["a", "c"] and splits.info["test_split"] == "test"
    assert set(splits.train.ids.tolist()).isdisjoint(splits.test.ids.tolist())


def test_given_test_split_labels_are_coded_together_with_training_labels():
    splits = text_splits(["a", "b"], ["sport", "art"], ["c", "d"], ["sport", "sport"])
    assert splits.train.y.tolist() == [1, 0] and splits.test.y.tolist() == [1, 1]
    assert splits.info["classes"] == ["art", "sport"] and splits.info["num_classes"] == 2


def test_train_and_test_files_with_different_classes_are_recoded_together(tmp_path):
    train = read_table(write(tmp_path / "train.csv", "text,label\na,sport\nb,art\n"))
    test = read_table(write(tmp_path / "test.csv", "text,label\nc,sport\nd,news\n"))
    assert test.y.tolist() == [1, 0]  # coded on its own: news, sport
    splits = resolve_dataset({"train": train, "test": test}, modality="text")
    assert splits.info["classes"] == ["art", "news", "sport"]
    assert splits.train.y.tolist() == [2, 0] and splits.test.y.tolist() == [2, 1]


def test_num_classes_counts_named_classes_absent_from_the_rows():
    data = TextDataset([["a", "b", "c", "d"]], y=[0, 1, 0, 1], info={"classes": ["x", "y", "z"]})
    assert text_splits(data, holdout_fraction=0.5).info["num_classes"] == 3


def test_integer_labels_in_memory_are_kept():
    splits = text_splits(["a", "b", "c"], [4, 0, 4], x_test=["d"], y_test=[2])
    assert splits.train.y.tolist() == [4, 0, 4] and splits.test.y.tolist() == [2]
    assert "classes" not in splits.info and splits.info["num_classes"] == 5
    with pytest.raises(DataError, match="negative labels"):
        text_splits(["a", "b"], [0, -1])


def test_pairs_from_tuples_and_text_dataset_inputs():
    splits = text_splits([("a", "p"), ("b", "p")], name="n")
    assert splits.train.num_columns == 2 and splits.train.ids[0] == splits.train.ids[1]
    data = TextDataset([["a", "b", "c", "d"]])
    splits = text_splits(data, ["x", "y", "x", "y"], holdout_fraction=0.5)
    assert len(splits.test) == 2 and sorted(splits.test.y.tolist()) == [0, 1]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"x": ["a"], "texts": ["b"]}, "training texts once"),
    ({}, "training texts once"),
    ({"x": ["a"], "y": [0], "x_test": ["b"]}, "both splits"),
    ({"x": ["a"], "y_test": [0]}, "y_test given without test"),
    ({"x": "a single string"}, "single string"),
    ({"x": [("a", "b"), ("c",)]}, "one shape for every row"),
    ({"x": ["a"], "x_test": [("b", "c")]}, "test split has 2 columns"),
    ({"x": TextDataset([["a"]], y=[0]), "y": [1]}, "already has labels"),
    ({"x": []}, "holds no texts"),
    ({"x": ["a", "b"], "y": [0], "x_test": ["c"], "y_test": [0]}, "y has 1 labels for 2 rows"),
    ({"x": ["a"], "y": [0, 1]}, "one label per row"),
])
def test_text_splits_errors(kwargs, message):
    with pytest.raises(DataError, match=message):
        text_splits(**kwargs)


def test_text_samples_validates_and_keeps_strings():
    assert text_samples(["a", "b"]) == ["a", "b"]
    assert text_samples(np.array(["a", "b"])) == ["a", "b"]
    assert text_samples(TextDataset([["x"], ["y"]])) == ["x"]
    with pytest.raises(DataError, match="empty"):
        text_samples([])
    with pytest.raises(DataError, match="row 1: expected a string"):
        text_samples(["a", 2])
    assert to_samples(np.array(["a"]), modality="text") == ["a"]


# --- resolve_dataset end to end -----------------------------------------------------------

def test_resolve_txt_file(tmp_path):
    path = write(tmp_path / "corpus.txt", "one\n\ntwo\nthree\n")
    splits = resolve_dataset(str(path), modality="text")
    assert splits.modality == "text" and splits.test is None
    assert splits.train.texts == ["one", "two", "three"]
    assert splits.info["name"] == "corpus" and splits.info["blank_lines"] == 1


def test_resolve_labelled_csv_file(tmp_path):
    rows = "".join(f"sentence {i},{'ab'[i % 2]}\n" for i in range(20))
    path = write(tmp_path / "labelled.CSV", "sentence,label\n" + rows)
    splits = resolve_dataset(path, modality="text", holdout_fraction=0.2, seed=1)
    assert len(splits.train) == 16 and len(splits.test) == 4
    assert torch.bincount(splits.test.y).tolist() == [2, 2]
    assert splits.info["classes"] == ["a", "b"] and splits.info["source"] == str(path)


def test_resolve_jsonl_and_tsv_pairs(tmp_path):
    jsonl = write(tmp_path / "pairs.jsonl",
                  '{"anchor": "a", "positive": "b"}\n{"anchor": "c", "positive": "b"}\n')
    splits = resolve_dataset(jsonl, modality="text")
    assert splits.train.columns == [["a", "c"], ["b", "b"]] and splits.test is None
    assert splits.train.ids[0] == splits.train.ids[1]
    tsv = write(tmp_path / "pairs.tsv", "sentence1\tsentence2\nx\ty\n")
    assert resolve_dataset(tsv, modality="text").train.num_columns == 2


def test_resolve_in_memory_forms():
    texts, labels = labelled_texts(per_class=5, classes=2)
    by_dict = resolve_dataset({"texts": texts, "y": labels}, modality="text", seed=0)
    by_tuple = resolve_dataset((texts, labels), modality="text", seed=0)
    assert by_dict.test.texts == by_tuple.test.texts and len(by_dict.test) == 2
    given = resolve_dataset({"train": TextDataset([["a", "b"]]), "test": ["c"]},
                            modality="text")
    assert given.test.texts == ["c"]


def test_resolve_reports_file_errors_and_unknown_suffixes(tmp_path):
    with pytest.raises(DataError, match="line 1: not valid JSON"):
        resolve_dataset(write(tmp_path / "bad.jsonl", "{oops\n"), modality="text")
    with pytest.raises(DataError, match=r"\.jsonl, \.tsv, \.txt"):
        resolve_dataset(write(tmp_path / "data.xml", "<a/>"), modality="text")
    with pytest.raises(DataError, match="does not exist"):
        resolve_dataset(tmp_path / "missing.txt", modality="text")
