"""Gradient caching (Gao et al. 2021, arXiv 2101.06983): the loss, every parameter gradient and
the RNG stream after the call equal those of a plain forward and backward."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from contrastlearn.engine.grad_cache import cached_backward
from contrastlearn.objectives import InfoNCE, uniformity

BATCH = 8
CHUNK_SIZES = [1, 3, 8, 20]  # 3 leaves a short last chunk; 20 is one chunk larger than B


class _Net(nn.Module):
    """A small MLP encoder with dropout and a linear projector, in float64."""

    def __init__(self, dropout: float = 0.3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.encoder = nn.Sequential(
            nn.Linear(5, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 16), nn.ReLU()
        )
        self.projector = nn.Linear(16, 4)
        self.double()

    def forward(self, x: Tensor) -> Tensor:
        return self.projector(self.encoder(x))


def _views(count: int = 2) -> list[Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(BATCH, 5, generator=generator, dtype=torch.float64) for _ in range(count)]


def _infonce(z: list[Tensor]) -> Tensor:
    return InfoNCE(0.1)(z, ids=torch.arange(BATCH)).loss


def _chunked_reference(
    net: nn.Module, views: list[Tensor], loss_fn: Callable[[list[Tensor]], Tensor], chunk: int
) -> Tensor:
    """The plain forward with grad, chunk by chunk in the order cached_backward encodes them, so
    that dropout draws the same masks; then the loss and one backward."""
    z = [torch.cat([net(part) for part in view.split(chunk)]) for view in views]
    loss = loss_fn(z)
    loss.backward()
    return loss.detach()


def _gradients(module: nn.Module) -> dict[str, Tensor]:
    grads = {name: p.grad.clone() for name, p in module.named_parameters()}
    module.zero_grad(set_to_none=True)
    return grads


def _assert_same(loss: Tensor, expected_loss: Tensor, grads: dict, expected: dict) -> None:
    torch.testing.assert_close(loss, expected_loss, rtol=0, atol=1e-10)
    assert grads.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(grads[name], expected[name], rtol=0, atol=1e-10, msg=name)


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_loss_and_gradients_match_the_plain_forward_with_dropout(chunk_size):
    net, views = _Net(), _views()
    torch.manual_seed(123)
    expected_loss = _chunked_reference(net, views, _infonce, chunk_size)
    expected = _gradients(net)
    torch.manual_seed(123)
    loss = cached_backward(net, views, _infonce, chunk_size)
    assert not loss.requires_grad
    _assert_same(loss, expected_loss, _gradients(net), expected)


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_without_dropout_every_chunk_size_matches_one_full_batch_forward(chunk_size):
    net, views = _Net().eval(), _views()
    z = net(torch.cat(views)).chunk(len(views))
    expected_loss = _infonce(list(z))
    expected_loss.backward()
    expected = _gradients(net)
    loss = cached_backward(net, views, _infonce, chunk_size)
    _assert_same(loss, expected_loss.detach(), _gradients(net), expected)


def test_one_view():
    net, views = _Net(), _views(count=1)
    loss_fn = lambda z: uniformity(z[0])  # noqa: E731
    torch.manual_seed(5)
    expected_loss = _chunked_reference(net, views, loss_fn, 3)
    expected = _gradients(net)
    torch.manual_seed(5)
    loss = cached_backward(net, views, loss_fn, 3)
    _assert_same(loss, expected_loss, _gradients(net), expected)


def test_parameters_of_the_loss_get_their_gradient():
    net, views = _Net(), _views()
    objective = InfoNCE(0.1, learnable_temperature=True).double()
    loss_fn = lambda z: objective(z, ids=torch.arange(BATCH)).loss  # noqa: E731
    torch.manual_seed(9)
    expected_loss = _chunked_reference(net, views, loss_fn, 3)
    expected = {**_gradients(net), **_gradients(objective)}
    torch.manual_seed(9)
    loss = cached_backward(net, views, loss_fn, 3)
    _assert_same(loss, expected_loss, {**_gradients(net), **_gradients(objective)}, expected)


def test_the_random_stream_continues_as_after_the_plain_forward():
    """A loss that draws random numbers too: the caller's stream must include those draws and
    none of the redraws made to recompute the chunks."""
    net, views = _Net(), _views()

    def noisy_loss(z: list[Tensor]) -> Tensor:
        return _infonce(z) * (1.0 + torch.rand((), dtype=torch.float64))

    torch.manual_seed(77)
    expected_loss = _chunked_reference(net, views, noisy_loss, 3)
    expected_next = torch.rand(3)
    expected = _gradients(net)
    torch.manual_seed(77)
    loss = cached_backward(net, views, noisy_loss, 3)
    assert torch.equal(torch.rand(3), expected_next)
    _assert_same(loss, expected_loss, _gradients(net), expected)
    torch.manual_seed(77)
    assert not torch.equal(torch.rand(3), expected_next)  # the forward did draw from the stream


@pytest.mark.parametrize("chunk_size", [0, -1])
def test_chunk_size_must_be_positive(chunk_size):
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        cached_backward(_Net(), _views(), _infonce, chunk_size)


def test_views_must_share_the_batch_size():
    views = [torch.randn(BATCH, 5, dtype=torch.float64), torch.randn(BATCH - 1, 5)]
    with pytest.raises(ValueError, match="view 1 has 7 rows, view 0 has 8"):
        cached_backward(_Net(), views, _infonce, 3)


def test_views_must_not_be_empty():
    with pytest.raises(ValueError, match="at least one view"):
        cached_backward(_Net(), [], _infonce, 3)
