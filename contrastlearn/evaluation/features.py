"""Turn a trained encoder and a dataset into the (N, D) embeddings every evaluator takes."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn


def _module_device(module: nn.Module) -> torch.device | None:
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return None


def extract_embeddings(
    encoder: nn.Module, data: Tensor | np.ndarray, batch_size: int = 512,
    device: torch.device | str | None = None, progress: bool = False,
) -> Tensor:
    """Run `encoder` over `data` ((N, ...) tensor or array, first dim = samples) in batches of
    `batch_size` and return the (N, D) float32 embeddings on the CPU.

    The encoder runs in eval mode (batch-norm uses running statistics, dropout is off) under
    `torch.no_grad`, and gets its previous training mode back afterwards. Batches go to
    `device` (None: wherever the encoder's parameters are); an encoder on another device is
    moved there for the call and moved back afterwards. An encoder that returns a tuple (e.g.
    pooled and per-position features) contributes its first element. `progress=True` shows a
    tqdm bar.
    """
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(np.ascontiguousarray(data))
    if not isinstance(data, Tensor):
        raise ValueError(
            f"data must be a torch tensor or numpy array with samples on the first dim, got "
            f"{type(data).__name__}"
        )
    if data.dim() == 0:
        raise ValueError("data must have a sample dimension, got a 0-d tensor")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    original_device = _module_device(encoder)
    default_device = original_device or torch.device("cpu")
    target = torch.device(device) if device is not None else default_device
    was_training = encoder.training
    moved = original_device is not None and original_device != target
    if moved:
        encoder.to(target)
    encoder.eval()
    starts = range(0, data.shape[0], int(batch_size))
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="embedding", unit="batch")
    outputs: list[Tensor] = []
    try:
        # no_grad rather than inference_mode: inference tensors cannot later be used in
        # autograd (e.g. a linear probe fit on them).
        with torch.no_grad():
            for start in starts:
                batch = data[start:start + int(batch_size)].to(target, non_blocking=True)
                output = encoder(batch)
                if isinstance(output, (tuple, list)):
                    output = output[0]
                if not isinstance(output, Tensor) or output.dim() != 2:
                    shape = tuple(output.shape) if isinstance(output, Tensor) else type(output)
                    raise ValueError(
                        f"encoder output must be (batch, dim), got {shape} for a batch of "
                        f"shape {tuple(batch.shape)}; pool per-position features first"
                    )
                outputs.append(output.float().cpu())
    finally:
        encoder.train(was_training)
        if moved:
            encoder.to(original_device)
    if not outputs:
        raise ValueError("data holds no samples (first dim is 0)")
    return torch.cat(outputs)
