"""Gradient caching: a contrastive loss over a large batch, with one chunk's activations in memory.

Gao, Zhang, Han & Callan, 2021, "Scaling Deep Contrastive Learning Batch Size under Memory
Limited Setup", arXiv 2101.06983. A contrastive loss couples every row of the batch, but only
through the embeddings: the encoder graph can be cut at the embeddings, d loss / d embeddings
computed once for the whole batch, and the encoder backward done chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

# the torch CPU generator state, and the state of each CUDA device that random ops may draw on
_RngState = tuple[Tensor, dict[torch.device, Tensor]]


def _get_rng_state(tensors: Sequence[Tensor]) -> _RngState:
    """The CPU state, and the CUDA state of every device that one of `tensors` is on."""
    cuda_devices = {tensor.device for tensor in tensors if tensor.is_cuda}
    cuda = {device: torch.cuda.get_rng_state(device) for device in cuda_devices}
    return torch.get_rng_state(), cuda


def _set_rng_state(state: _RngState) -> None:
    cpu, cuda = state
    torch.set_rng_state(cpu)
    for device, device_state in cuda.items():
        torch.cuda.set_rng_state(device_state, device)


def cached_backward(
    encode: Callable[[Tensor], Tensor],
    views: Sequence[Tensor],
    loss_fn: Callable[[list[Tensor]], Tensor],
    chunk_size: int,
) -> Tensor:
    """Backward of `loss_fn([encode(view) for view in views])`, one chunk of rows at a time.

    views: V tensors (B, ...); encode: a chunk (c, ...) -> embeddings (c, D); loss_fn: the V
    embeddings (B, D) -> a scalar. Returns the loss, detached; parameter `.grad` (of `encode`
    and of `loss_fn`) accumulate as after `loss.backward()` on a plain forward that encodes the
    same chunks in the same order (view 0's chunks first), which for a row-wise deterministic
    encoder is the full-batch forward. Only one chunk's encoder activations are alive at a time.

    Steps (Gao et al., 2021): (1) encode every chunk without a graph, saving the RNG state before
    each; (2) loss_fn on the embeddings as leaf tensors, backward to them; (3) re-encode every
    chunk from its saved RNG state (the same dropout masks, so the embeddings are exactly those
    of step 1) and backpropagate its slice of the cached gradient.

    RNG state after the call: the torch CPU generator (and the CUDA generator of each device a
    view is on) is where step (2) left it, i.e. where the plain forward of the same chunks
    followed by `loss_fn` would leave it; the redraws of step (3) are not seen by the caller.
    Random ops in `encode` must draw on the CPU or on the device of its input. Layers that are
    not row-wise (BatchNorm) see chunk statistics, and update running statistics twice.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
    if len(views) == 0:
        raise ValueError("cached_backward needs at least one view")
    batch = views[0].shape[0]
    for index, view in enumerate(views):
        if view.shape[0] != batch:
            raise ValueError(
                f"all views must have the same batch size; view {index} has {view.shape[0]} "
                f"rows, view 0 has {batch}"
            )

    chunks = [list(view.split(chunk_size)) for view in views]
    chunk_states: list[list[_RngState]] = []
    cached: list[Tensor] = []
    with torch.no_grad():
        for view_chunks in chunks:
            states, embeddings = [], []
            for chunk in view_chunks:
                states.append(_get_rng_state([chunk]))
                embeddings.append(encode(chunk))
            chunk_states.append(states)
            cached.append(torch.cat(embeddings).requires_grad_())

    with torch.enable_grad():
        loss = loss_fn(cached)
        loss.backward()
        state_after = _get_rng_state(views)
        for view_chunks, states, leaf in zip(chunks, chunk_states, cached):
            if leaf.grad is None:  # loss_fn does not depend on this view
                continue
            for chunk, state, gradient in zip(view_chunks, states, leaf.grad.split(chunk_size)):
                _set_rng_state(state)
                encode(chunk).backward(gradient=gradient)
    _set_rng_state(state_after)
    return loss.detach()
