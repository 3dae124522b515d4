"""BlockedInfoNCE against the dense infonce objective and a naive loop, at every block size;
its memory is O(block_size * N), never (2N)^2."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives import BlockedInfoNCE, InfoNCE
from contrastlearn.objectives.blocked import blocked_nt_xent_rows


def naive_grace_loss(first: torch.Tensor, second: torch.Tensor, temperature: float):
    """GRACE's loss written out: for node i of view u against view v,
    l(u_i, v_i) = -log e^{s(u_i,v_i)} / (sum_k e^{s(u_i,v_k)} + sum_{k != i} e^{s(u_i,u_k)}),
    the mean of l(u_i, v_i) and l(v_i, u_i) over nodes, with s the cosine / temperature
    (one anchor at a time, exponentials summed directly)."""
    def one_side(u, v):
        terms = []
        for i in range(u.shape[0]):
            between = torch.exp(F.cosine_similarity(u[i:i + 1], v, dim=1) / temperature)
            within = torch.exp(F.cosine_similarity(u[i:i + 1], u, dim=1) / temperature)
            denominator = between.sum() + within.sum() - within[i]
            terms.append(-torch.log(between[i] / denominator))
        return torch.stack(terms)

    return ((one_side(first, second) + one_side(second, first)) / 2).mean()


def make_views(count: int, dim: int = 6, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(count, dim, generator=generator, requires_grad=True) for _ in range(2)]


def loss_and_gradients(loss_fn, views):
    loss = loss_fn(views)
    return loss.detach(), torch.autograd.grad(loss, views)


@pytest.mark.parametrize("count", [1, 7, 64])
@pytest.mark.parametrize("block", ["1", "3", "N", "10N"])
def test_value_and_gradient_equal_dense_infonce_and_naive_loop(count, block):
    block_size = {"1": 1, "3": 3, "N": count, "10N": 10 * count}[block]
    views = make_views(count, seed=count)
    blocked = BlockedInfoNCE(temperature=0.5, block_size=block_size)
    value, gradients = loss_and_gradients(lambda v: blocked(v).loss, views)
    dense_value, dense_gradients = loss_and_gradients(
        lambda v: InfoNCE(temperature=0.5)(v).loss, views)
    naive_value, naive_gradients = loss_and_gradients(
        lambda v: naive_grace_loss(v[0].double(), v[1].double(), 0.5), views)
    for reference, reference_gradients in ((dense_value, dense_gradients),
                                           (naive_value, naive_gradients)):
        assert torch.allclose(value.double(), reference.double(), atol=1e-5)
        for gradient, expected in zip(gradients, reference_gradients):
            assert torch.allclose(gradient.double(), expected.double(), atol=1e-5)


def test_a_single_item_has_no_negatives_and_zero_loss():
    views = make_views(1)
    output = BlockedInfoNCE(block_size=1)(views)
    assert float(output.loss.detach()) == pytest.approx(0.0, abs=1e-7)
    assert float(output.metrics["contrastive_accuracy"]) == 1.0


def test_rows_pass_gradcheck_in_double_precision():
    generator = torch.Generator().manual_seed(3)
    rows = torch.nn.functional.normalize(torch.randn(10, 4, generator=generator,
                                                     dtype=torch.float64), dim=1)
    anchors = rows[:6].clone().requires_grad_(True)
    candidates = rows.clone().requires_grad_(True)
    self_columns = torch.tensor([0, 1, 2, 3, 4, 5])
    positive_columns = torch.tensor([5, 6, 7, 8, 9, 0])
    assert torch.autograd.gradcheck(
        lambda a, c: blocked_nt_xent_rows(a, c, self_columns, positive_columns, 2.0, 4)[0],
        (anchors, candidates))


def test_metrics_match_infonce():
    views = make_views(40, seed=5)
    with torch.no_grad():
        views[1].copy_(views[0] + 0.5 * views[1])  # some positives win
    blocked = BlockedInfoNCE(temperature=0.5, block_size=7)(views).metrics
    dense = InfoNCE(temperature=0.5)(views).metrics
    assert 0 < float(blocked["contrastive_accuracy"]) < 1
    for name in ("contrastive_accuracy", "positive_similarity", "negative_similarity"):
        assert float(blocked[name]) == pytest.approx(float(dense[name]), abs=1e-5)
    assert blocked["temperature"] == 0.5


def test_gather_is_a_no_op_on_one_process():
    views = make_views(9, seed=2)
    alone, alone_gradients = loss_and_gradients(lambda v: BlockedInfoNCE(block_size=4)(v).loss,
                                                views)
    gathered, gathered_gradients = loss_and_gradients(
        lambda v: BlockedInfoNCE(block_size=4, gather=True)(v).loss, views)
    assert torch.equal(alone, gathered)
    for left, right in zip(alone_gradients, gathered_gradients):
        assert torch.equal(left, right)


def test_bfloat16_views_are_compared_in_float32():
    views = make_views(16, seed=4)
    half = [view.detach().bfloat16().requires_grad_(True) for view in views]
    output = BlockedInfoNCE(block_size=5)(half)
    assert output.loss.dtype == torch.float32
    output.loss.backward()
    assert half[0].grad.dtype == torch.bfloat16
    # bfloat16 keeps ~3 significant digits of the normalised rows; the logits are float32
    reference = BlockedInfoNCE(block_size=5)([view.detach().bfloat16().float() for view in views])
    assert float(output.loss) == pytest.approx(float(reference.loss), abs=5e-3)


def test_registered_with_grace_defaults():
    loss = OBJECTIVES.build("blocked_infonce")
    assert isinstance(loss, BlockedInfoNCE)
    assert (loss.temperature, loss.block_size, loss.gather) == (0.5, 4096, False)


def test_ids_are_checked_not_used():
    views = make_views(5, seed=6)
    plain = BlockedInfoNCE()(views).loss
    shuffled_ids = torch.tensor([40, 3, 17, 8, 99])
    assert torch.equal(BlockedInfoNCE()(views, ids=shuffled_ids).loss, plain)
    with pytest.raises(ValueError, match="duplicate ids.*use the `infonce` objective"):
        BlockedInfoNCE()(views, ids=torch.tensor([0, 1, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"ids must have shape \(5,\)"):
        BlockedInfoNCE()(views, ids=torch.arange(4))


@pytest.mark.parametrize("settings, message", [
    ({"temperature": 0.0}, "temperature must be > 0"),
    ({"block_size": 0}, "block_size must be an integer >= 1"),
    ({"block_size": 2.5}, "block_size must be an integer >= 1"),
])
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        BlockedInfoNCE(**settings)


def test_other_than_two_views_are_refused():
    views = make_views(4)
    with pytest.raises(ValueError, match="exactly 2 views; got 3 .*infonce"):
        BlockedInfoNCE()([*views, views[0]])


class LargestTensor(TorchDispatchMode):
    """Records the most elements of any tensor an operation makes (forward and backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        output = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(output):
            if isinstance(leaf, torch.Tensor):
                self.largest = max(self.largest, leaf.numel())
        return output


def test_no_tensor_larger_than_a_block_of_logits_is_made():
    count, dim, block_size = 400, 8, 25
    views = make_views(count, dim)
    rows = 2 * count
    for loss, limit_ok in ((BlockedInfoNCE(block_size=block_size), True), (InfoNCE(), False)):
        recorder = LargestTensor()
        with recorder:
            loss(views).loss.backward()
        # the dense loss makes the (2N)^2 logits: the recorder would catch a blocked one too
        assert (recorder.largest <= block_size * rows) is limit_ok
        assert recorder.largest >= block_size * rows


@pytest.mark.slow
def test_peak_memory_at_20k_nodes_stays_far_below_n_squared():
    """Forward + backward at N=20,000, D=64, block 1024 in a fresh process: the growth of
    its peak resident memory stays under a quarter of N^2 float32 numbers (the dense loss
    holds (2N)^2 logits, 16x that)."""
    script = textwrap.dedent("""
        import resource, torch
        from contrastlearn.objectives import BlockedInfoNCE
        views = [torch.randn(20_000, 64, requires_grad=True) for _ in range(2)]
        loss = BlockedInfoNCE(block_size=1024)
        loss([torch.randn(64, 64, requires_grad=True) for _ in range(2)]).loss.backward()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        loss(views).loss.backward()
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parents[2])
    growth = int(result.stdout.split()[-1])
    assert growth < 20_000 * 20_000 * 4 / 4
