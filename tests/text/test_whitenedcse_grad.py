"""WhitenedCSE's whitening (Zhuo et al. 2023, ACL, arXiv 2305.17746) passes gradients through
the centred features but not through the whitening matrix, as the paper's code does (its
`transformation` re-creates the covariance as a fresh leaf before the eigendecomposition)."""

from __future__ import annotations

import numpy as np
import torch

from contrastlearn.objectives.whitening import shuffled_group_whitening, zca_whiten

BATCH, DIM, GROUPS, EPS = 12, 6, 2, 1e-5


def inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(BATCH, DIM, generator=generator, dtype=torch.float64)
    z = (z @ torch.randn(DIM, DIM, generator=generator, dtype=torch.float64)).requires_grad_()
    weights = torch.randn(BATCH, DIM, generator=generator, dtype=torch.float64)
    return z, weights


def constant_matrix(centred: torch.Tensor) -> torch.Tensor:
    """cov^(-1/2) of detached centred rows, in numpy: a constant for autograd."""
    rows = centred.detach().numpy()
    eigenvalues, eigenvectors = np.linalg.eigh(rows.T @ rows / len(rows))
    matrix = eigenvectors @ np.diag((np.clip(eigenvalues, 0, None) + EPS) ** -0.5) @ eigenvectors.T
    return torch.from_numpy(matrix)


def differentiable_matrix(centred: torch.Tensor) -> torch.Tensor:
    """cov^(-1/2) with autograd through the covariance and its eigendecomposition."""
    eigenvalues, eigenvectors = torch.linalg.eigh(centred.T @ centred / len(centred))
    return eigenvectors @ torch.diag((eigenvalues + EPS).rsqrt()) @ eigenvectors.T


def reference(z: torch.Tensor, permutation: torch.Tensor, matrix) -> torch.Tensor:
    """Group g holds the permuted dimensions g * size ... (g + 1) * size - 1; each group is
    centred (with gradient) and multiplied by `matrix(centred)`; columns go back in place."""
    size = DIM // GROUPS
    out = torch.zeros_like(z)
    for group in range(GROUPS):
        columns = permutation[group * size:(group + 1) * size]
        centred = z[:, columns] - z[:, columns].mean(dim=0, keepdim=True)
        out = out.index_copy(1, columns, centred @ matrix(centred))
    return out


def test_gradient_flows_through_the_centred_features_not_the_whitening_matrix():
    z, weights = inputs()
    out = shuffled_group_whitening(z, GROUPS, torch.Generator().manual_seed(3), eps=EPS)
    (gradient,) = torch.autograd.grad((out * weights).sum(), z)
    permutation = torch.randperm(DIM, generator=torch.Generator().manual_seed(3))

    constant = reference(z, permutation, constant_matrix)
    torch.testing.assert_close(out, constant)
    (expected,) = torch.autograd.grad((constant * weights).sum(), z)
    torch.testing.assert_close(gradient, expected)

    # differentiating through the matrix gives the same values but another gradient
    full = reference(z, permutation, differentiable_matrix)
    torch.testing.assert_close(full, out)
    (through_matrix,) = torch.autograd.grad((full * weights).sum(), z)
    assert not torch.allclose(through_matrix, gradient, atol=1e-3)


def test_zca_whiten_gradient_is_the_constant_matrix_times_the_centring():
    """For one group: d(sum R * (Xc W)) / dX = (I - 11^T / B) R W^T with W held constant."""
    z, weights = inputs(seed=1)
    out = zca_whiten(z[None], eps=EPS)[0]
    (gradient,) = torch.autograd.grad((out * weights).sum(), z)
    matrix = constant_matrix(z - z.mean(dim=0))
    centring = torch.eye(BATCH, dtype=z.dtype) - torch.full((BATCH, BATCH), 1 / BATCH,
                                                              dtype=z.dtype)
    torch.testing.assert_close(gradient, centring @ weights @ matrix.T)
    # the matrix is a plain tensor with no history: nothing reaches it in the backward
    assert out.grad_fn is not None and not any(
        "Eigh" in type(node).__name__ for node in _graph_nodes(out.grad_fn))


def _graph_nodes(root) -> list:
    seen, stack = [], [root]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.append(node)
        stack.extend(parent for parent, _ in node.next_functions)
    return seen
