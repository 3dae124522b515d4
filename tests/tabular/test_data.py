"""Tabular data: tables from every input kind, column kinds declared or inferred, the schema's
layout (standardised numbers, missing indicators, one-hot levels), training-only statistics,
unseen levels, the bad-input errors, and the built-in tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from contrastlearn.data.arrays import DataError
from contrastlearn.data.resolve import resolve_dataset, to_samples
from contrastlearn.modalities.tabular.data import TableDataset, encode_for, splits_for, table_splits
from contrastlearn.modalities.tabular.encoders import TabularMLP
from contrastlearn.modalities.tabular.modality import table_encoder_inputs, table_raw_features
from contrastlearn.modalities.tabular.schema import MISSING_LEVEL, TableSchema, fit_schema

pytestmark = pytest.mark.usefixtures("one_thread")


def people(rows: int = 40, seed: int = 0) -> pd.DataFrame:
    """A mixed table: a float with missing values, an integer code, text with missing values,
    a bool, and a label column."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 10, rows)
    income[[3, 7]] = np.nan
    city = rng.choice(["paris", "rome", "oslo"], rows).astype(object)
    city[[5]] = None
    return pd.DataFrame({"income": income, "age": rng.integers(18, 90, rows),
                         "rating": rng.integers(1, 4, rows), "city": city,
                         "member": rng.random(rows) < 0.5,
                         "label": np.where(np.arange(rows) % 2 == 0, "yes", "no")})


def test_kinds_are_inferred_and_the_inference_is_stated():
    splits = table_splits(people(), name="people", label_column="label")
    columns = splits.info["columns"]
    assert columns["numeric"] == ["income", "age"]
    assert set(columns["categorical"]) == {"rating", "city", "member"}
    assert columns["kinds"]["rating"] == "integer, 3 values"
    assert columns["kinds"]["member"] == "bool"
    assert columns["missing_indicators"] == ["income"]
    note = next(n for n in splits.info["notes"] if n.startswith("column kinds inferred"))
    assert "rating (integer, 3 values)" in note and "numeric: income, age" in note
    assert splits.info["classes"] == ["no", "yes"] and splits.info["num_classes"] == 2
    json.dumps(splits.info)  # data.json must be writable


def test_declared_kinds_win_over_inference():
    splits = table_splits(people(), name="people", label_column="label",
                          numeric_columns=["rating"], categorical_columns=["age"],
                          ignore_columns=["member"])
    columns = splits.info["columns"]
    assert columns["numeric"] == ["income", "rating"]
    assert list(columns["categorical"]) == ["age", "city"]
    assert columns["kinds"]["rating"] == "declared" and "member" not in columns["kinds"]


def test_layout_standardises_with_train_statistics_and_one_hots_levels():
    frame = pd.DataFrame({"x": [1.0, 3.0, np.nan, 5.0], "c": ["a", "b", None, "a"]})
    schema = fit_schema(frame, ["x"], ["c"])
    assert schema.layout.width == 1 + 1 + 3  # x, x missing, c in {a, b, <missing>}
    assert schema.categorical[0].levels == ["a", "b", MISSING_LEVEL]
    samples, unseen = schema.encode(frame, "t")
    mean, std = 3.0, np.std([1.0, 3.0, 5.0])
    expected = np.array([[(1 - mean) / std, 0, 1, 0, 0], [0, 0, 0, 1, 0],
                         [(3 - mean) / std, 1, 0, 0, 1], [(5 - mean) / std, 0, 1, 0, 0]])
    np.testing.assert_allclose(samples.numpy(), expected, atol=1e-6)
    assert unseen == {} and samples.dtype == torch.float32
    assert schema.feature_names() == ["x", "x (missing)", "c=a", "c=b", f"c={MISSING_LEVEL}"]


def test_statistics_come_from_the_training_rows_only():
    frame = pd.DataFrame({"x": np.arange(100.0)})
    splits = table_splits(frame, np.arange(100) % 2, name="t", holdout_fraction=0.5, seed=1)
    train_values = splits.train.frame["x"].to_numpy()
    assert splits.train.schema.numeric[0].mean == pytest.approx(train_values.mean())
    assert float(splits.train.x.mean()) == pytest.approx(0.0, abs=1e-5)
    assert len(splits.train) == len(splits.test) == 50
    assert torch.equal(torch.bincount(splits.test.y), torch.tensor([25, 25]))


