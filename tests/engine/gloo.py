"""One group of two gloo processes for every test that needs one: `mp.spawn` starts the
WORLD_SIZE ranks once per session (tests/engine/conftest.py `gloo_results`), each rank runs
every job of `RANK_JOBS` and `torch.save`s what the jobs return, and the tests compare that
with their own single-process computation.

A job is a module-level function `job(rank) -> object` (tensors, lists and dicts of them, so
that `torch.load(weights_only=True)` reads them back), named here as "module:function" so
that the spawned processes import it. A job that raises is recorded as {"error": ...}, so one
broken job cannot hide the others."""

from __future__ import annotations

import datetime
import importlib
import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORLD_SIZE = 2

RANK_JOBS = {
    "objectives": "tests.engine.test_distributed_objectives:rank_job",
    "sharded_embedding": "tests.engine.test_scale_out_parts:rank_job",
}


def _worker(rank: int, directory: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{os.path.join(directory, 'init')}", rank=rank,
        world_size=WORLD_SIZE, timeout=datetime.timedelta(seconds=60))
    try:
        results: dict[str, object] = {}
        for name, reference in RANK_JOBS.items():
            module, function = reference.split(":")
            try:
                results[name] = getattr(importlib.import_module(module), function)(rank)
            except Exception as error:  # recorded, so one job cannot hide the others
                results[name] = {"error": f"{type(error).__name__}: {error}"}
        partial = os.path.join(directory, f".rank{rank}.pt.tmp")
        torch.save(results, partial)
        os.replace(partial, os.path.join(directory, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def spawn_rank_jobs(directory: Path) -> list[dict[str, object]]:
    """Every job's result on every rank (index = rank)."""
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    context = mp.spawn(_worker, args=(str(directory),), nprocs=WORLD_SIZE, join=False)
    try:
        while not context.join():
            pass
    except mp.ProcessExitedException:
        # gloo sometimes aborts while tearing the group down ("terminate called without an
        # active exception"); once every rank has written its results that changes nothing
        if not all((directory / f"rank{rank}.pt").is_file() for rank in range(WORLD_SIZE)):
            raise
    return [torch.load(directory / f"rank{rank}.pt", weights_only=True)
            for rank in range(WORLD_SIZE)]


def job_results(results: list[dict[str, object]], name: str) -> list[object]:
    """Job `name`'s result on every rank; a job that failed fails the test that reads it."""
    per_rank = [ranks[name] for ranks in results]
    for rank, result in enumerate(per_rank):
        assert not (isinstance(result, dict) and "error" in result), \
            f"rank {rank}, job {name}: {result['error']}"
    return per_rank
