import json
import os

import numpy as np
import pytest
import torch

from contrastlearn.evaluation import Result, load_results, save_results
from contrastlearn.evaluation import result as result_module


def test_str_reads_like_a_table_row():
    result = Result("linear_probe", "top1", 0.93406, "test", {"weight_decay": 1e-4})
    assert str(result) == "linear_probe top1 = 93.41% (test)"


def test_str_with_std_and_seeds():
    result = Result("few_label_knn", "top1", 0.8, "test", {}, std=0.0123, num_seeds=5)
    assert str(result) == "few_label_knn top1 = 80.00% ± 1.23% (test, 5 seeds)"


def test_to_dict_is_json_safe_and_round_trips():
    result = Result(
        "few_label_linear_probe", "top1", 0.5, "test",
        settings={"seeds": (0, 1), "k": np.int64(5), "scale": np.float32(0.5),
                  "tensor": torch.tensor(2.5), "device": torch.device("cpu"),
                  "nested": {"array": np.arange(3)}},
        std=0.1, num_seeds=2,
    )
    data = result.to_dict()
    text = json.dumps(data)
    back = Result.from_dict(json.loads(text))
    assert back.settings == {"seeds": [0, 1], "k": 5, "scale": 0.5, "tensor": 2.5,
                             "device": "cpu", "nested": {"array": [0, 1, 2]}}
    assert (back.protocol, back.metric, back.value, back.split) == (
        "few_label_linear_probe", "top1", 0.5, "test")
    assert back.std == 0.1 and back.num_seeds == 2
    assert Result.from_dict(back.to_dict()) == back


def test_from_dict_rejects_unknown_and_missing_keys():
    with pytest.raises(ValueError, match="unknown Result keys"):
        Result.from_dict({"protocol": "knn", "metric": "top1", "value": 1.0, "split": "test",
                          "accuracy": 1.0})
    with pytest.raises(ValueError, match="missing required keys"):
        Result.from_dict({"protocol": "knn", "metric": "top1"})


def test_save_and_load_atomically(tmp_path):
    path = tmp_path / "results.json"
    results = [Result("knn", "top1", 0.9, "test", {"k": 200}),
               Result("few_label_knn", "top1", 0.7, "test", {"seeds": (0, 1)}, 0.01, 2)]
    save_results(results, path)
    assert os.listdir(tmp_path) == ["results.json"]  # no temporary file left behind
    loaded = load_results(path)
    assert [r.to_dict() for r in loaded] == [r.to_dict() for r in results]
    assert isinstance(json.loads(path.read_text()), list)
    save_results(results[:1], path)  # overwrite
    assert len(load_results(path)) == 1
    assert os.listdir(tmp_path) == ["results.json"]


def test_failed_save_keeps_old_file_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    save_results([Result("knn", "top1", 0.9, "test", {})], path)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(result_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_results([Result("knn", "top1", 0.1, "test", {})], path)
    assert os.listdir(tmp_path) == ["results.json"]
    assert load_results(path)[0].value == 0.9


def test_load_rejects_non_list(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"protocol": "knn"}')
    with pytest.raises(ValueError, match="JSON list"):
        load_results(path)
