"""MoCo's shuffling BN (He et al. 2019, arXiv 1911.05722, §3.3) on one process and across two
gloo processes, and its queue negatives scored against the queries only."""

from __future__ import annotations

import datetime
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import contrastlearn
from contrastlearn.config import recipe_from_dict
from contrastlearn.methods.moco import MoCoV2, shuffled_bn_encode
from contrastlearn.objectives import InfoNCE, infonce
from tests.conftest import tiny_recipe_dict

IN_DIM = 6


class Encoder(nn.Module):
    """Linear (-> BatchNorm1d) -> ReLU, with the `out_dim` a method needs."""

    out_dim = 8

    def __init__(self, batch_norm: bool = True) -> None:
        super().__init__()
        layers = [nn.Linear(IN_DIM, self.out_dim)]
        layers += [nn.BatchNorm1d(self.out_dim)] if batch_norm else []
        self.net = nn.Sequential(*layers, nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def moco(batch_norm: bool = True, **kwargs) -> MoCoV2:
    torch.manual_seed(0)
    return MoCoV2(Encoder(batch_norm), projection_dim=4, hidden_dim=8, queue_size=16, **kwargs)


def batch(rows: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.randn(rows, IN_DIM, generator=torch.Generator().manual_seed(seed))


def reference_shuffled_keys(network: nn.Module, x: torch.Tensor, groups: int,
                            permutation: torch.Tensor) -> torch.Tensor:
    """Row by row: row i of the output is the key of x[i] computed in the sub-batch that
    x[i] landed in after the permutation."""
    position = torch.argsort(permutation)  # where each row went
    chunks = torch.arange(len(x)).tensor_split(groups)
    out = []
    with torch.no_grad():
        for i in range(len(x)):
            chunk = next(c for c in chunks if int(position[i]) in c.tolist())
            keys = network(x[permutation[chunk]])
            out.append(keys[chunk.tolist().index(int(position[i]))])
    return torch.stack(out)


def test_shuffled_bn_changes_keys_with_batch_norm_and_matches_a_reference():
    method = moco(bn_groups=4)
    x = batch()
    torch.manual_seed(5)
    shuffled = method.encode_keys(x)
    torch.manual_seed(5)
    permutation = torch.randperm(len(x))  # the draw encode_keys made
    expected = reference_shuffled_keys(method.key_network, x, 4, permutation)
    torch.testing.assert_close(shuffled, expected)
    with torch.no_grad():
        plain = method.key_network(x)
    assert not torch.allclose(shuffled, plain, atol=1e-3)  # BN saw other sub-batches


def test_shuffled_bn_is_a_no_op_without_batch_norm():
    method = moco(batch_norm=False, bn_groups=4)
    x = batch()
    with torch.no_grad():
        plain = method.key_network(x)
    torch.manual_seed(5)
    torch.testing.assert_close(shuffled_bn_encode(method.key_network, x, 4), plain)
    torch.testing.assert_close(method.encode_keys(x), plain)  # and the method skips it


def test_shuffled_bn_is_deterministic_under_the_seed_and_off_when_asked():
    method = moco(bn_groups=4)
    x = batch()
    torch.manual_seed(7)
    first = method.encode_keys(x)
    torch.manual_seed(7)
    torch.testing.assert_close(method.encode_keys(x), first)
    torch.manual_seed(8)
    assert not torch.allclose(method.encode_keys(x), first, atol=1e-3)
    off = moco(shuffle_bn=False)
    with torch.no_grad():
        torch.testing.assert_close(off.encode_keys(x), off.key_network(x))
    with pytest.raises(ValueError, match="bn_groups"):
        moco(bn_groups=0)


def test_eval_mode_and_a_single_group_encode_plainly():
    x = batch()
    for method in (moco(bn_groups=1), moco(bn_groups=4).eval()):
        with torch.no_grad():
            torch.testing.assert_close(method.encode_keys(x), method.key_network(x))


def test_queue_logits_are_computed_for_the_queries_only(monkeypatch):
    shapes = []
    build = infonce._BankNegatives.build

    def recording_build(*args, **kwargs):
        bank = build(*args, **kwargs)
        shapes.append(tuple(bank.logits.shape))
        return bank

    monkeypatch.setattr(infonce._BankNegatives, "build", recording_build)
    method = moco()
    x = batch(rows=12)
    method([x, x + 0.1])  # fills the queue with 12 keys
    assert shapes == []  # an empty queue builds no bank
    method([x, x + 0.1])
    assert shapes == [(12, 12), (12, 12)]  # (queries, queue) for each direction


def test_anchor_views_bank_logits_and_metrics_cover_anchors_only():
    """InfoNCE(anchor_views=1): the bank is scored against the first view only, and the
    metrics average over those anchors (a key row's negatives are not counted)."""
    generator = torch.Generator().manual_seed(0)
    queries, keys, queue = (torch.randn(rows, 4, generator=generator, dtype=torch.float64)
                            for rows in (5, 5, 7))
    output = InfoNCE(0.2, cross_view_only=True, anchor_views=1)([queries, keys], negatives=queue)
    q, k, bank = (nn.functional.normalize(t, dim=1) for t in (queries, keys, queue))
    in_batch = q @ k.T
    off_diagonal = ~torch.eye(5, dtype=torch.bool)
    negative_sum = in_batch[off_diagonal].sum() + (q @ bank.T).sum()
    expected = negative_sum / (5 * 4 + 5 * 7)
    torch.testing.assert_close(output.metrics["negative_similarity"], expected)
    torch.testing.assert_close(output.metrics["positive_similarity"], in_batch.diag().mean())


def test_short_training_with_shuffled_bn_lowers_the_loss(tmp_path):
    raw = tiny_recipe_dict("moco_v2", hidden_dim=32, queue_size=128, bn_groups=4)
    raw["train"]["epochs"] = 3
    run = contrastlearn.pretrain(recipe_from_dict(raw), out=tmp_path / "moco", progress=False,
                                 evaluate_after=False)
    assert run.method.bn_groups == 4 and run.method.shuffle_bn
    losses = [record["loss"] for record in run.training.history]
    assert len(losses) == 12 and all(loss == loss for loss in losses)
    assert min(losses[-3:]) < losses[2], losses  # after the queue has filled (2 steps)


# -- across two processes ---------------------------------------------------------------------

WORLD_SIZE, LOCAL_ROWS, SEED = 2, 6, 11


def _network(batch_norm: bool) -> nn.Module:
    torch.manual_seed(0)
    return Encoder(batch_norm)


def _worker(rank: int, directory: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{os.path.join(directory, 'init')}",
                            rank=rank, world_size=WORLD_SIZE,
                            timeout=datetime.timedelta(seconds=60))
    try:
        x = batch(WORLD_SIZE * LOCAL_ROWS)[rank * LOCAL_ROWS:(rank + 1) * LOCAL_ROWS]
        results = {}
        for batch_norm in (True, False):
            network = _network(batch_norm)
            torch.manual_seed(SEED + rank)  # only rank 0's draw counts: it is broadcast
            results[batch_norm] = shuffled_bn_encode(network, x, groups=1)
        torch.save(results, os.path.join(directory, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_cross_process_shuffle_matches_the_papers_recipe(tmp_path):
    """Gather, shuffle with rank 0's permutation, encode this rank's share (one BN group per
    process), gather back, unshuffle: row for row what one process computes by hand."""
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    mp.spawn(_worker, args=(str(tmp_path),), nprocs=WORLD_SIZE, join=True)
    results = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
               for rank in range(WORLD_SIZE)]
    x = batch(WORLD_SIZE * LOCAL_ROWS)
    torch.manual_seed(SEED)
    permutation = torch.randperm(len(x))
    for batch_norm in (True, False):
        network = _network(batch_norm)
        expected = reference_shuffled_keys(network, x, WORLD_SIZE, permutation)
        got = torch.cat([result[batch_norm] for result in results])
        torch.testing.assert_close(got, expected)
        with torch.no_grad():
            plain = network(x[:LOCAL_ROWS])  # what rank 0 alone would compute
        if batch_norm:
            assert not torch.allclose(got[:LOCAL_ROWS], plain, atol=1e-3)
        else:
            torch.testing.assert_close(got[:LOCAL_ROWS], plain)
