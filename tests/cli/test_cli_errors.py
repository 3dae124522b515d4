"""Mistakes a newcomer makes get one line that names the problem and the fix, exit code 2,
never a traceback; a dataset's room picks the recipe when none is given; --quick is quick."""

from __future__ import annotations

import pytest
import yaml

from contrastlearn.api import pretrain
from contrastlearn.cli import main
from tests.conftest import tiny_recipe_dict


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-errors")
    recipe = folder / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe_dict()))
    out = folder / "run"
    assert main(["pretrain", "--recipe", str(recipe), "--out", str(out), "--no-progress",
                 "--max-steps", "2", "--set", "eval.protocols=[knn]"]) == 0
    return out


def _one_line_error(capsys, *needles: str) -> str:
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "\n" not in error, error
    for needle in needles:
        assert needle in error, error
    return error


@pytest.mark.parametrize(("argv", "needles"), [
    (["pretrain", "--set", "train.lr=[0.1"], ["--set", "not valid YAML"]),
    (["pretrain", "--set", "train.lrr=0.1"], ["unknown key 'train.lrr'", "'train.lr'"]),
    (["pretrain", "--set", "trian.lr=0.1"], ["'trian' is not a recipe section", "'train.lr'"]),
    (["evaluate", "not-a-run"], ["does not exist", "needs a run directory", "--out"]),
    (["pretrain", "--out", "missing-run", "--resume"], ["--resume needs a run directory"]),
])
def test_mistakes_get_one_line_before_any_work(tmp_path, monkeypatch, capsys, argv, needles):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    _one_line_error(capsys, *needles)


def test_a_folder_that_is_not_a_run_is_named_as_such(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    assert main(["evaluate", str(tmp_path)]) == 2
    _one_line_error(capsys, "is not a run directory")


def test_resume_without_out_names_the_flag():
    with pytest.raises(ValueError, match="pass --out RUN_DIR"):
        pretrain(resume=True)


def test_damaged_export_and_os_errors_are_one_line(finished_run, tmp_path, capsys):
    weights = finished_run / "encoder" / "model.safetensors"
    good = weights.read_bytes()
    try:
        weights.write_bytes(good[:40])  # a cut-off file
        assert main(["evaluate", str(finished_run), "--protocol", "knn"]) == 2
        _one_line_error(capsys)
    finally:
        weights.write_bytes(good)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    inputs = tmp_path / "x.npy"
    import numpy as np

    np.save(inputs, np.zeros((2, 1, 8, 8), dtype=np.float32))
    assert main(["embed", str(finished_run), "--input", str(inputs),
                 "--output", str(a_file / "out.npy")]) == 2
    _one_line_error(capsys, "file")


def test_a_series_dataset_without_recipe_gets_its_rooms_recipe(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", "--dataset", "GunPoint", "--out", str(out), "--no-progress",
                 "--max-steps", "2", "--set", "eval.protocols=[knn]"]) == 0
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    assert recipe["data"]["modality"] == "timeseries" and recipe["method"]["name"] == "ts2vec"


def test_quick_caps_training_and_evaluation(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", "--quick", "--max-steps", "2", "--out", str(out), "--no-progress",
                 "--set", "eval.limit=100", "--set", "eval.protocols=[knn]"]) == 0
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    assert recipe["train"]["max_steps"] == 2 and recipe["data"]["limit"] == 2048
    assert recipe["eval"]["limit"] == 100
    assert "(100 test items" in capsys.readouterr().out
