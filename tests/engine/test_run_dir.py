"""Run directories: never a user's folder deleted, one writer at a time, crashed told apart
from running, and a run that fails before its first step blocks nothing. The overwrite and
two-writer cases run real `contrastlearn` processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from contrastlearn.cli import main
from contrastlearn.core.atomic import OWNER_MARK
from contrastlearn.engine.run_dir import (
    LOCK_NAME,
    TRASH_NAME,
    RunDirectoryExists,
    RunDirectoryInUse,
    open_run_dir,
    run_status,
)
from tests.conftest import tiny_recipe_dict


@pytest.fixture
def recipe_file(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_recipe_dict()))
    return path


def _contrastlearn(*args: str, wait: bool = True):
    command = [sys.executable, "-m", "contrastlearn", *args]
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def _tiny_run(recipe_file: Path, out: Path, *extra: str) -> list[str]:
    return ["pretrain", "--recipe", str(recipe_file), "--out", str(out), "--no-progress",
            "--max-steps", "2", "--set", "eval.protocols=[knn]", *extra]


def test_overwrite_never_deletes_a_folder_the_library_did_not_make(tmp_path, recipe_file):
    project = tmp_path / "proj"
    (project / "checkpoints").mkdir(parents=True)
    (project / "src").mkdir()
    (project / "precious.txt").write_text("thesis")
    done = _contrastlearn(*_tiny_run(recipe_file, project, "--overwrite"))
    assert done.returncode == 2, done.stderr
    assert "contrastlearn did not make it" in done.stderr and "Traceback" not in done.stderr
    assert (project / "precious.txt").read_text() == "thesis"
    assert sorted(p.name for p in project.iterdir()) == ["checkpoints", "precious.txt", "src"]


@pytest.mark.slow  # 20-30 s: trains through subprocesses; the suite keeps under 8 minutes
def test_overwrite_refuses_a_run_holding_foreign_files_and_moves_a_clean_one_aside(
        tmp_path, recipe_file, capsys):
    out = tmp_path / "run"
    assert main(_tiny_run(recipe_file, out)) == 0
    assert (out / OWNER_MARK).is_file()
    (out / "notes.txt").write_text("mine")
    assert main(_tiny_run(recipe_file, out, "--overwrite")) == 2
    assert "notes.txt" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()
    before = (out / "encoder" / "model.safetensors").read_bytes()
    replaced = _contrastlearn(*_tiny_run(recipe_file, out, "--overwrite", "--seed", "3"))
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads((out / OWNER_MARK).read_text())["pid"] != os.getpid()  # the new writer
    assert (out / "encoder" / "model.safetensors").read_bytes() != before
    assert not (tmp_path / TRASH_NAME).exists()  # the old run is gone only after the new one


def test_an_overwrite_that_fails_before_training_puts_the_old_run_back(tmp_path, recipe_file):
    out = tmp_path / "run"
    assert main(_tiny_run(recipe_file, out)) == 0
    before = (out / "encoder" / "model.safetensors").read_bytes()
    assert main(_tiny_run(recipe_file, out, "--overwrite", "--dataset", "GunPoint")) == 2
    assert (out / "encoder" / "model.safetensors").read_bytes() == before
    assert not (tmp_path / TRASH_NAME).exists()


def test_an_overwrite_that_fails_after_training_keeps_the_old_run_aside(
        tmp_path, recipe_file, capsys):
    out = tmp_path / "run"
    assert main(_tiny_run(recipe_file, out)) == 0
    before = (out / "encoder" / "model.safetensors").read_bytes()
    with pytest.warns(RuntimeWarning, match="kept in"):
        assert main(_tiny_run(recipe_file, out, "--overwrite", "--set", "train.lr=1e9",
                              "--set", "train.checkpoint_every_steps=1",
                              "--set", "train.max_steps=null")) == 2
    assert "training stopped" in capsys.readouterr().err
    kept = list((tmp_path / TRASH_NAME).iterdir())
    assert len(kept) == 1
    assert (kept[0] / "encoder" / "model.safetensors").read_bytes() == before


def test_a_second_writer_is_refused_with_the_pid_of_the_first(tmp_path, recipe_file, capsys):
    out = tmp_path / "run"
    first = _contrastlearn("pretrain", "--recipe", str(recipe_file), "--out", str(out),
                           "--no-progress", "--set", "train.epochs=400",
                           "--set", "train.checkpoint_every_steps=1",
                           "--set", "eval.protocols=[knn]", wait=False)
    try:
        deadline = time.time() + 120
        while not (out / "checkpoints" / "last.ckpt").is_file():
            assert first.poll() is None, first.communicate()
            assert time.time() < deadline
            time.sleep(0.2)
        assert run_status(out)["status"] == "running"
        for extra in (["--resume"], ["--overwrite"], []):  # from this process, a second one
            assert main(["pretrain", "--out", str(out), "--no-progress",
                         *(["--recipe", str(recipe_file)] if extra != ["--resume"] else []),
                         *extra]) == 2
            assert f"being written by process {first.pid}" in capsys.readouterr().err
            assert first.poll() is None
    finally:
        first.send_signal(signal.SIGINT)
        stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 130, stderr
    assert "interrupted at step" in stderr and "--resume" in stderr
    assert "Traceback" not in stderr
    assert run_status(out)["status"] == "interrupted"
    steps = [json.loads(line).get("step") for line in (out / "metrics.jsonl").open()
             if "loss" in line]
    assert len(steps) == len(set(steps))  # nothing written twice


@pytest.mark.slow  # two racing runs
def test_two_fresh_runs_into_one_new_folder_one_wins(tmp_path, recipe_file):
    out = tmp_path / "run"
    runs = [_contrastlearn(*_tiny_run(recipe_file, out), wait=False) for _ in range(2)]
    finished = [(run.wait(timeout=300), run.communicate()[1]) for run in runs]
    codes = sorted(code for code, _ in finished)
    assert codes == [0, 2], finished
    refusal = next(stderr for code, stderr in finished if code == 2)
    assert "being written by" in refusal or "already holds a run" in refusal


def test_a_killed_run_is_crashed_not_running_and_its_stale_lock_does_not_block(
        tmp_path, recipe_file, capsys):
    out = tmp_path / "run"
    run = _contrastlearn("pretrain", "--recipe", str(recipe_file), "--out", str(out),
                         "--no-progress", "--set", "train.epochs=40",
                         "--set", "train.checkpoint_every_steps=2",
                         "--set", "eval.protocols=[knn]", wait=False)
    deadline = time.time() + 120
    while not (out / "checkpoints" / "last.ckpt").is_file():
        assert run.poll() is None and time.time() < deadline
        time.sleep(0.2)
    run.kill()
    run.wait()
    assert (out / LOCK_NAME).is_file()
    state = run_status(out)
    assert state["status"] == "crashed" and state["step"] >= 2
    assert main(["pretrain", "--out", str(out), "--recipe", str(recipe_file)]) == 2
    assert "crashed at step" in capsys.readouterr().err
    assert main(["pretrain", "--out", str(out), "--resume", "--no-progress",
                 "--set", f"train.max_steps={state['step'] + 2}"]) == 0
    assert f"resuming from step {state['step']}" in capsys.readouterr().err
    assert run_status(out)["status"] in ("stopped_early", "completed")


def test_a_run_that_fails_before_its_first_step_blocks_no_rerun(tmp_path, recipe_file,
                                                                  capsys):
    out = tmp_path / "run"
    # image views cannot take series: the run fails before its first step
    assert main(_tiny_run(recipe_file, out, "--dataset", "GunPoint")) == 2
    assert run_status(out)["status"] == "unstarted"
    assert main(_tiny_run(recipe_file, out)) == 0
    assert (out / "results.json").is_file()


def test_out_that_is_a_file_or_read_only_is_refused_before_any_work(tmp_path, monkeypatch,
                                                                   capsys):
    a_file = tmp_path / "out.txt"
    a_file.write_text("keep")
    assert main(["pretrain", "--out", str(a_file), "--max-steps", "1"]) == 2
    assert "is a file" in capsys.readouterr().err and a_file.read_text() == "keep"

    def nothing_loads(*args, **kwargs):
        raise AssertionError("data was loaded before --out was checked")

    monkeypatch.setattr("contrastlearn.api.load_run_data", nothing_loads)
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as on a read-only mount
    assert main(["pretrain", "--out", str(tmp_path / "ro" / "run"), "--max-steps", "1"]) == 2
    assert "not writable" in capsys.readouterr().err


def test_open_run_dir_refuses_a_live_writer_and_cleans_stale_temporaries(tmp_path):
    run = tmp_path / "run"
    with open_run_dir(run):
        (run / "checkpoints").mkdir()
        (run / "checkpoints" / ".last.ckpt.abc.tmp").write_bytes(b"half")
        (run / "recipe.yaml").write_text("name: x\n")
        (run / "checkpoints" / "last.ckpt").write_bytes(b"x")
        code = ("from contrastlearn.engine.run_dir import open_run_dir\n"
                f"with open_run_dir({str(run)!r}, resume=True): pass\n")
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert "RunDirectoryInUse" in other.stderr and str(os.getpid()) in other.stderr
        with pytest.raises(RunDirectoryInUse), open_run_dir(run, resume=True):
            pass
    with open_run_dir(run, resume=True):
        assert not (run / "checkpoints" / ".last.ckpt.abc.tmp").exists()
    with pytest.raises(RunDirectoryExists, match="--resume"), open_run_dir(run):
        pass


def test_a_diverged_run_resumes_from_the_checkpoint_before_with_a_sane_rate(
        tmp_path, recipe_file, capsys):
    """lr=1e6 poisons BatchNorm statistics within a few steps: no NaN/Inf ever reaches a
    checkpoint, and `--resume previous` with a sane learning rate finishes the run."""
    out = tmp_path / "run"
    assert main(["pretrain", "--out", str(out), "--no-progress",  # the default recipe
                 "--set", "train.lr=1e6", "--set", "train.checkpoint_every_steps=1"]) == 2
    error = capsys.readouterr().err
    assert "training stopped" in error and "--resume previous" in error
    assert (out / "checkpoints" / "previous.ckpt").is_file()
    assert main(["pretrain", "--out", str(out), "--resume", "previous", "--no-progress",
                 "--set", "train.lr=0.003", "--set", "train.max_steps=6",
                 "--set", "eval.protocols=[knn]"]) == 0
    assert "resuming from step" in capsys.readouterr().err
    assert run_status(out)["status"] == "stopped_early"
