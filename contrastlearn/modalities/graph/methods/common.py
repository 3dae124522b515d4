"""What the graph methods share: checking their views and encoder, the nodes a loss covers,
DGI's graph summary, and a freshly initialised copy of an encoder."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch_geometric.nn import global_mean_pool

from contrastlearn.modalities.graph.batch import GraphBatch, check_graph_batch


def require_node_embeddings(encoder: nn.Module, method: str) -> None:
    """A clear error unless `encoder` gives per-node embeddings (`node_embeddings(batch)`)."""
    if not callable(getattr(encoder, "node_embeddings", None)):
        raise TypeError(f"{method} needs a graph encoder with node_embeddings(batch) (gcn, gin, "
                        f"gat); got {type(encoder).__name__}")


def graph_views(views: list, count: int, method: str, policy: str) -> list[GraphBatch]:
    """The first `count` views, checked to be GraphBatches on the same nodes."""
    if len(views) < count:
        raise ValueError(f"{method} needs {count} views from {policy}; got {len(views)} (set "
                         f"views.name: {policy.split()[0]})")
    chosen = [check_graph_batch(view, method) for view in views[:count]]
    if any(view.num_nodes != chosen[0].num_nodes for view in chosen):
        raise ValueError(f"{method}'s views must keep the nodes of the graph (views that drop "
                         f"nodes do not fit); got {[view.num_nodes for view in chosen]} nodes")
    return chosen


def loss_nodes(batch: GraphBatch) -> Tensor:
    """The nodes a node-wise loss covers: the seeds at node level, every node at graph level."""
    if batch.seeds is not None:
        return batch.seeds
    return torch.arange(batch.num_nodes, device=batch.device)


def shuffle_within_graphs(batch: GraphBatch) -> Tensor:
    """(num_nodes,) a random order of the nodes that keeps each node in its graph (torch's
    default generator): DGI's corruption is `x[order]`."""
    order = torch.argsort(torch.rand(batch.num_nodes, device=batch.device))
    return order[torch.argsort(batch.batch[order], stable=True)]


def graph_summaries(node_embeddings: Tensor, batch: GraphBatch) -> Tensor:
    """(num_graphs, D) DGI's summary of each graph: sigmoid of its nodes' mean embedding."""
    return torch.sigmoid(global_mean_pool(node_embeddings, batch.batch, batch.num_graphs))


def sample_rows(node_embeddings: Tensor, batch: GraphBatch) -> Tensor:
    """(len(batch), D) one row per sample for the training diagnostics: the seeds' rows at
    node level, each graph's mean at graph level."""
    if batch.seeds is not None:
        return node_embeddings[batch.seeds]
    return global_mean_pool(node_embeddings, batch.batch, batch.num_graphs)


def fresh_copy(module: nn.Module) -> nn.Module:
    """A copy of `module` with the same architecture and newly initialised weights."""
    copied = copy.deepcopy(module)
    for part in copied.modules():
        reset = getattr(part, "reset_parameters", None)
        if part is not copied and callable(reset):
            reset()
    return copied
