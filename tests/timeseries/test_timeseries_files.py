"""Time-series files as datasets: .ts and .arff (aeon's readers) and .csv, the _TRAIN/_TEST
pairing, NaN padding of unequal lengths, labels, groups, every kind of bad file, regression
targets, and a run from a file through the API and the CLI."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import contrastlearn
import contrastlearn.modalities.timeseries.files  # noqa: F401  (registers the readers)
from contrastlearn.cli import main
from contrastlearn.core.registry import DATASETS, MODALITIES
from contrastlearn.data.arrays import ArrayDataset, DataError, DatasetSplits
from contrastlearn.data.resolve import resolve_dataset
from contrastlearn.evaluation import linear_probe
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder

aeon = pytest.importorskip("aeon")
AEON_DATA = Path(aeon.__file__).parent / "datasets" / "data"
REGRESSION = r"look like a regression target \(\d+ distinct non-integer values.*classification " \
             r"protocols \(svm, linear_probe, knn, \.\.\.\) need class labels"


def waves(labels: list, length: int = 24, channels: int = 1, seed: int = 0) -> list[np.ndarray]:
    """One (channels, length) sine per label, its frequency set by the label's position."""
    rng = np.random.default_rng(seed)
    frequency = {label: index + 1 for index, label in enumerate(sorted(set(map(str, labels))))}
    t = np.linspace(0, 2 * np.pi, length)
    return [np.stack([np.sin(frequency[str(label)] * t + rng.normal()) for _ in range(channels)])
            for label in labels]


def write_ts(path: Path, series: list[np.ndarray], labels: list | None = None, *,
             regression: bool = False) -> Path:
    """A .ts file in the UCR/UEA text format (as aeon's bundled GunPoint_TRAIN.ts)."""
    lengths = {item.shape[1] for item in series}
    header = ["@problemName test", "@timeStamps false", "@missing false",
              f"@univariate {str(series[0].shape[0] == 1).lower()}",
              f"@dimensions {series[0].shape[0]}", f"@equalLength {str(len(lengths) == 1).lower()}"]
    if len(lengths) == 1:
        header.append(f"@seriesLength {lengths.pop()}")
    if labels is None:
        header.append("@classLabel false")
    elif regression:
        header.append("@targetLabel true")
    else:
        header.append("@classLabel true " + " ".join(sorted(set(map(str, labels)))))
    rows = []
    for index, item in enumerate(series):
        cells = [",".join(f"{value:.6f}" for value in channel) for channel in item]
        rows.append(":".join(cells + ([] if labels is None else [str(labels[index])])))
    path.write_text("\n".join(header + ["@data"] + rows) + "\n")
    return path