def test_whole_numbers_keep_their_level_when_nan_makes_them_floats():
    schema = fit_schema(pd.DataFrame({"c": [1, 2, 2]}), [], ["c"])
    samples, unseen = schema.encode(pd.DataFrame({"c": [2.0, np.nan]}), "t")
    assert unseen == {"c": 1}  # the missing value: no <missing> level in training
    assert samples.tolist() == [[0.0, 1.0], [0.0, 0.0]]


def test_unseen_test_values_are_counted_and_encoded_as_zero_blocks():
    train = pd.DataFrame({"c": ["a", "b"] * 10})
    test = pd.DataFrame({"c": ["a", "z", "z"]})
    splits = table_splits(train, np.arange(20) % 2, test, [0, 1, 0], name="t")
    assert splits.info["unseen_categories"] == {"c": 2}
    assert any("unseen" in note for note in splits.info["notes"])
    assert splits.test.x.tolist() == [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]


def test_unseen_category_with_the_error_policy_names_column_and_value():
    train = pd.DataFrame({"c": ["a", "b"] * 10})
    with pytest.raises(DataError) as error:
        table_splits(train, None, pd.DataFrame({"c": ["a", "z"]}), None, name="t",
                     unseen_categories="error")
    message = str(error.value)
    assert "'c'" in message and "'z'" in message and "unseen_categories" in message
    assert "\n" not in message


@pytest.mark.parametrize("table, options, expected", [
    (pd.DataFrame({"x": []}), {}, "empty table"),
    (np.zeros((0, 3)), {}, "empty table"),
    (pd.DataFrame({"x": [1.0, 2.0]}), {"label_column": "target"}, "no label column 'target'"),
    (pd.DataFrame({"x": [np.nan, np.nan], "y": [1.0, 2.0]}), {}, "'x' has no values"),
    (pd.DataFrame({"x": ["1", "two", "3"]}), {"numeric_columns": ["x"]},
     "numeric but holds 'two'"),
    (pd.DataFrame({"x": [1.0, np.inf]}), {}, "infinite value"),
    (pd.DataFrame({"x": [1.0, 2.0]}), {"categorical_columns": ["nope"]}, "'nope'"),
    (pd.DataFrame({"x": [1.0, 2.0]}), {"numeric_columns": ["x"], "categorical_columns": ["x"]},
     "both numeric and categorical"),
    (pd.DataFrame({"x": [f"id{i}" for i in range(10)]}), {"max_levels": 3}, "5 distinct values"),
    (pd.DataFrame({"x": [1.0, 2.0]}), {"ignore_columns": ["x"]}, "no feature columns"),
    (np.zeros((4,)), {}, "2-d array"),
])
def test_bad_tables_are_one_line_data_errors(table, options, expected):
    with pytest.raises(DataError) as error:
        table_splits(table, name="t", holdout_fraction=0.5, **options)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_a_missing_label_column_says_which_columns_exist_and_the_fix():
    with pytest.raises(DataError, match=r"columns: 'x'\); fix data.options.label_column"):
        table_splits(pd.DataFrame({"x": [1.0, 2.0]}), name="t", label_column="target")


def test_rows_without_a_label_are_dropped_with_a_note():
    frame = pd.DataFrame({"x": np.arange(10.0), "label": ["a", "b"] * 4 + [None, np.nan]})
    splits = table_splits(frame, name="t", label_column="label", holdout_fraction=0.5)
    assert len(splits.train) + len(splits.test) == 8
    assert any("2 row(s) without a label dropped" in note for note in splits.info["notes"])


def test_arrays_and_tensors_read_as_numeric_tables():
    x = np.random.default_rng(0).normal(size=(30, 3))
    for table in (x, torch.from_numpy(x)):
        splits = table_splits(table, np.arange(30) % 3, name="a")
        assert splits.info["columns"]["numeric"] == ["feature_0", "feature_1", "feature_2"]
        assert splits.train.x.shape == (24, 3)


def test_a_mixed_table_as_one_object_array_keeps_its_number_columns_numeric():
    frame = people().drop(columns=["label"])
    splits = table_splits(frame.to_numpy(), name="a")
    kinds = splits.info["columns"]["kinds"]
    assert kinds["feature_0"] == "number" and kinds["feature_2"] == "integer, 3 values"
    assert kinds["feature_3"] == "text" and kinds["feature_4"] == "bool"


