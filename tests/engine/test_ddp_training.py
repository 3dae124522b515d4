"""Multi-process training end to end: `contrastlearn pretrain --devices 2 --strategy ddp` on
CPU, where Lightning Fabric starts the second process (gloo) itself.

* A run stopped and resumed on two processes ends bit-identical to an uninterrupted
  two-process run (MoCo: its gathered queue is in the checkpoint), and only rank 0 writes,
  also when every rank evaluates (`eval.ranks: all`).
* With deterministic views and no dropout, two processes each holding half of every batch
  train exactly what one process holding the whole batch trains (SimCSE: gathered negatives,
  DDP gradient averaging, the sharded data order), with and without gradient caching; and so
  does SoftCLT on TS2Vec (crops and masks drawn for the global batch, the instance term over
  the gathered series, soft targets looked up by the gathered ids).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import contrastlearn
from contrastlearn.engine.checkpoint import load_checkpoint
from tests.conftest import tiny_recipe_dict

pytestmark = pytest.mark.distributed

REPO_ROOT = Path(contrastlearn.__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path, succeed: bool = True) -> subprocess.CompletedProcess:
    """`python -m contrastlearn pretrain ARGS` with one thread per process (two processes
    share the machine's cores)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    completed = subprocess.run(
        [sys.executable, "-m", "contrastlearn", "pretrain", "--no-progress", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if succeed:
        assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed


def method_state(run_dir: Path) -> dict:
    return load_checkpoint(run_dir / "checkpoints" / "last.ckpt")["method"]


def step_lines(run_dir: Path) -> list[dict]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [record for record in records if "loss" in record]


@pytest.mark.slow  # two processes: run with -m slow
def test_two_process_run_resumes_exactly_and_rank_zero_writes_once(tmp_path):
    recipe = tiny_recipe_dict("moco_v2", queue_size=96, hidden_dim=32)
    recipe["train"]["strategy"] = "ddp"
    (tmp_path / "moco.yaml").write_text(yaml.safe_dump(recipe))
    ddp = ("--recipe", "moco.yaml", "--devices", "2")
    # every rank evaluates, on its share of the embeddings, gathered once
    full = run_cli(*ddp, "--out", "full", "--set", "eval.ranks=all", cwd=tmp_path)
    run_cli(*ddp, "--out", "part", "--max-steps", "3", "--set",
            "train.checkpoint_every_steps=1", cwd=tmp_path)
    assert load_checkpoint(tmp_path / "part/checkpoints/last.ckpt")["train_state"]["step"] == 3
    run_cli("--out", "part", "--resume", "--devices", "2", "--set", "train.max_steps=null",
            cwd=tmp_path)

    full_state, resumed_state = method_state(tmp_path / "full"), method_state(tmp_path / "part")
    assert full_state.keys() == resumed_state.keys()
    for key, value in full_state.items():
        assert torch.equal(resumed_state[key], value), key
    assert "queue.keys" in full_state or any("queue" in key for key in full_state)

    checkpoint = load_checkpoint(tmp_path / "full/checkpoints/last.ckpt")
    assert len(checkpoint["rng"]) == 2, "each process's random states are saved"
    assert not torch.equal(checkpoint["rng"][0]["views"], checkpoint["rng"][1]["views"])
    steps = [record["step"] for record in step_lines(tmp_path / "full")]
    assert steps == list(range(1, 9)), "rank 0 alone logs, once per step"
    assert [record["step"] for record in step_lines(tmp_path / "part")] == steps
    assert full.stdout.count("top-1 accuracy on split") == 1, "one results table, from rank 0"
    results = json.loads((tmp_path / "full" / "results.json").read_text())
    assert any(result["protocol"] == "linear_probe" for result in results)
    assert (tmp_path / "full/encoder").is_dir()

    # an existing run directory stops every process with rank 0's error; nothing is touched
    before = (tmp_path / "full" / "metrics.jsonl").read_text()
    again = run_cli(*ddp, "--out", "full", cwd=tmp_path, succeed=False)
    assert again.returncode != 0 and "already holds a run" in again.stderr
    assert (tmp_path / "full" / "metrics.jsonl").read_text() == before


def text_recipe(**train: object) -> dict:
    """SimCSE on a from-scratch Transformer with no dropout and identical views: the training
    is a deterministic function of the data order, so process counts can be compared."""
    return {
        "name": "simcse-deterministic",
        "data": {"dataset": "sentences.txt", "modality": "text"},
        "views": {"name": "simcse_views"},
        "encoder": {"name": "scratch_text_encoder",
                    "kwargs": {"vocab_size": 200, "dim": 16, "depth": 1, "heads": 2,
                               "max_length": 16, "dropout": 0.0}},
        "method": {"name": "simcse", "kwargs": {"temperature": 0.1}},
        # SGD, not Adam: Adam would turn the float noise of gradients that are zero in exact
        # arithmetic (the attention's key bias) into full-size steps
        "train": {"steps": 4, "batch_size": 16, "lr": 0.5, "optimizer": "sgd",
                  "warmup_epochs": 0.0, "log_every_steps": 1, "accelerator": "cpu",
                  "diagnostics": False, **train},
    }


def write_sentences(folder: Path) -> None:
    words = ["red", "green", "blue", "small", "large", "quick", "slow", "river", "stone",
             "cloud", "light", "dark", "warm", "cold", "bird", "fish", "tree", "leaf"]
    generator = torch.Generator().manual_seed(0)
    lines = [" ".join(words[i] for i in torch.randint(len(words), (int(length),),
                                                      generator=generator))
             for length in torch.randint(2, 9, (48,), generator=generator)]
    (folder / "sentences.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def one_process_text_run(tmp_path_factory) -> Path:
    """A folder with the sentences and the single-process run "one" of `text_recipe()`,
    which every process-count comparison of it shares."""
    folder = tmp_path_factory.mktemp("one-process")
    write_sentences(folder)
    (folder / "one.yaml").write_text(yaml.safe_dump(text_recipe()))
    run_cli("--recipe", "one.yaml", "--out", "one", cwd=folder)
    assert any(not torch.equal(method_state(folder / "one")[key], value)
               for key, value in initial_state(folder).items()), \
        "the comparison must be of trained weights"
    return folder


@pytest.mark.parametrize("variant", [
    "ddp", pytest.param("ddp_gradient_cache", marks=pytest.mark.slow)])
def test_two_processes_train_what_one_process_with_the_whole_batch_trains(
        one_process_text_run, variant):
    folder = one_process_text_run
    extra = {"gradient_cache_chunk": 3} if variant.endswith("cache") else {}
    (folder / f"{variant}.yaml").write_text(yaml.safe_dump(text_recipe(strategy="ddp",
                                                                       **extra)))
    run_cli("--recipe", f"{variant}.yaml", "--out", variant, "--devices", "2", cwd=folder)

    one, two = method_state(folder / "one"), method_state(folder / variant)
    for key, value in one.items():
        torch.testing.assert_close(two[key], value, rtol=1e-4, atol=1e-5, msg=key)
    losses_one = [record["loss"] for record in step_lines(folder / "one")]
    losses_two = [record["loss"] for record in step_lines(folder / variant)]
    assert losses_two == pytest.approx(losses_one, rel=1e-4), "the logged loss is global"


def initial_state(folder: Path, recipe_dict: dict | None = None) -> dict[str, torch.Tensor]:
    """The untrained encoder's weights, keyed as in the method (same seed, same encoder)."""
    from contrastlearn.api import build_encoder, load_run_data, resolve_run_recipe
    from contrastlearn.config import recipe_from_dict

    cwd = Path.cwd()
    os.chdir(folder)
    try:
        recipe = resolve_run_recipe(recipe_from_dict(recipe_dict or text_recipe()))
        torch.manual_seed(recipe.seed)
        encoder, _ = build_encoder(recipe, load_run_data(recipe))
    finally:
        os.chdir(cwd)
    return {f"encoder.{name}": value for name, value in encoder.state_dict().items()}


@pytest.mark.slow  # two processes: run with -m slow
def test_swav_with_frozen_prototypes_runs_under_plain_ddp(tmp_path):
    """Frozen prototypes drop their gradients after the backward, so DDP sees every parameter
    used and needs no unused-parameter search."""
    recipe = tiny_recipe_dict("swav", num_prototypes=10, hidden_dim=32, freeze_prototypes_steps=4)
    recipe["train"].update(strategy="ddp", epochs=1)
    recipe["eval"]["protocols"] = ["knn"]
    (tmp_path / "swav.yaml").write_text(yaml.safe_dump(recipe))
    run_cli("--recipe", "swav.yaml", "--devices", "2", "--out", "swav", cwd=tmp_path)
    assert [record["step"] for record in step_lines(tmp_path / "swav")] == [1, 2, 3, 4]


def series_recipe(**train: object) -> dict:
    """SoftCLT on a tiny TS2Vec encoder without dropout; its crops and masks come from the
    method's seeded generator and the views are the identity, so process counts can be
    compared."""
    return {
        "name": "softclt-deterministic",
        "data": {"dataset": "waves.npz", "modality": "timeseries"},
        "views": {"name": "identity_views"},
        "encoder": {"name": "ts2vec_encoder",
                    "kwargs": {"hidden_dim": 8, "out_dim": 8, "depth": 1, "dropout": 0.0}},
        "method": {"name": "softclt", "kwargs": {"instance_tau": 2.0, "temporal_tau": 1.0}},
        "train": {"steps": 4, "batch_size": 8, "lr": 0.05, "optimizer": "sgd",
                  "warmup_epochs": 0.0, "log_every_steps": 1, "accelerator": "cpu",
                  "diagnostics": False, **train},
        "eval": {"protocols": ["svm"], "raw_baseline": False},
    }


@pytest.mark.slow  # two processes: run with -m slow
def test_two_processes_train_softclt_as_one_process_with_the_whole_batch(tmp_path):
    generator = np.random.default_rng(0)
    t = np.linspace(0, 6.28, 32)
    labels = np.arange(24) % 3
    x = np.stack([np.sin((k + 1) * t + generator.normal()) for k in labels])[:, None, :]
    x[::5, :, 26:] = np.nan  # unequal lengths
    np.savez(tmp_path / "waves.npz", x=x, y=labels)
    (tmp_path / "one.yaml").write_text(yaml.safe_dump(series_recipe()))
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(series_recipe(strategy="ddp")))
    run_cli("--recipe", "one.yaml", "--out", "one", cwd=tmp_path)
    run_cli("--recipe", "two.yaml", "--out", "two", "--devices", "2", cwd=tmp_path)

    one, two = method_state(tmp_path / "one"), method_state(tmp_path / "two")
    for key, value in one.items():
        torch.testing.assert_close(two[key], value, rtol=1e-4, atol=1e-5, msg=key)
    losses_one = [record["loss"] for record in step_lines(tmp_path / "one")]
    losses_two = [record["loss"] for record in step_lines(tmp_path / "two")]
    assert len(losses_one) == 4 and losses_two == pytest.approx(losses_one, rel=1e-4)
    initial = initial_state(tmp_path, series_recipe())
    assert any(not torch.equal(one[key], value) for key, value in initial.items()), \
        "the comparison must be of trained weights"
