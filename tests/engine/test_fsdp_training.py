"""Fully sharded training end to end: `contrastlearn pretrain --devices 2 --strategy fsdp` on
CPU (FSDP2 over gloo, started by Lightning Fabric).

* Two sharded processes train what one process with the whole batch trains: SimCSE (gathered
  negatives, sharded parameters and optimizer state) and SoftCLT on TS2Vec (the encoder's
  `timestamps` gathers its shards too; the exported weights are the average over the steps,
  kept as shards during training).
* Checkpoints and exports hold whole tensors in one process's layout: a sharded run stopped
  and resumed, sharded or on one process, ends where the uninterrupted run ends.
* Options FSDP cannot run exactly are refused before any work.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from contrastlearn.config import TrainConfig
from contrastlearn.engine.checkpoint import load_checkpoint
from contrastlearn.engine.launch import launch_fabric
from contrastlearn.engine.sharding import OPTIMIZER_BY_NAME, check_shardable
from contrastlearn.export import load_encoder
from tests.conftest import tiny_recipe_dict
from tests.engine.test_ddp_training import (
    initial_state,
    method_state,
    run_cli,
    series_recipe,
    step_lines,
    text_recipe,
    write_sentences,
)

pytestmark = pytest.mark.distributed


def assert_same_weights(expected: dict, actual: dict) -> None:
    assert expected.keys() == actual.keys()
    for key, value in expected.items():
        torch.testing.assert_close(actual[key], value, rtol=1e-4, atol=1e-5, msg=key)


@pytest.fixture(scope="module")
def sharded_text_runs(tmp_path_factory) -> Path:
    """A folder with the sentences, the single-process run "one" and the uninterrupted sharded
    run "fsdp" of SimCSE with momentum (checkpoints every step, which changes no weight), which
    the comparisons below share."""
    folder = tmp_path_factory.mktemp("sharded")
    write_sentences(folder)
    (folder / "one.yaml").write_text(yaml.safe_dump(text_recipe(momentum=0.9)))
    (folder / "fsdp.yaml").write_text(yaml.safe_dump(text_recipe(
        strategy="fsdp", momentum=0.9, checkpoint_every_steps=1)))
    run_cli("--recipe", "one.yaml", "--out", "one", cwd=folder)
    run_cli("--recipe", "fsdp.yaml", "--out", "fsdp", "--devices", "2", cwd=folder)
    return folder


@pytest.mark.slow  # two processes; the DDP equivalence test stays in the default suite
def test_sharded_processes_train_what_one_process_with_the_whole_batch_trains(
        sharded_text_runs):
    folder = sharded_text_runs
    one, fsdp = method_state(folder / "one"), method_state(folder / "fsdp")
    assert any(not torch.equal(one[key], value) for key, value in initial_state(folder).items())
    assert_same_weights(one, fsdp)  # whole tensors, keyed as one process keys them
    checkpoint = load_checkpoint(folder / "fsdp/checkpoints/last.ckpt")
    assert checkpoint["optimizer_keys"] == OPTIMIZER_BY_NAME
    losses = [[r["loss"] for r in step_lines(folder / run)] for run in ("one", "fsdp")]
    assert len(losses[0]) == 4 and losses[1] == pytest.approx(losses[0], rel=1e-4)

    exported = load_encoder(folder / "fsdp")
    for name, value in exported.state_dict().items():
        torch.testing.assert_close(value, fsdp[f"encoder.{name}"])


@pytest.mark.slow  # two processes: run with -m slow
@pytest.mark.parametrize("resumed_on", ["fsdp", "one"])
def test_a_sharded_run_resumes_sharded_or_on_one_process(sharded_text_runs, resumed_on):
    folder, out = sharded_text_runs, f"part-{resumed_on}"
    run_cli("--recipe", "fsdp.yaml", "--devices", "2", "--out", out, "--max-steps", "2",
            cwd=folder)
    assert load_checkpoint(folder / out / "checkpoints/last.ckpt")["train_state"]["step"] == 2
    where = (["--devices", "2"] if resumed_on == "fsdp"
             else ["--devices", "1", "--strategy", "auto"])
    run_cli("--out", out, "--resume", *where, "--set", "train.max_steps=null", cwd=folder)
    assert_same_weights(method_state(folder / "fsdp"), method_state(folder / out))
    assert [r["step"] for r in step_lines(folder / out)] == [1, 2, 3, 4]


@pytest.mark.slow  # two processes: run with -m slow
def test_sharded_softclt_with_weight_averaging_matches_one_process(tmp_path):
    import numpy as np

    generator = np.random.default_rng(0)
    t = np.linspace(0, 6.28, 32)
    labels = np.arange(24) % 3
    x = np.stack([np.sin((k + 1) * t + generator.normal()) for k in labels])[:, None, :]
    np.savez(tmp_path / "waves.npz", x=x, y=labels)
    for name, strategy in (("one", "auto"), ("fsdp", "fsdp")):
        recipe = series_recipe(strategy=strategy, average_weights=True)
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(recipe))
    run_cli("--recipe", "one.yaml", "--out", "one", cwd=tmp_path)
    run_cli("--recipe", "fsdp.yaml", "--out", "fsdp", "--devices", "2", cwd=tmp_path)

    averaged = [load_encoder(tmp_path / run).state_dict() for run in ("one", "fsdp")]
    assert_same_weights(*averaged)
    last = method_state(tmp_path / "one")
    assert any(not torch.equal(averaged[0][name], last[f"encoder.{name}"])
               for name in averaged[0]), "the export must be the average, not the last step"
    assert_same_weights(last, method_state(tmp_path / "fsdp"))


@pytest.mark.slow  # two processes: run with -m slow
def test_a_ddp_run_resumes_sharded(tmp_path):
    """A checkpoint written without fsdp (optimizer state numbered by position) continues
    under fsdp exactly."""
    write_sentences(tmp_path)
    (tmp_path / "ddp.yaml").write_text(yaml.safe_dump(text_recipe(
        strategy="ddp", momentum=0.9, checkpoint_every_steps=1)))
    run_cli("--recipe", "ddp.yaml", "--devices", "2", "--out", "full", cwd=tmp_path)
    run_cli("--recipe", "ddp.yaml", "--devices", "2", "--out", "part", "--max-steps", "2",
            cwd=tmp_path)
    assert "optimizer_keys" not in load_checkpoint(tmp_path / "part/checkpoints/last.ckpt")
    run_cli("--out", "part", "--resume", "--devices", "2", "--strategy", "fsdp", "--set",
            "train.max_steps=null", cwd=tmp_path)
    assert_same_weights(method_state(tmp_path / "full"), method_state(tmp_path / "part"))


@pytest.mark.slow  # two processes: run with -m slow
def test_a_sharded_run_resumes_inside_a_frozen_period_exactly(tmp_path):
    """SwAV's prototypes get no gradient, so no AdamW state, while frozen: a checkpoint taken
    then must resume with no state for them either (not a fresh step-1 state)."""
    recipe = tiny_recipe_dict("swav", num_prototypes=10, hidden_dim=32, freeze_prototypes_steps=2)
    recipe["train"].update(strategy="fsdp", epochs=2, diagnostics=False, optimizer="adamw",
                           checkpoint_every_steps=1)
    recipe["data"]["limit"] = 128
    recipe["eval"] = {"protocols": ["knn"], "labels_per_class": []}
    (tmp_path / "swav.yaml").write_text(yaml.safe_dump(recipe))
    sharded = ("--recipe", "swav.yaml", "--devices", "2")
    run_cli(*sharded, "--out", "full", cwd=tmp_path)
    run_cli(*sharded, "--out", "part", "--max-steps", "1", cwd=tmp_path)
    state = load_checkpoint(tmp_path / "part/checkpoints/last.ckpt")["optimizer"]["state"]
    assert not any("prototypes" in name for name in state) and state
    run_cli("--out", "part", "--resume", "--devices", "2", "--set", "train.max_steps=null",
            cwd=tmp_path)
    assert_same_weights(method_state(tmp_path / "full"), method_state(tmp_path / "part"))


@pytest.mark.parametrize("option", [{"gradient_cache_chunk": 4}, {"accumulate_batches": 2},
                                    {"sync_batchnorm": True}, {"sam_rho": 0.05}])
def test_options_fsdp_cannot_run_exactly_are_refused(option):
    with pytest.raises(ValueError, match="fsdp does not support"):
        check_shardable(TrainConfig(strategy="fsdp", **option), torch.nn.Linear(2, 2))


def test_methods_fsdp_cannot_train_exactly_are_refused():
    from contrastlearn.methods.learned_views import LearnedViews
    from contrastlearn.methods.simclr import SimCLR
    from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder
    from contrastlearn.modalities.timeseries.learned_augmentation import ParametricAugmentation

    config = TrainConfig(strategy="fsdp")
    encoder = TS2VecEncoder(in_channels=1, hidden_dim=4, out_dim=4, depth=1)
    check_shardable(config, SimCLR(encoder))
    with pytest.raises(ValueError, match="scalar parameters"):
        check_shardable(config, SimCLR(encoder, learnable_temperature=True))
    wrapped = LearnedViews(SimCLR(encoder), ParametricAugmentation(hidden_dim=4), seed=0)
    with pytest.raises(ValueError, match="cannot train LearnedViews"):
        check_shardable(config, wrapped)


def test_other_fsdp_spellings_are_refused():
    with pytest.raises(ValueError, match="use fsdp"):
        launch_fabric(TrainConfig(strategy="fsdp_cpu_offload", accelerator="cpu"))


@pytest.mark.parametrize("method, kwargs", [
    ("moco_v2", {"queue_size": 64, "hidden_dim": 32}),  # momentum encoder and queue
    ("byol", {"hidden_dim": 32}),  # momentum target and a predictor
    ("swav", {"num_prototypes": 10, "hidden_dim": 32, "freeze_prototypes_steps": 1}),
])
@pytest.mark.slow  # two processes: run with -m slow
def test_sharding_changes_nothing_against_ddp(tmp_path, method, kwargs):
    """The same two processes with the same batches, once with every parameter whole (DDP),
    once sharded: the methods' own updates of their parameters (momentum targets, prototype
    normalisation, frozen prototypes) act on shards alike."""
    for strategy in ("ddp", "fsdp"):
        recipe = tiny_recipe_dict(method, **kwargs)
        recipe["train"].update(strategy=strategy, epochs=1, diagnostics=False)
        recipe["data"]["limit"] = 128
        recipe["eval"] = {"protocols": ["knn"], "labels_per_class": []}
        (tmp_path / f"{strategy}.yaml").write_text(yaml.safe_dump(recipe))
        run_cli("--recipe", f"{strategy}.yaml", "--devices", "2", "--out", strategy,
                cwd=tmp_path)
    assert_same_weights(method_state(tmp_path / "ddp"), method_state(tmp_path / "fsdp"))
    assert len(step_lines(tmp_path / "fsdp")) == 2