def test_csv_parquet_and_npz_files_are_read_with_the_recipe_options(tmp_path):
    frame = people()
    frame.to_csv(tmp_path / "people.csv", index=False)
    frame.to_parquet(tmp_path / "people.parquet")
    options = {"label_column": "label", "categorical_columns": ["age"]}
    for name in ("people.csv", "people.parquet"):
        splits = resolve_dataset(str(tmp_path / name), modality="tabular",
                                 reader_options=options)
        assert "age" in splits.info["columns"]["categorical"]
        assert splits.info["classes"] == ["no", "yes"]
    np.savez(tmp_path / "numbers.npz", x=np.random.default_rng(0).normal(size=(20, 4)),
             y=np.arange(20) % 2)
    splits = resolve_dataset(str(tmp_path / "numbers.npz"), modality="tabular")
    assert splits.train.x.shape[1] == 4 and splits.modality == "tabular"


def test_an_unreadable_file_is_a_one_line_error(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot read") as error:
        resolve_dataset(str(tmp_path / "bad.parquet"), modality="tabular")
    assert "\n" not in str(error.value)


def test_dataframes_and_tuples_are_in_memory_datasets():
    frame = people()
    labels = frame.pop("label")
    splits = resolve_dataset((frame, labels.to_numpy()), modality="tabular")
    assert isinstance(splits.train, TableDataset) and splits.info["num_classes"] == 2
    splits = resolve_dataset(people(), modality="tabular",
                             reader_options={"label_column": "label"})
    assert splits.info["columns"]["label"] == "label"


def test_subsets_keep_rows_and_frame_together():
    splits = table_splits(people(), name="people", label_column="label")
    part = splits.train.subset(torch.tensor([3, 1]))
    assert part.frame["age"].tolist() == splits.train.frame["age"].iloc[[3, 1]].tolist()
    assert torch.equal(part.x, splits.train.x[[3, 1]])


def test_encoder_inputs_and_raw_features_of_a_table():
    splits = table_splits(people(), name="people", label_column="label")
    inputs = table_encoder_inputs(splits)
    assert inputs["num_continuous"] == 3 and inputs["cardinalities"] == [3, 4, 2]
    assert TableSchema.from_dict(json.loads(json.dumps(inputs["schema"]))) == splits.train.schema
    features, note = table_raw_features(splits.train.x)
    assert features is splits.train.x and "one-hot" in note


def test_rows_to_embed_are_encoded_by_the_encoders_own_schema():
    splits = table_splits(people(), name="people", label_column="label")
    encoder = TabularMLP(**table_encoder_inputs(splits), hidden_dims=[8], out_dim=4)
    frame = people(10, seed=3).drop(columns=["label"])
    by_name = encode_for(to_samples(frame, "tabular"), encoder)
    expected, _ = splits.train.schema.encode(frame, "t")
    assert torch.equal(by_name, expected)
    reordered = frame[list(reversed(frame.columns))]
    assert torch.equal(encode_for(to_samples(reordered, "tabular"), encoder), expected)
    positional = frame[splits.train.schema.columns].to_numpy()
    assert torch.equal(encode_for(to_samples(positional, "tabular"), encoder), expected)
    with pytest.raises(DataError, match="lacks column"):
        encode_for(frame.drop(columns=["city"]), encoder)


def test_a_table_read_afresh_is_encoded_again_by_the_encoders_schema():
    first = table_splits(people(), name="people", label_column="label")
    encoder = TabularMLP(**table_encoder_inputs(first), hidden_dims=[8], out_dim=4)
    other = table_splits(people(seed=5), name="people", label_column="label")
    prepared = splits_for(other, encoder)
    expected, _ = first.train.schema.encode(other.test.frame, "t")
    assert torch.equal(prepared.test.x, expected)
    assert splits_for(first, encoder) is first


@pytest.mark.parametrize("name, rows, classes", [
    ("breast_cancer", 569, 2), ("wine", 178, 3), ("credit_data", 4454, 2),
    ("telco_churn", 7043, 2), ("hmda", 2380, 2), ("affairs", 6366, 2)])
def test_builtin_tables_load_offline(name, rows, classes):
    from contrastlearn.core.registry import DATASETS

    assert DATASETS.tags(name)["modality"] == "tabular"
    splits = DATASETS.get(name)()
    assert len(splits.train) + len(splits.test) == rows
    assert splits.info["num_classes"] == classes
    assert splits.train.x.shape[1] == splits.info["columns"]["width"]
    if rows >= 1000:
        assert splits.info["columns"]["numeric"] and splits.info["columns"]["categorical"]


def test_builtin_tables_take_the_recipes_column_options():
    splits = resolve_dataset("hmda", modality="tabular",
                             reader_options={"numeric_columns": ["chist"],
                                             "ignore_columns": ["afam"]})
    assert "chist" in splits.info["columns"]["numeric"]
    assert "afam" not in splits.info["columns"]["kinds"]
