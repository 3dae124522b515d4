"""Fault injection: a run killed (SIGKILL, as by the OOM killer or a power cut of the process)
in the middle of writing a checkpoint, or in the middle of writing its export, resumes and
finishes with weights bit-identical to a run that was never killed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from contrastlearn.api import pretrain
from contrastlearn.engine.run_dir import run_status
from contrastlearn.export import load_encoder
from tests.conftest import tiny_recipe_dict

SETTINGS = {"train.max_steps": 6, "train.checkpoint_every_steps": 2,
            "train.checkpoint_every_seconds": 1e9}

DYING_RUN = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path

    import contrastlearn.core.atomic as atomic
    import contrastlearn.engine.checkpoint as checkpoint
    import contrastlearn.export as export
    from contrastlearn.api import pretrain

    recipe, out, where = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    settings = {"train.max_steps": 6, "train.checkpoint_every_steps": 2,
                "train.checkpoint_every_seconds": 1e9}

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "checkpoint":  # the second checkpoint: half its bytes on disk, then death
        writes = []
        original = checkpoint.atomic_write

        def half_written(path, content):
            writes.append(path)
            if len(writes) == 2:
                stage = Path(path).with_name(f".{Path(path).name}.dying.tmp")
                stage.write_bytes(content[: len(content) // 2])
                die()
            original(path, content)

        checkpoint.atomic_write = half_written
    elif where == "export":  # weights written into the staged folder, config not yet
        original_save = export.save

        def save_then_die(state):
            data = original_save(state)
            stage = next(Path(out).glob(".encoder.*.tmp"))
            (stage / "model.safetensors").write_bytes(data[: len(data) // 2])
            die()

        export.save = save_then_die
    elif where == "swap":  # between moving the old export aside and the new one in
        original_replace = atomic.os.replace

        def replace_then_die(source, target):
            original_replace(source, target)
            if str(target).endswith(".old"):
                die()

        atomic.os.replace = replace_then_die
    pretrain(recipe, out=out, progress=False, overrides=settings, evaluate_after=False)
""")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("reference")
    recipe = folder / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe_dict()))
    run = pretrain(str(recipe), out=folder / "run", progress=False, overrides=SETTINGS,
                   evaluate_after=False)
    return recipe, run.encoder.state_dict()


def _killed_then_resumed(tmp_path: Path, recipe: Path, where: str,
                         finished_first: bool = False) -> dict:
    """Run (or, with `finished_first`, finish a run and then resume it, which rewrites its
    export) in a process killed at `where`; then resume here and return the final weights."""
    out = tmp_path / "run"
    script = tmp_path / "dying_run.py"
    source = DYING_RUN
    if finished_first:
        pretrain(str(recipe), out=out, progress=False, overrides=SETTINGS,
                 evaluate_after=False)
        source = source.replace("pretrain(recipe, out=out,", "pretrain(out=out, resume=True,")
    script.write_text(source)
    killed = subprocess.run([sys.executable, str(script), str(recipe), str(out), where],
                            capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).parents[2])
    assert killed.returncode == -9, killed.stderr[-2000:]
    if not finished_first:
        assert run_status(out)["status"] == "crashed"
    pretrain(out=out, resume=True, progress=False, evaluate_after=False)
    assert not list(out.glob(".*.tmp")) and not list(out.glob(".*.old"))
    assert not list((out / "checkpoints").glob(".*.tmp"))
    return load_encoder(out).state_dict()


@pytest.mark.parametrize("where", [
    "checkpoint", pytest.param("export", marks=pytest.mark.slow)])  # the same kill, later
def test_killed_while_writing_resumes_bit_identical(tmp_path, reference, where):
    recipe, expected = reference
    resumed = _killed_then_resumed(tmp_path, recipe, where)
    assert resumed.keys() == expected.keys()
    assert all(torch.equal(resumed[key], expected[key]) for key in expected)


def test_killed_while_swapping_an_export_in_resumes_bit_identical(tmp_path, reference):
    recipe, expected = reference
    resumed = _killed_then_resumed(tmp_path, recipe, "swap", finished_first=True)
    assert all(torch.equal(resumed[key], expected[key]) for key in expected)


@pytest.mark.slow  # 20-30 s: trains through subprocesses; the suite keeps under 8 minutes
def test_a_full_disk_stops_the_run_cleanly_and_it_resumes_once_there_is_space(
        tmp_path, reference, monkeypatch, capsys):
    import errno

    import contrastlearn.engine.checkpoint as checkpoint
    from contrastlearn.cli import main

    recipe, expected = reference
    out = tmp_path / "run"
    original, writes = checkpoint.atomic_write, []

    def disk_full_on_second_write(path, content):
        writes.append(path)
        if len(writes) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        original(path, content)

    monkeypatch.setattr(checkpoint, "atomic_write", disk_full_on_second_write)
    argv = ["pretrain", "--recipe", str(recipe), "--out", str(out), "--no-progress"]
    settings = [f"--set={key}={value}" for key, value in SETTINGS.items()]
    assert main([*argv, *settings]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: No space left on device") and "\n" not in error.strip()
    assert run_status(out)["status"] == "crashed"
    assert not list((out / "checkpoints").glob(".*.tmp"))
    monkeypatch.setattr(checkpoint, "atomic_write", original)
    assert main(["pretrain", "--out", str(out), "--resume", "--no-progress",
                 "--set", "eval.protocols=[knn]"]) == 0
    resumed = load_encoder(out).state_dict()
    assert all(torch.equal(resumed[key], expected[key]) for key in expected)
