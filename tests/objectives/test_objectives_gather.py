"""gather=True on two CPU processes (gloo): each rank's loss over its local anchors against the
global batch must reproduce the single-process loss on the whole batch, and its gradients."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from contrastlearn.objectives import (
    DCL,
    AlignmentUniformity,
    BarlowTwins,
    InfoNCE,
    MemoryQueue,
    SupCon,
    SwAV,
    VICReg,
    alignment,
    sinkhorn_knopp,
)

WORLD_SIZE = 2
LOCAL_BATCH = 3


def _full_views(num_views, dim=4):
    generator = torch.Generator().manual_seed(0)
    return [
        torch.randn(WORLD_SIZE * LOCAL_BATCH, dim, generator=generator, dtype=torch.float64)
        for _ in range(num_views)
    ]


def _check(name, make, full_views, rank, **kwargs):
    """Mean over ranks of the local loss == full-batch loss; local grad / W == full grad."""
    rows = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
    full_inputs = [view.clone().requires_grad_() for view in full_views]
    full_kwargs = {key: value[0] for key, value in kwargs.items()}
    full_loss = make(gather=False)(full_inputs, **full_kwargs).loss
    full_grads = torch.autograd.grad(full_loss, full_inputs)

    local_inputs = [view[rows].clone().requires_grad_() for view in full_views]
    local_kwargs = {key: value[1] for key, value in kwargs.items()}
    local_loss = make(gather=True)(local_inputs, **local_kwargs).loss
    local_grads = torch.autograd.grad(local_loss, local_inputs)
    mean_loss = local_loss.detach().clone()
    dist.all_reduce(mean_loss)
    mean_loss /= WORLD_SIZE
    torch.testing.assert_close(mean_loss, full_loss.detach(), msg=f"{name}: loss")
    for local_grad, full_grad in zip(local_grads, full_grads):
        torch.testing.assert_close(
            local_grad / WORLD_SIZE, full_grad[rows], msg=f"{name}: gradient"
        )


def _worker(rank, init_file):
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD_SIZE
    )
    try:
        torch.set_num_threads(1)
        rows = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
        two, three = _full_views(2), _full_views(3)
        ids = torch.tensor([0, 1, 2, 3, 1, 5])  # a duplicate across ranks
        labels = torch.tensor([0, 1, 0, 1, 2, 2])
        id_kwargs = {"ids": (ids, ids[rows])}
        _check("infonce fast", lambda gather: InfoNCE(0.3, gather=gather), two, rank)
        _check("infonce ids", lambda gather: InfoNCE(0.3, gather=gather), three, rank, **id_kwargs)
        _check("moco", lambda gather: InfoNCE(0.3, cross_view_only=True, gather=gather), two, rank)
        _check("dclw", lambda gather: DCL(0.3, weighted=True, gather=gather), three, rank,
               **id_kwargs)
        _check("supcon", lambda gather: SupCon(0.3, gather=gather), two, rank,
               labels=(labels, labels[rows]))
        _check("barlow", lambda gather: BarlowTwins(0.1, gather=gather), two, rank)
        _check("vicreg", lambda gather: VICReg(gather=gather), two, rank)
        scores = [view.tanh() for view in three]
        _check("swav", lambda gather: SwAV(0.2, 0.3, gather=gather), scores, rank)
        full_codes = sinkhorn_knopp(scores[0], 0.3, 3)
        local_codes = sinkhorn_knopp(scores[0][rows], 0.3, 3, gather=True)
        torch.testing.assert_close(local_codes, full_codes[rows])

        # alignment-uniformity with gather: local alignment, the global batch's uniformity
        local = [view[rows] for view in two]
        output = AlignmentUniformity(gather=True)(local)
        uniform = []
        for view in two:
            unit = F.normalize(view, dim=1)
            kernel = torch.exp(-2 * torch.cdist(unit, unit).pow(2))
            keep = ~torch.eye(len(unit), dtype=torch.bool)
            uniform.append(torch.log(kernel[keep].mean()))
        expected = alignment(*local) + sum(uniform) / len(uniform)
        torch.testing.assert_close(output.loss, expected)

        queue = MemoryQueue(size=8, dim=4, gather=True).double()
        queue.enqueue(two[0][rows], ids[rows])
        keys, key_ids = queue.negatives()
        torch.testing.assert_close(keys, two[0])
        assert key_ids.tolist() == ids.tolist()
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_gather_across_two_processes(tmp_path):
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    mp.spawn(_worker, args=(str(tmp_path / "init"),), nprocs=WORLD_SIZE, join=True)
