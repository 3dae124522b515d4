"""The user-item graph as a sparse matrix: LightGCN's symmetric normalisation of the
bipartite adjacency (He et al. 2020, "LightGCN", arXiv 2002.02126, eq. 7)."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from contrastlearn.modalities.recsys.interactions import Interactions


def normalized_adjacency(graph: Interactions, device: torch.device | str | None = None,
                         weights: Tensor | None = None) -> Tensor:
    """(U + I, U + I) sparse (COO, coalesced) matrix D^-1/2 A D^-1/2 of the bipartite graph
    (users first, then items; both directions of each interaction; `weights` per interaction,
    default 1).
    Nodes without edges get zero rows."""
    num_nodes = graph.num_users + graph.num_items
    users = graph.users.to(device)
    items = graph.items.to(device) + graph.num_users
    values = torch.ones(len(users), device=users.device) if weights is None else weights.to(
        users.device).float()
    rows = torch.cat([users, items])
    cols = torch.cat([items, users])
    both = torch.cat([values, values])
    degree = torch.zeros(num_nodes, device=users.device).index_add_(0, rows, both)
    inverse_root = degree.pow(-0.5).masked_fill_(degree == 0, 0.0)
    normalized = both * inverse_root[rows] * inverse_root[cols]
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), normalized, (num_nodes, num_nodes),
                                   check_invariants=False).coalesce()


def as_csr(matrix: Tensor) -> Tensor:
    """`matrix` in CSR layout (sparse products with CSR are several times faster on CPU)."""
    if matrix.layout == torch.sparse_csr:
        return matrix
    with warnings.catch_warnings():  # "sparse CSR support is in beta": CSR x dense is stable
        warnings.simplefilter("ignore", UserWarning)
        return matrix.coalesce().to_sparse_csr()


class _SymmetricProduct(torch.autograd.Function):
    """`matrix @ x` for a symmetric sparse matrix: the gradient with respect to x is
    `matrix @ grad` (no transpose to build, unlike torch.sparse.mm's COO backward)."""

    @staticmethod
    def forward(ctx, matrix: Tensor, x: Tensor) -> Tensor:  # noqa: D102
        ctx.matrix = matrix
        return matrix @ x

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor]:  # noqa: D102
        return None, ctx.matrix @ grad


def symmetric_product(matrix: Tensor, x: Tensor) -> Tensor:
    """`matrix @ x` (differentiable in x) for a symmetric sparse CSR `matrix` such as the
    normalised adjacency and its perturbed copies; about 8x faster forward and backward than
    torch.sparse.mm on a COO matrix (ml-100k, one CPU thread)."""
    return _SymmetricProduct.apply(matrix, x)
