"""CLI smoke tests: each command runs and bad input gives a clear error, not a traceback."""

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from contrastlearn.cli import main
from tests.conftest import tiny_recipe_dict


@pytest.fixture
def recipe_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_recipe_dict()))
    return path


def test_help_runs_as_module():
    completed = subprocess.run([sys.executable, "-m", "contrastlearn", "--help"],
                               capture_output=True, text=True, check=True)
    assert "pretrain" in completed.stdout and "evaluate" in completed.stdout


def test_pretrain_evaluate_embed(tmp_path, recipe_file, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", "--recipe", str(recipe_file), "--epochs", "1", "--batch-size", "32",
                 "--out", str(out), "--no-progress", "--set", "method.kwargs.hidden_dim=16"]) == 0
    printed = capsys.readouterr().out
    assert "linear_probe" in printed and "raw input" in printed
    saved = yaml.safe_load((out / "recipe.yaml").read_text())
    assert saved["train"]["epochs"] == 1 and saved["train"]["batch_size"] == 32
    assert saved["method"]["kwargs"]["hidden_dim"] == 16
    results = json.loads((out / "results.json").read_text())
    assert {"protocol", "metric", "value", "split", "settings"} <= set(results[0])

    assert main(["evaluate", str(out), "--protocol", "knn", "--output",
                 str(tmp_path / "eval.json")]) == 0
    assert json.loads((tmp_path / "eval.json").read_text())[0]["protocol"] == "knn"

    np.savez(tmp_path / "inputs.npz", x=np.random.default_rng(0).random((6, 8, 8)))
    assert main(["embed", str(out), "--input", str(tmp_path / "inputs.npz"), "--output",
                 str(tmp_path / "emb.npy")]) == 0
    assert np.load(tmp_path / "emb.npy").shape == (6, 16)
    np.save(tmp_path / "inputs.npy", np.random.default_rng(1).random((3, 8, 8)))
    assert main(["embed", str(out), "--input", str(tmp_path / "inputs.npy"), "--output",
                 str(tmp_path / "emb2.npy")]) == 0
    assert np.load(tmp_path / "emb2.npy").shape == (3, 16)
    assert main(["embed", str(out), "--input", str(tmp_path / "missing.npy"), "--output",
                 str(tmp_path / "emb3.npy")]) == 2
    assert "does not exist" in capsys.readouterr().err

    # an existing run directory is refused, and nothing in it changes
    before = (out / "results.json").read_bytes()
    assert main(["pretrain", "--recipe", str(recipe_file), "--out", str(out),
                 "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert (out / "results.json").read_bytes() == before


def test_npz_dataset_from_cli(tmp_path, recipe_file, capsys):
    rng = np.random.default_rng(0)
    x = rng.random((80, 8, 8)).astype(np.float32)
    y = np.repeat(np.arange(4), 20)
    np.savez(tmp_path / "data.npz", x=x, y=y, x_test=x[:20], y_test=y[:20])
    assert main(["pretrain", "--recipe", str(recipe_file), "--dataset", str(tmp_path / "data.npz"),
                 "--epochs", "1", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    assert "on split 'test'" in capsys.readouterr().out


def test_listing_commands(capsys):
    assert main(["methods"]) == 0
    methods = capsys.readouterr().out
    assert all(name in methods for name in ("simclr", "moco_v2", "byol", "swav", "supcon"))
    assert main(["datasets"]) == 0
    datasets = capsys.readouterr().out
    assert "digits" in datasets and "fashion-mnist" in datasets and ".npz" in datasets
    assert main(["recipes"]) == 0
    assert "fashion-mnist-simclr" in capsys.readouterr().out


def test_bad_recipe_key_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  learning_rate: 0.1\n")
    assert main(["pretrain", "--recipe", str(bad), "--out", str(tmp_path / "r")]) == 2
    error = capsys.readouterr().err
    assert "train.learning_rate" in error and "bad.yaml" in error
    assert not (tmp_path / "r").exists()


def test_killed_run_resumes_from_cli(tmp_path, recipe_file, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", "--recipe", str(recipe_file), "--max-steps", "3", "--out", str(out),
                 "--no-progress", "--set", "train.checkpoint_every_steps=1"]) == 0
    assert main(["pretrain", "--out", str(out), "--resume", "--no-progress",
                 "--set", "train.max_steps=null"]) == 0
    printed = capsys.readouterr().out
    assert "8 steps" in printed
    assert yaml.safe_load((out / "recipe.yaml").read_text())["train"]["max_steps"] is None
