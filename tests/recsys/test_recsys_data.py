"""Interaction files, splits and bad input of the recsys room."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contrastlearn.data.arrays import DataError
from contrastlearn.modalities.recsys.builtin import _ml100k_available, load_ml100k
from contrastlearn.modalities.recsys.data import read_interaction_file, recsys_splits
from contrastlearn.modalities.recsys.files import read_interactions
from tests.conftest import require_system_data


def write(path, text: str):
    path.write_text(text)
    return path


def table_rows(num_users: int = 12, per_user: int = 10, num_items: int = 30,
               seed: int = 0) -> np.ndarray:
    """(E, 4) rows user, item, rating, timestamp; user u rates items u, u + 1, ... (mod
    `num_items`) in that time order."""
    rng = np.random.default_rng(seed)
    rows = [(user, (user + offset) % num_items, rng.integers(1, 6), 1000 * user + offset)
            for user in range(num_users) for offset in range(per_user)]
    return np.array(rows, dtype=np.int64)


def test_csv_reader_finds_the_usual_column_names(tmp_path):
    path = write(tmp_path / "log.csv", "userId,movieId,rating,timestamp\n1,10,4,5\n1,11,3,6\n"
                                        "2,10,5,7\n")
    table = read_interactions(path)["x"]
    assert table.users.tolist() == ["1", "1", "2"]
    assert table.items.tolist() == ["10", "11", "10"]
    assert table.ratings.tolist() == [4.0, 3.0, 5.0]
    assert table.timestamps.tolist() == [5.0, 6.0, 7.0]


def test_recbole_inter_file_reads_titles_beside_it(tmp_path):
    write(tmp_path / "toy.inter", "user_id:token\titem_id:token\trating:float\n"
                                  "u1\ti1\t3\nu1\ti2\t4\nu2\ti1\t5\n")
    write(tmp_path / "toy.item", "item_id:token\tmovie_title:token_seq\ni1\tAlpha\ni2\tBeta\n")
    table = read_interactions(tmp_path / "toy.inter")["x"]
    assert table.titles == {"i1": "Alpha", "i2": "Beta"}
    assert table.timestamps is None


def test_named_columns_and_wrong_columns(tmp_path):
    path = write(tmp_path / "log.tsv", "who\twhat\tstars\nа\tx\t1\nb\ty\t2\n")
    with pytest.raises(DataError, match="user and item columns"):
        read_interactions(path)
    table = read_interactions(path, columns=("who", "what", "stars"))["x"]
    assert table.ratings.tolist() == [1.0, 2.0]
    with pytest.raises(DataError, match="no column 'when'"):
        read_interactions(path, columns=("who", "what", "stars", "when"))


def test_bad_values_and_short_lines_name_the_line(tmp_path):
    path = write(tmp_path / "log.csv", "user_id,item_id,rating\n1,2,3\n1,4\n")
    with pytest.raises(DataError, match="line 3"):
        read_interactions(path)
    path = write(tmp_path / "bad.csv", "user_id,item_id,rating\n1,2,three\n")
    with pytest.raises(DataError, match="rating column has a value that is not a number"):
        read_interactions(path)


def test_duplicates_are_an_error_unless_a_rule_is_chosen(tmp_path):
    rows = np.array([[1, 5, 3, 10], [1, 5, 4, 20], [2, 5, 1, 5], [2, 6, 2, 6], [1, 7, 2, 1]])
    with pytest.raises(DataError, match="1 repeated .*duplicates: keep_first or keep_last"):
        recsys_splits(rows)
    for rule, rating in (("keep_first", 3.0), ("keep_last", 4.0)):
        splits = recsys_splits(rows, duplicates=rule, ratios=(1.0, 0.0, 0.0))
        graph = splits.train.graph
        assert len(graph) == 4
        assert graph.ratings[(graph.users == 0) & (graph.items == 0)].item() == rating


def test_ratio_split_shares_determinism_and_disjointness():
    rows = table_rows(num_users=20, per_user=10)
    first = recsys_splits(rows, seed=3).extras["ranking"]
    again = recsys_splits(rows, seed=3).extras["ranking"]
    other = recsys_splits(rows, seed=4).extras["ranking"]
    assert torch.equal(first.test.items, again.test.items)
    assert not torch.equal(first.test.items, other.test.items)
    assert len(first.train) == 160 and len(first.valid) + len(first.test) <= 40
    train_keys = set(first.train.keys().tolist())
    assert not train_keys & set(first.test.keys().tolist())
    assert torch.equal(first.train.user_degrees(), torch.full((20,), 8))


def test_ratio_split_gives_small_users_one_test_item_like_recbole():
    rows = table_rows(num_users=3, per_user=5)
    ranking = recsys_splits(rows, ratios=(0.8, 0.1, 0.1)).extras["ranking"]
    # 5 interactions: floor(0.5) = 0 for validation and test, each bumped to 1
    assert ranking.train.user_degrees().tolist() == [3, 3, 3]


def test_time_split_leaves_the_last_two_out_and_needs_timestamps():
    rows = table_rows(num_users=6, per_user=6, num_items=6)
    ranking = recsys_splits(rows, split="time").extras["ranking"]
    for user in range(6):
        expected_last = (user + 5) % 6
        assert ranking.test.items[ranking.test.users == user].tolist() == [expected_last]
    with pytest.raises(DataError, match="no timestamp column.*split: ratio"):
        recsys_splits(rows[:, :3], split="time")


def test_rating_threshold_and_cold_items_are_reported():
    rows = np.array([[0, 0, 5, 1], [0, 1, 5, 2], [0, 2, 1, 3], [1, 0, 5, 1], [1, 3, 5, 2],
                     [1, 4, 5, 3]])
    splits = recsys_splits(rows, rating_threshold=4, ratios=(0.5, 0.0, 0.5), seed=0)
    assert splits.info["positives"] == "rating >= 4"
    assert splits.info["num_interactions"] == 5
    assert "cold_items_dropped" in splits.info
    with pytest.raises(DataError, match="no rating column"):
        recsys_splits(rows[:, :2], rating_threshold=4)
    with pytest.raises(DataError, match="lower data.options.rating_threshold"):
        recsys_splits(rows, rating_threshold=9)


def test_bad_arrays_and_options():
    with pytest.raises(DataError, match=r"\(E, 2..4\) array"):
        recsys_splits(np.zeros((3, 7)))
    with pytest.raises(ValueError, match="sum to 1"):
        recsys_splits(table_rows(), ratios=(0.5, 0.1, 0.1))


def test_file_reader_passes_split_options(tmp_path):
    lines = "\n".join(f"{user},{item},{user + item}" for user in range(5) for item in range(6))
    path = write(tmp_path / "log.csv", "user_id,item_id,timestamp\n" + lines + "\n")
    arrays = read_interaction_file(path, split="time", max_length=4)
    splits = recsys_splits(**arrays)
    assert splits.info["split"] == "time" and splits.train.max_length == 4
    assert splits.train.batch_x(torch.arange(2)).sequences.shape == (2, 4)


def test_ml100k_builtin():
    available, install = _ml100k_available()
    require_system_data(available, install)
    splits = load_ml100k()
    assert splits.info["num_users"] == 943 and splits.info["num_items"] == 1682
    assert splits.info["num_interactions"] == 100_000
    vocabulary = splits.extras["recommender"].vocabulary
    assert vocabulary.describe_item(vocabulary.item_index("1")) == "1  Toy Story"


def test_in_memory_rows_take_the_recipe_options():
    from contrastlearn.data.resolve import resolve_dataset

    rows = table_rows(num_users=6, per_user=6, num_items=6)
    splits = resolve_dataset(rows, modality="recsys",
                             reader_options={"split": "time", "max_length": 3})
    assert splits.info["split"] == "time" and splits.train.max_length == 3