def write_arff(path: Path, series: list[np.ndarray], labels: list) -> Path:
    """A univariate WEKA .arff file, one attribute per time step and a nominal class."""
    length = series[0].shape[1]
    lines = ["@relation test", ""] + [f"@attribute att{i} numeric" for i in range(length)]
    lines += ["@attribute target {" + ",".join(sorted(set(map(str, labels)))) + "}", "", "@data"]
    lines += [",".join(f"{value:.6f}" for value in item[0]) + f",{label}"
              for item, label in zip(series, labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_csv(path: Path, rows: list[list], header: list[str] | None = None) -> Path:
    lines = ([",".join(header)] if header else []) + [",".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def read(path: Path) -> DatasetSplits:
    return resolve_dataset(path, modality="timeseries")


def by_id(splits: DatasetSplits) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Train and test merged back into file order (holdouts shuffle them)."""
    ids = torch.cat([splits.train.ids, splits.test.ids])
    order = ids.argsort()
    x = torch.cat([splits.train.x, splits.test.x])[order]
    y = None if splits.train.y is None else torch.cat([splits.train.y, splits.test.y])[order]
    return x, y


# .ts and .arff


def test_ts_train_test_pair_equal_length(tmp_path):
    train_labels, test_labels = ["-1", "1", "10", "2"] * 3, ["2", "-1", "10", "1"]
    train = write_ts(tmp_path / "Waves_TRAIN.ts", waves(train_labels), train_labels)
    write_ts(tmp_path / "Waves_TEST.ts", waves(test_labels, seed=1), test_labels)
    splits = read(train)
    assert splits.info["test_split"] == "test" and splits.info["sample_shape"] == [1, 24]
    assert (len(splits.train), len(splits.test)) == (12, 4)
    assert splits.train.y.tolist() == [0, 1, 3, 2] * 3  # numbers sort numerically: -1, 1, 2, 10
    assert splits.test.y.tolist() == [2, 0, 3, 1]
    expected = torch.as_tensor(np.stack(waves(train_labels)), dtype=torch.float32)
    torch.testing.assert_close(splits.train.x, expected, atol=1e-6, rtol=0)


def test_unequal_length_multivariate_ts_is_padded_never_truncated(tmp_path):
    labels = ["a", "b"] * 5
    series = [item[:, : 10 + index] for index, item in enumerate(waves(labels, 20, channels=2))]
    splits = read(write_ts(tmp_path / "uneven.ts", series, labels))
    assert splits.info["test_split"].startswith("holdout")
    assert splits.info["padded"] and (splits.info["min_length"], splits.info["max_length"]) == (
        10, 19)
    x, y = by_id(splits)
    assert x.shape == (10, 2, 19) and y.tolist() == [0, 1] * 5
    for item, original in zip(x, series):
        length = original.shape[1]
        torch.testing.assert_close(item[:, :length], torch.as_tensor(original).float(),
                                   atol=1e-6, rtol=0)
        assert torch.isnan(item[:, length:]).all()


def test_string_labels_are_coded_over_both_splits_and_pairing_ignores_case(tmp_path):
    train_labels, test_labels = ["walk", "run"] * 3, ["run", "jump", "jump"]
    train = write_ts(tmp_path / "Motion_train.ts", waves(train_labels), train_labels)
    write_ts(tmp_path / "Motion_Test.ts", waves(test_labels), test_labels)
    splits = read(train)
    assert splits.info["test_split"] == "test" and splits.info["num_classes"] == 3
    assert splits.train.y.tolist() == [2, 1] * 3 and splits.test.y.tolist() == [1, 0, 0]


def test_unlabelled_ts_and_a_test_file_alone(tmp_path):
    splits = read(write_ts(tmp_path / "plain.ts", waves([0] * 6)))
    assert splits.train.y is None and splits.test.y is None
    test_only = read(write_ts(tmp_path / "x_TEST.ts", waves(["a", "b"] * 4), ["a", "b"] * 4))
    assert test_only.info["test_split"].startswith("holdout")  # a _TEST file pairs with nothing


def test_arff_written_and_bundled(tmp_path):
    labels = ["up", "down"] * 5
    splits = read(write_arff(tmp_path / "steps.arff", waves(labels, 16), labels))
    x, y = by_id(splits)
    assert x.shape == (10, 1, 16) and y.tolist() == [1, 0] * 5
    motions = read(AEON_DATA / "BasicMotions" / "BasicMotions_TRAIN.arff")  # multivariate arff
    assert motions.info["sample_shape"] == [6, 100] and motions.info["num_classes"] == 4


def test_bundled_ts_pair_matches_the_registered_dataset():
    splits = read(AEON_DATA / "GunPoint" / "GunPoint_TRAIN.ts")
    registered = DATASETS.build("GunPoint")
    for ours, theirs in ((splits.train, registered.train), (splits.test, registered.test)):
        torch.testing.assert_close(ours.x, theirs.x)
        assert torch.equal(ours.y, theirs.y)


# .csv


def test_csv_with_header_label_and_group_columns(tmp_path):
    labels = ["cat", "dog", "cat", "dog", "cat", "dog"]
    rows = [[f"s{index // 2}", label, *np.round(item[0], 4)]
            for index, (item, label) in enumerate(zip(waves(labels, 8), labels))]
    header = ["Group", " Label "] + [f"t{i}" for i in range(8)]  # names in any case and spacing
    path = write_csv(tmp_path / "pets.csv", rows, header)
    splits = read(path)
    assert splits.info["sample_shape"] == [1, 8] and "num_groups" in splits.info
    x = torch.cat([splits.train.x, splits.test.x])[:, 0]
    y = torch.cat([splits.train.y, splits.test.y])
    ids = torch.cat([splits.train.ids, splits.test.ids])  # the group codes of s0, s1, s2
    written = torch.tensor([row[2:] for row in rows]).float()
    for values, label, group in zip(x, y, ids):
        row = rows[int(((written - values).abs().amax(dim=1) < 1e-6).nonzero()[0])]
        assert row[0] == f"s{int(group)}" and row[1] == ["cat", "dog"][int(label)]


def test_csv_headerless_values_and_y_column(tmp_path):
    plain = read(write_csv(tmp_path / "plain.csv", [[1, 2, 3], [4, 5, 6], [7, 8, 9]]))
    x, y = by_id(plain)
    assert y is None and x[:, 0].tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    labelled = read(write_csv(tmp_path / "y.csv", [[0.5, 1.5, 3], [2.5, 0.5, 1]] * 3,
                              ["a", "b", "y"]))
    assert by_id(labelled)[1].tolist() == [1, 0] * 3


def test_csv_trailing_empty_cells_pad_and_inner_ones_are_missing(tmp_path):
    path = write_csv(tmp_path / "ragged.csv", [[1, 2, 3, "", ""], [1, 2, 3, 4, 5], [1, 2]])
    x, _ = by_id(read(path))
    assert x.shape == (3, 1, 5) and torch.isnan(x[0, 0, 3:]).all()
    assert torch.isfinite(x[2, 0, :2]).all() and torch.isnan(x[2, 0, 2:]).all()
    with pytest.raises(DataError, match=r"missing values \(NaN\) inside 1 series"):
        read(write_csv(tmp_path / "hole.csv", [[1, "", 3], [1, 2, 3], [4, 5, 6]]))


def test_csv_train_test_pair(tmp_path):
    header = ["label", "t0", "t1", "t2"]
    train = write_csv(tmp_path / "d_TRAIN.csv", [["b", 1, 2, 3], ["a", 3, 2, 1]] * 2, header)
    write_csv(tmp_path / "d_TEST.csv", [["c", 0, 0, 1], ["a", 1, 0, 0]], header)
    splits = read(train)
    assert splits.info["test_split"] == "test"
    assert splits.train.y.tolist() == [1, 0, 1, 0] and splits.test.y.tolist() == [2, 0]


@pytest.mark.parametrize("header,rows,message", [
    (None, [[1, 2, "cat"], [3, 4, "dog"]], r"line 2, column 3: 'dog' is not a number.*'label'"),
    (["label", "y", "t0"], [[0, 1, 2.0]], r"more than one label column \(label, y\)"),
    (["t0", "t1", "label"], [[1, 2, 0], [3, 4, ""]], r"line 3: the 'label' cell is empty"),
    (["t0", "t1", "label"], [], r"has a header row but no series"),
])
def test_bad_csv_files_are_clear_errors(tmp_path, header, rows, message):
    path = write_csv(tmp_path / "bad.csv", rows, header)
    with pytest.raises(DataError, match=message) as error:
        read(path)
    assert "bad.csv" in str(error.value)


def test_labels_in_one_file_of_a_pair_only(tmp_path):
    train = write_ts(tmp_path / "p_TRAIN.ts", waves(["a", "b"] * 2), ["a", "b"] * 2)
    write_ts(tmp_path / "p_TEST.ts", waves([0, 0]))
    with pytest.raises(DataError, match="one has class labels and the other has none"):
        read(train)


# bad files, any format


@pytest.mark.parametrize("suffix", [".ts", ".arff", ".csv"])
def test_missing_corrupt_and_empty_files(tmp_path, suffix):
    with pytest.raises(DataError, match=r"dataset file '.*absent\.\w+' does not exist"):
        read(tmp_path / f"absent{suffix}")
    garbage = tmp_path / f"garbage{suffix}"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe\xfa" + bytes(range(128, 256)))
    with pytest.raises(DataError, match=rf"cannot read '.*{re.escape(garbage.name)}' as a"):
        read(garbage)
    empty = tmp_path / f"empty{suffix}"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"'.*empty\.\w+' holds no series"):
        read(empty)


def test_malformed_ts_values_name_the_file(tmp_path):
    path = write_ts(tmp_path / "typo.ts", waves(["a", "b"]), ["a", "b"])
    path.write_text(path.read_text().replace("0.", "O.", 1))
    with pytest.raises(DataError, match=r"cannot read '.*typo\.ts' as a \.ts file: ValueError"):
        read(path)


def test_unknown_suffix_lists_what_is_readable(tmp_path):
    sheet = tmp_path / "data.xlsx"
    sheet.write_bytes(b"PK")
    with pytest.raises(DataError, match=r"reads \(\.npz, \.arff, \.csv, \.ts\), nor a folder$"):
        read(sheet)
    series = write_ts(tmp_path / "s.ts", waves([0, 0]))
    with pytest.raises(DataError, match=r"\.ts files are read by the timeseries modality"):
        resolve_dataset(series, modality="image")


def test_registered_readers_match_suffixes_in_any_case(tmp_path, monkeypatch):
    series = MODALITIES.get("timeseries")
    waves_reader = {".waves": lambda path: {"x": np.ones((10, 6)), "y": [0, 1] * 5}}
    monkeypatch.setitem(MODALITIES._entries, "timeseries",
                        replace(series, file_readers=waves_reader))
    path = tmp_path / "four.WAVES"
    path.write_text("anything")
    splits = read(path)
    assert splits.info["name"] == "four" and (len(splits.train), len(splits.test)) == (8, 2)


# regression targets


def test_regression_targets_are_refused_when_read(tmp_path):
    targets = [0.25, 1.5, 2.0, 0.75]
    with pytest.raises(DataError, match=r"reg\.ts': the targets " + REGRESSION):
        read(write_ts(tmp_path / "reg.ts", waves([0] * 4), targets, regression=True))
    csv = write_csv(tmp_path / "reg.csv", [[t, 1, 2] for t in targets], ["y", "t0", "t1"])
    with pytest.raises(DataError, match=r"\(3 distinct non-integer values, e\.g\. 0\.25, 0\.75"):
        read(csv)
    whole = write_csv(tmp_path / "counts.csv", [[t, 1, 2] for t in (1.0, 2.0, 1.0, 2.0)],
                      ["label", "t0", "t1"])
    assert by_id(read(whole))[1].tolist() == [0, 1, 0, 1]  # integer-valued floats are classes


def test_regression_target_file_stops_pretrain_before_training(tmp_path):
    path = write_ts(tmp_path / "reg.ts", waves([0] * 8), np.linspace(0, 1, 8).tolist(),
                    regression=True)
    with pytest.raises(DataError, match=REGRESSION):
        contrastlearn.pretrain("ts2vec", dataset=str(path), out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_regression_targets_given_to_classification_protocols(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="train labels must be integer class ids, but they "
                                         + REGRESSION):
        linear_probe(rng.normal(size=(8, 3)), rng.random(8), rng.normal(size=(4, 3)),
                     np.arange(4) % 2)
    x = torch.as_tensor(np.stack(waves([0, 1] * 6)), dtype=torch.float32)
    targets = torch.linspace(0, 1, 12)
    splits = DatasetSplits(ArrayDataset(x[:8], targets[:8]),
                           ArrayDataset(x[8:], targets[8:]), "timeseries")
    encoder = TS2VecEncoder(in_channels=1, hidden_dim=4, out_dim=8, depth=1)
    results = contrastlearn.evaluate(encoder, splits, protocols=["svm", "knn"],
                                     labels_per_class=[], strict=False)
    assert [result.protocol for result in results] == ["svm", "knn"]
    for result in results:
        assert result.metric == "not_applicable"
        assert "regression target (7 distinct" in result.settings["reason"]


# end to end


def test_pretrain_from_a_ts_pair(tmp_path):
    labels = [0, 1, 2] * 8
    train = write_ts(tmp_path / "Tri_TRAIN.ts", waves(labels[:18], 32), labels[:18])
    write_ts(tmp_path / "Tri_TEST.ts", waves(labels[18:], 32, seed=1), labels[18:])
    run = contrastlearn.pretrain(
        "ts2vec", dataset=str(train), out=tmp_path / "run", progress=False,
        overrides={"train.steps": 2, "encoder.kwargs.depth": 2, "encoder.kwargs.hidden_dim": 8,
                   "encoder.kwargs.out_dim": 16, "eval.protocols": ["knn"],
                   "eval.raw_baseline": False})
    assert run.training.steps == 2 and run.result("knn").split == "test"
    assert run.recipe.data.dataset == str(train.resolve())
    recorded = json.loads((run.run_dir / "data.json").read_text())
    assert (recorded["num_train"], recorded["num_test"]) == (18, 6)


@pytest.mark.filterwarnings("ignore:step 2. embeddings look collapsed")  # 2 steps, tiny model
def test_cli_pretrain_from_a_csv(tmp_path, capsys):
    labels = ["slow", "fast"] * 10
    rows = [[label, *np.round(item[0], 4)] for item, label in zip(waves(labels, 32), labels)]
    path = write_csv(tmp_path / "speed.csv", rows, ["label"] + [f"t{i}" for i in range(32)])
    out = tmp_path / "run"
    assert main(["pretrain", "--recipe", "ts2vec", "--dataset", str(path), "--out", str(out),
                 "--no-progress", "--set", "train.steps=2", "--set", "encoder.kwargs.depth=2",
                 "--set", "encoder.kwargs.hidden_dim=8", "--set", "encoder.kwargs.out_dim=16",
                 "--set", "eval.protocols=[knn]", "--set", "eval.raw_baseline=false"]) == 0
    printed = capsys.readouterr().out
    assert "knn" in printed and "2 steps" in printed
    assert main(["pretrain", "--recipe", "ts2vec", "--dataset", str(tmp_path / "no.csv"),
                 "--out", str(tmp_path / "other")]) == 2
    assert "does not exist" in capsys.readouterr().err
