"""Shuffled group whitening (SGW): the feature dimensions are randomly shuffled and split into
groups, and each group is ZCA-whitened over the batch. A different shuffle gives a different
whitened view of the same embedding, the extra positives of WhitenedCSE.

Zhuo et al., 2023, "WhitenedCSE: Whitening-based Contrastive Learning of Sentence
Embeddings", ACL 2023, arXiv 2305.17746.
"""

from __future__ import annotations

import torch
from torch import Tensor

DEFAULT_EPS = 1e-5


def group_sizes(dim: int, num_groups: int) -> list[int]:
    """Sizes of `num_groups` groups covering `dim` dimensions, as equal as possible: the first
    `dim % num_groups` groups are one dimension larger (the `torch.tensor_split` layout)."""
    if not 1 <= num_groups <= dim:
        raise ValueError(
            f"num_groups must be in [1, {dim}] (the embedding width); got {num_groups}"
        )
    size, larger = divmod(dim, num_groups)
    return [size + 1] * larger + [size] * (num_groups - larger)


def zca_whiten(groups: Tensor, eps: float = DEFAULT_EPS) -> Tensor:
    """ZCA-whiten (G, B, g) groups over the batch axis: centre, then multiply by
    cov^(-1/2) = U diag((s + eps)^(-1/2)) U^T, with the biased covariance x^T x / B.

    The whitening matrix is a per-batch constant (computed without gradient); the gradient
    flows through the centred features it multiplies (the mean subtraction included). This
    matches the paper's code (github.com/SupstarZh/WhitenedCSE,
    `shuffled_group_whitening.transformation`), which rebuilds the covariance as a new leaf
    tensor (`torch.tensor(covs, requires_grad=True)`) before its eigendecomposition, so no
    gradient reaches the features through the whitening matrix either; it also avoids the
    eigendecomposition's backward, which divides by eigenvalue gaps. Two numerical
    differences from that code: `eps` is added to the eigenvalues (it takes
    S^(-1/2) as is) and the decomposition runs in float64 (it uses float32)."""
    centred = groups - groups.mean(dim=1, keepdim=True)
    with torch.no_grad():
        work = centred.detach().double()
        covariance = work.transpose(1, 2) @ work / groups.shape[1]
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
        scale = (eigenvalues.clamp_min(0) + eps).rsqrt()
        whitening = (eigenvectors * scale[:, None, :]) @ eigenvectors.transpose(1, 2)
    return centred @ whitening.to(centred.dtype)


def shuffled_group_whitening(
    z: Tensor, num_groups: int, generator: torch.Generator, eps: float = DEFAULT_EPS
) -> Tensor:
    """Whiten (B, D) embeddings group by group after a random shuffle of the D dimensions.

    The permutation is the generator's next `torch.randperm(D)` draw (on the CPU when the
    generator is a CPU one); permuted dimension k goes to group k // g (see `group_sizes`);
    the output is put back in the original dimension order. Every group needs a batch larger
    than its size, otherwise its batch covariance is singular."""
    if z.dim() != 2:
        raise ValueError(f"shuffled_group_whitening expects (batch, dim); got {tuple(z.shape)}")
    batch, dim = z.shape
    sizes = group_sizes(dim, num_groups)
    if batch <= sizes[0]:
        raise ValueError(
            f"whitening a group of {sizes[0]} dimensions needs a batch larger than {sizes[0]}; "
            f"got a batch of {batch}: use a larger batch or more groups (num_groups > "
            f"{num_groups})"
        )
    permutation = torch.randperm(dim, generator=generator, device=generator.device)
    permutation = permutation.to(z.device)
    shuffled = z[:, permutation]
    pieces = []
    start = 0
    for size in sorted(set(sizes), reverse=True):  # groups of one size whiten in one batch
        count = sizes.count(size)
        part = shuffled[:, start:start + size * count].reshape(batch, count, size)
        whitened = zca_whiten(part.transpose(0, 1), eps)  # (count, B, size)
        pieces.append(whitened.transpose(0, 1).reshape(batch, size * count))
        start += size * count
    return torch.cat(pieces, dim=1)[:, torch.argsort(permutation)]
