"""Graph neural network encoders: GCN, GIN and GAT stacks on a `GraphBatch`.

One class, `GNNEncoder`, with three registered factories that carry each paper's defaults:

- `gcn`: graph convolutions (Kipf & Welling 2017, arXiv 1609.02907), PReLU, mean readout, as
  in DGI (Veličković et al. 2019, arXiv 1809.10341) and MVGRL (Hassani & Khasahmadi 2020,
  arXiv 2006.05582). Edge weights (diffusion views) enter the degree normalisation.
- `gin`: graph isomorphism layers (Xu et al. 2019, arXiv 1810.00826) with a two-layer MLP
  inside, batch norm, ReLU, sum readout of every layer's output concatenated, as in
  InfoGraph (Sun et al. 2020, arXiv 1908.01000) and GraphCL (You et al. 2020, arXiv
  2010.13902).
- `gat`: graph attention layers (Veličković et al. 2018, arXiv 1710.10903), 4 heads
  concatenated, PReLU, as in GraphMAE's encoder (Hou et al. 2022, arXiv 2205.10803).

Each layer is conv -> batch norm (optional) -> activation -> dropout (not after the last), the
activation applied after the last layer too (as DGI and GRACE do). `edge_weight` reaches GCN
only; `edge_attr` (bond features) and `edge_weight` are ignored by GIN and GAT, and GCN ignores
`edge_attr`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import (
    GATConv,
    GCNConv,
    GINConv,
    global_add_pool,
    global_max_pool,
    global_mean_pool,
)

from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.graph.batch import GraphBatch, check_graph_batch

READOUTS = {"sum": global_add_pool, "mean": global_mean_pool, "max": global_max_pool}
ACTIVATIONS = {"prelu": nn.PReLU, "relu": nn.ReLU, "elu": nn.ELU}
CONVS = ("gcn", "gin", "gat")
JUMPING = ("last", "concat")


def make_conv(conv: str, in_dim: int, out_dim: int, heads: int = 1) -> nn.Module:
    """One PyG layer of kind `conv` from `in_dim` to `out_dim` features (GAT: `heads` heads of
    out_dim // heads features, concatenated; GIN: a Linear-ReLU-Linear MLP inside)."""
    if conv == "gcn":
        return GCNConv(in_dim, out_dim)
    if conv == "gin":
        return GINConv(nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU(),
                                     nn.Linear(out_dim, out_dim)))
    if conv == "gat":
        if out_dim % heads:
            raise ValueError(f"gat layer width {out_dim} must be a multiple of heads={heads}; "
                             "change hidden_dim / out_dim or heads")
        return GATConv(in_dim, out_dim // heads, heads=heads)
    raise ValueError(f"unknown graph convolution {conv!r}; choose one of {', '.join(CONVS)}")


def run_conv(layer: nn.Module, x: Tensor, batch: GraphBatch) -> Tensor:
    """`layer` on node features `x` over the edges of `batch`; a GCN layer also gets the
    batch's edge weights (when it has any)."""
    if isinstance(layer, GCNConv):
        return layer(x, batch.edge_index, batch.edge_weight)
    return layer(x, batch.edge_index)


class GNNEncoder(nn.Module):
    """A stack of `num_layers` graph convolutions of kind `conv` (gcn, gin, gat).

    `node_embeddings(batch)` gives (num_nodes, out_dim): the last layer's output
    (`jumping="last"`) or every layer's output concatenated (`"concat"`, then every layer is
    `hidden_dim` wide and `out_dim` = num_layers * hidden_dim). `forward(batch)` gives one row per
    sample: the seeds' node embeddings at node level, the `readout` (sum, mean, max) of each
    graph's node embeddings at graph level.

    Public for bound propagation: `convs` (the PyG layers), `norms` (BatchNorm1d or Identity),
    `activations` (one per layer, after every layer), `conv` (the kind's name)."""

    def __init__(self, conv: str, num_features: int, hidden_dim: int = 512,
                 out_dim: int | None = None, num_layers: int = 2, readout: str = "mean",
                 activation: str = "prelu", dropout: float = 0.0, batch_norm: bool = False,
                 jumping: str = "last", heads: int = 1) -> None:
        super().__init__()
        if conv not in CONVS:
            raise ValueError(f"unknown graph convolution {conv!r}; choose one of "
                             f"{', '.join(CONVS)}")
        if readout not in READOUTS:
            raise ValueError(f"unknown readout {readout!r}; choose one of {', '.join(READOUTS)}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of "
                             f"{', '.join(ACTIVATIONS)}")
        if jumping not in JUMPING:
            raise ValueError(f"unknown jumping {jumping!r}; choose one of {', '.join(JUMPING)}")
        if int(num_features) <= 0 or int(hidden_dim) <= 0 or int(num_layers) < 1:
            raise ValueError(f"a GNN encoder needs num_features, hidden_dim > 0 and num_layers "
                             f">= 1; got {num_features}, {hidden_dim}, {num_layers}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"GNN encoder dropout must be in [0, 1); got {dropout}")
        if jumping == "concat" and out_dim is not None:
            raise ValueError("jumping='concat' makes out_dim = num_layers * hidden_dim; leave "
                             "out_dim unset (or use jumping='last')")
        self.conv = conv
        self.num_features = int(num_features)
        self.readout = readout
        self.jumping = jumping
        widths = [int(hidden_dim)] * int(num_layers)
        if out_dim is not None:
            widths[-1] = int(out_dim)
        self.out_dim = sum(widths) if jumping == "concat" else widths[-1]
        inputs = [self.num_features, *widths[:-1]]
        self.convs = nn.ModuleList(make_conv(conv, i, o, heads) for i, o in zip(inputs, widths))
        self.norms = nn.ModuleList(nn.BatchNorm1d(o) if batch_norm else nn.Identity()
                                   for o in widths)
        self.activations = nn.ModuleList(ACTIVATIONS[activation]() for _ in widths)
        self.dropout = nn.Dropout(float(dropout))

    def node_embeddings(self, batch: GraphBatch) -> Tensor:
        """(num_nodes, out_dim) embeddings of every node of `batch`."""
        batch = check_graph_batch(batch, f"the {self.conv} encoder")
        if batch.x.shape[1] != self.num_features:
            raise ValueError(f"the {self.conv} encoder was built for {self.num_features} node "
                             f"features; the batch has {batch.x.shape[1]} (set "
                             "encoder.kwargs.num_features from the data)")
        h, outputs = batch.x, []
        last = len(self.convs) - 1
        for index, (layer, norm, activation) in enumerate(
                zip(self.convs, self.norms, self.activations)):
            h = activation(norm(run_conv(layer, h, batch)))
            outputs.append(h)
            if index < last:
                h = self.dropout(h)
        return outputs[-1] if self.jumping == "last" else torch.cat(outputs, dim=1)

    def sample_embeddings(self, node_embeddings: Tensor, batch: GraphBatch) -> Tensor:
        """(len(batch), D) rows of the samples from node embeddings of `batch`: the seeds'
        rows at node level, each graph's readout at graph level."""
        if batch.seeds is not None:
            return node_embeddings[batch.seeds]
        return READOUTS[self.readout](node_embeddings, batch.batch, batch.num_graphs)

    def forward(self, batch: GraphBatch) -> Tensor:
        return self.sample_embeddings(self.node_embeddings(batch), batch)

    def reset_parameters(self) -> None:
        """Fresh weights in every layer (MVGRL's second encoder is a reset copy)."""
        for module in self.modules():
            if module is not self and callable(getattr(module, "reset_parameters", None)):
                module.reset_parameters()


@ENCODERS.register("gcn")
def gcn(num_features: int, hidden_dim: int = 512, out_dim: int | None = None,
        num_layers: int = 2, readout: str = "mean", activation: str = "prelu",
        dropout: float = 0.0, batch_norm: bool = False, jumping: str = "last") -> GNNEncoder:
    """GCN encoder (Kipf & Welling 2017): 512 wide, PReLU, mean readout (DGI, MVGRL)."""
    return GNNEncoder("gcn", num_features, hidden_dim, out_dim, num_layers, readout,
                      activation, dropout, batch_norm, jumping)


@ENCODERS.register("gin")
def gin(num_features: int, hidden_dim: int = 32, out_dim: int | None = None,
        num_layers: int = 2, readout: str = "sum", activation: str = "relu",
        dropout: float = 0.0, batch_norm: bool = True, jumping: str = "concat") -> GNNEncoder:
    """GIN encoder (Xu et al. 2019): 32 wide, batch norm, ReLU, sum readout of all layers
    concatenated (InfoGraph, GraphCL)."""
    return GNNEncoder("gin", num_features, hidden_dim, out_dim, num_layers, readout,
                      activation, dropout, batch_norm, jumping)


@ENCODERS.register("gat")
def gat(num_features: int, hidden_dim: int = 512, out_dim: int | None = None,
        num_layers: int = 2, readout: str = "mean", activation: str = "prelu",
        dropout: float = 0.0, batch_norm: bool = False, jumping: str = "last",
        heads: int = 4) -> GNNEncoder:
    """GAT encoder (Veličković et al. 2018): 512 wide as `heads` concatenated heads, PReLU
    (GraphMAE's encoder)."""
    return GNNEncoder("gat", num_features, hidden_dim, out_dim, num_layers, readout,
                      activation, dropout, batch_norm, jumping, heads)
