"""The parts of multi-process training that one process can check: the sharded batch order,
the global-batch split, gradient accumulation (exact where promised, refused elsewhere),
SyncBatchNorm on CPU, and the sharded evaluation embedding (on the session's two gloo
processes, tests/engine/gloo.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from contrastlearn.api import embed_data, pretrain
from contrastlearn.config import recipe_from_dict
from contrastlearn.data.arrays import ArrayDataset
from contrastlearn.engine.batches import epoch_order, iterate_batches
from contrastlearn.engine.launch import check_global_batch, with_sync_batchnorm
from tests.conftest import tiny_recipe_dict
from tests.engine.gloo import job_results

pytestmark = pytest.mark.usefixtures("no_report")


def test_rank_shares_partition_every_global_batch_in_order():
    data = ArrayDataset(torch.arange(40.0)[:, None], torch.arange(40) % 3)
    order = epoch_order(40, seed=3, epoch=1)
    whole = [batch.ids for batch in iterate_batches(data, order, 12)]
    shares = [[batch.ids for batch in iterate_batches(data, order, 12, shard=(rank, 3))]
              for rank in range(3)]
    assert len(whole) == 3 and all(len(rank_batches) == 3 for rank_batches in shares)
    for number, batch in enumerate(whole):
        assert torch.equal(torch.cat([shares[rank][number] for rank in range(3)]), batch)
    resumed = [batch.ids for batch in iterate_batches(data, order, 12, start_batch=2,
                                                      shard=(1, 3))]
    assert len(resumed) == 1 and torch.equal(resumed[0], shares[1][2])
    with pytest.raises(ValueError, match="equal shares"):
        next(iterate_batches(data, order, 12, shard=(0, 5)))


def test_global_batch_must_split_evenly():
    assert check_global_batch(64, 2) == 32
    assert check_global_batch(64, 2, accumulate_batches=4) == 8
    with pytest.raises(ValueError, match="global batch.*multiple of 6"):
        check_global_batch(64, 3, accumulate_batches=2)


def text_byol(tmp_path, **train) -> dict:
    (tmp_path / "sentences.txt").write_text("\n".join(
        f"word{i % 7} word{i % 5} token{i % 3} item{i}" for i in range(40)) + "\n")
    return {
        "name": "byol-text",
        "data": {"dataset": str(tmp_path / "sentences.txt"), "modality": "text"},
        "views": {"name": "simcse_views"},  # the batch twice
        "encoder": {"name": "scratch_text_encoder",
                    "kwargs": {"vocab_size": 120, "dim": 16, "depth": 1, "heads": 2,
                               "max_length": 12, "dropout": 0.0}},
        "method": {"name": "byol", "kwargs": {"batch_norm": False, "hidden_dim": 32,
                                              "predictor_hidden_dim": 32,
                                              "projection_dim": 16}},
        "train": {"steps": 3, "batch_size": 16, "lr": 0.5, "optimizer": "sgd",
                  "warmup_epochs": 0.0, "accelerator": "cpu", "diagnostics": False, **train},
    }


def test_accumulation_gives_the_whole_batch_gradients_for_a_per_sample_loss(tmp_path):
    whole = pretrain(recipe_from_dict(text_byol(tmp_path)), out=tmp_path / "whole",
                     progress=False, evaluate_after=False)
    accumulated = pretrain(recipe_from_dict(text_byol(tmp_path, accumulate_batches=4)),
                           out=tmp_path / "accumulated", progress=False, evaluate_after=False)
    assert whole.training.steps == accumulated.training.steps == 3
    assert accumulated.training.final_loss == pytest.approx(whole.training.final_loss, rel=1e-5)
    reference = whole.method.state_dict()
    for key, value in accumulated.method.state_dict().items():
        torch.testing.assert_close(value, reference[key], rtol=1e-4, atol=1e-6, msg=key)


def test_accumulation_is_refused_where_it_would_change_the_loss(tmp_path):
    with pytest.raises(ValueError, match="negatives or statistics.*gradient_cache_chunk"):
        pretrain(recipe_from_dict({**tiny_recipe_dict(),
                                   "train": {**tiny_recipe_dict()["train"],
                                             "accumulate_batches": 2}}),
                 out=tmp_path / "simclr", progress=False, evaluate_after=False)
    with_batch_norm = text_byol(tmp_path, accumulate_batches=2)
    with_batch_norm["method"]["kwargs"]["batch_norm"] = True
    with pytest.raises(ValueError, match="BatchNorm"):
        pretrain(recipe_from_dict(with_batch_norm), out=tmp_path / "bn", progress=False,
                 evaluate_after=False)


def test_sync_batchnorm_is_refused_on_cpu_and_skipped_on_one_process():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    assert with_sync_batchnorm(model, 1, torch.device("cpu")) is model
    with pytest.raises(ValueError, match="needs GPUs"):
        with_sync_batchnorm(model, 2, torch.device("cpu"))
    converted = with_sync_batchnorm(model, 2, torch.device("cuda", 0))
    assert isinstance(converted[1], nn.SyncBatchNorm)


def _embedding_problem() -> tuple[nn.Module, ArrayDataset]:
    torch.manual_seed(0)
    encoder = nn.Linear(3, 5)
    data = ArrayDataset(torch.randn(7, 3, generator=torch.Generator().manual_seed(1)),
                        torch.arange(7))
    return encoder, data


def rank_job(rank: int) -> dict[str, torch.Tensor]:
    """What each rank of the session's gloo group computes (tests/engine/gloo.py): its
    sharded embedding of 7 rows (blocks of 4 and 3), gathered."""
    embeddings, labels = embed_data(*_embedding_problem(), batch_size=2, shard=True)
    return {"embeddings": embeddings, "labels": labels}


@pytest.mark.distributed
def test_sharded_evaluation_embedding_equals_one_process(gloo_results):
    expected, _ = embed_data(*_embedding_problem(), batch_size=2)
    for saved in job_results(gloo_results, "sharded_embedding"):
        torch.testing.assert_close(saved["embeddings"], expected)
        assert torch.equal(saved["labels"], torch.arange(7))


def test_swav_prototypes_stay_frozen_then_train(tmp_path):
    recipe = tiny_recipe_dict("swav", num_prototypes=10, hidden_dim=32,
                              freeze_prototypes_steps=3)
    recipe["train"]["epochs"] = 1
    torch.manual_seed(0)
    frozen = pretrain(recipe_from_dict(recipe), out=tmp_path / "frozen", progress=False,
                      evaluate_after=False, overrides={"train.max_steps": 3})
    torch.manual_seed(0)
    initial = pretrain(recipe_from_dict(recipe), out=tmp_path / "initial", progress=False,
                       evaluate_after=False, overrides={"train.max_steps": 1,
                                                        "train.lr": 1e-12})
    trained = pretrain(recipe_from_dict(recipe), out=tmp_path / "trained", progress=False,
                       evaluate_after=False)
    weights = [run.method.prototypes.layer.weight if hasattr(run.method.prototypes, "layer")
               else next(run.method.prototypes.parameters()) for run in (frozen, initial,
                                                                          trained)]
    torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=1e-6)
    assert not torch.allclose(weights[2], weights[1], atol=1e-4), "unfrozen after step 3"
    assert trained.training.steps > 3


def test_resume_on_another_process_count_warns_and_continues(tmp_path):
    from contrastlearn.engine.checkpoint import load_checkpoint, save_checkpoint

    recipe = recipe_from_dict(tiny_recipe_dict())
    pretrain(recipe, out=tmp_path / "run", progress=False, evaluate_after=False,
             overrides={"train.max_steps": 2})
    path = tmp_path / "run" / "checkpoints" / "last.ckpt"
    state = load_checkpoint(path)
    state["rng"] = state["rng"] * 2  # as if written by two processes
    save_checkpoint(path, state)
    with pytest.warns(RuntimeWarning, match="1 process\\(es\\) from a checkpoint of 2"):
        resumed = pretrain(out=tmp_path / "run", resume=True, progress=False,
                           evaluate_after=False, overrides={"train.max_steps": 4})
    assert resumed.training.steps == 4
    assert any("the random views do not" in warning for warning in resumed.training.warnings)
