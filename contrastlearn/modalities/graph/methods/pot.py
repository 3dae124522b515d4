"""POT's node compactness: a certified lower bound of how well each node follows the
contrastive principle over every graph in the augmentation range.

Yu et al., 2023, "Provable Training for Graph Contrastive Learning" (POT), NeurIPS 2023,
arXiv 2309.13944. For node i with view-1 embedding h1_i (the encoder's output) and the other
view's normalised embeddings ĥ2, the contrastive direction is

    W_i = ĥ2_i - 1/(B-1) sum_{j != i} ĥ2_j        (positive minus the mean negative)

and the node compactness is  min over graphs G1 in the range of  W_i . h1_i(G1). POT pushes
sigmoid(compactness) to 1 with binary cross-entropy, i.e. adds mean_i softplus(-bound_i).

The range and the bound (GCN encoders: h = act_L(Â ... act_1(Â X W_1 + b_1) ... W_L + b_L),
Â = D^-1/2 (A + I) D^-1/2 with D the in-degree + 1, as torch_geometric's GCNConv):

- Edge dropping at rate p: node i loses at most Δ_i = min(round(p d_i), d_i) of its d_i
  in-edges (POT's degree-based local budget). Its GCN degree D_i lies in [d_i + 1 - Δ_i,
  d_i + 1], so an edge j -> i has Â_ij = (D_i D_j)^-1/2 in
  [((d_i + 1)(d_j + 1))^-1/2, ((d_i + 1 - Δ_i)(d_j + 1 - Δ_j))^-1/2], or 0 when dropped (only
  possible when Δ_i >= 1, which sets the lower end to 0); the self-loop (never dropped) has
  Â_ii in [1 / (d_i + 1), 1 / (d_i + 1 - Δ_i)].
- Feature masking at a rate > 0 may zero any entry: x lies in [min(0, x), max(0, x)] (the box
  of every mask; a larger rate does not widen it, a count limit on masked columns would
  tighten it and is not used).
- Interval bound propagation through every layer but the last: X W in centre +- radius form
  (c W, r |W|); the aggregation sum_j Â_ij m_j with Â_ij in [l, u] >= 0 and m_j in [m-, m+]
  is bounded by sum_j (l relu(m-) - u relu(-m-)) below and (u relu(m+) - l relu(-m+)) above;
  activations map interval ends (and 0 for a kink at 0).
- The last layer is bounded as CROWN does (Zhang et al., 2018, arXiv 1811.00866), which POT's
  own derivation follows: each output unit's activation is replaced by a linear bound on its
  pre-activation interval (lower bound where W_i is >= 0, upper where < 0; exact when the
  interval does not cross 0), so W_i . h1_i >= sum_j Â_ij (v_i . h_j) + const_i with
  v_i = (W_i * slope_i) W_L. Each v_i . h_j is bounded over the interval of h_j and then
  multiplied by the Â_ij end that minimises it. This keeps the last weight matrix exact
  instead of widening it with |W_L|.

Every step is a sound relaxation, so the result is a true lower bound over the whole range;
with a zero range every interval collapses and it equals the exact W_i . h1_i. POT's own code
evaluates its relaxation at the sampled view's adjacency and relaxes the hidden layer with the
target node's bounds; here the bound holds for every graph in the range instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GCNConv
from torch_geometric.utils import remove_self_loops

MONOTONE_ACTIVATIONS = (nn.ELU, nn.CELU, nn.SELU, nn.Tanh, nn.Sigmoid, nn.Softplus)
"""Non-decreasing activations: bounded through their interval ends (no linear relaxation)."""

EDGE_CHUNK_ELEMENTS = 1 << 24
"""Edges of the last layer's bound are processed in chunks of at most this many numbers."""


def check_pot_encoder(encoder: nn.Module) -> None:
    """A one-line error unless `encoder` is a plain GCN stack POT's bound covers: `conv` ==
    "gcn", `convs` of GCNConv (normalised, self-loops, not `improved`), one supported
    activation per layer, no batch norm, no dropout, only the last layer's output."""
    if getattr(encoder, "conv", None) != "gcn":
        raise ValueError(f"POT's bound is derived for GCN encoders (encoder: gcn); got "
                         f"conv={getattr(encoder, 'conv', type(encoder).__name__)!r}: set "
                         "pot_weight=0 or use the gcn encoder")
    convs, activations = getattr(encoder, "convs", None), getattr(encoder, "activations", None)
    if convs is None or activations is None or len(convs) != len(activations):
        raise ValueError("POT needs an encoder with `convs` and one activation per layer in "
                         "`activations` (the gcn encoder)")
    for conv in convs:
        if not (isinstance(conv, GCNConv) and conv.normalize and conv.add_self_loops
                and not conv.improved):
            raise ValueError("POT's bound covers GCNConv layers with normalize=True, "
                             "add_self_loops=True, improved=False; got " + repr(conv))
    for activation in activations:
        if _negative_slope(activation) is None and not isinstance(activation,
                                                                  MONOTONE_ACTIVATIONS):
            raise ValueError(f"POT cannot bound activation {type(activation).__name__}; use "
                             "prelu, relu or elu")
    if any(not isinstance(norm, nn.Identity) for norm in getattr(encoder, "norms", [])):
        raise ValueError("POT's bound does not cover batch norm in the encoder: set "
                         "encoder.kwargs.batch_norm=false or pot_weight=0")
    dropout = getattr(encoder, "dropout", None)
    if isinstance(dropout, nn.Dropout) and dropout.p > 0:
        raise ValueError("POT's bound is for the encoder without dropout: set "
                         "encoder.kwargs.dropout=0 or pot_weight=0")
    if getattr(encoder, "jumping", "last") != "last":
        raise ValueError("POT bounds the last layer's embeddings: set encoder.kwargs.jumping="
                         "last or pot_weight=0")


def compactness_weights(other_view: Tensor) -> Tensor:
    """(B, D) POT's contrastive direction of each node: its normalised embedding in the other
    view minus the mean of the other nodes' (just its own when B = 1)."""
    normalised = F.normalize(other_view, dim=1)
    count = normalised.shape[0]
    if count == 1:
        return normalised
    others = normalised.sum(dim=0, keepdim=True) - normalised
    return normalised - others / (count - 1)


@dataclass
class AdjacencyRange:
    """Entry-wise range of GCN's normalised adjacency over the edge-dropping range, as two
    sparse (N, N) matrices indexed [target, source], self-loops included."""

    lower: Tensor
    upper: Tensor
    source: Tensor  # (E + N,) the entries' source nodes, grouped by target
    target: Tensor  # (E + N,) sorted
    lower_values: Tensor
    upper_values: Tensor


def adjacency_range(edge_index: Tensor, num_nodes: int, edge_drop: float,
                    dtype: torch.dtype = torch.float32) -> AdjacencyRange:
    """The interval of each Â entry when every node loses at most round(edge_drop * d) of
    its d in-edges (see the module docstring for the derivation)."""
    if not 0.0 <= edge_drop <= 1.0:
        raise ValueError(f"POT edge-drop rate must be in [0, 1]; got {edge_drop}")
    edge_index, _ = remove_self_loops(edge_index)
    source, target = edge_index
    device = edge_index.device
    degree = torch.bincount(target, minlength=num_nodes).to(dtype)
    budget = torch.minimum(torch.round(edge_drop * degree), degree)
    most, least = degree + 1, degree + 1 - budget
    upper = (least[source] * least[target]).rsqrt()
    lower = torch.where(budget[target] > 0, torch.zeros_like(upper),
                        (most[source] * most[target]).rsqrt())
    nodes = torch.arange(num_nodes, device=device)
    source, target = torch.cat([source, nodes]), torch.cat([target, nodes])
    lower, upper = torch.cat([lower, 1.0 / most]), torch.cat([upper, 1.0 / least])
    order = torch.argsort(target, stable=True)
    source, target, lower, upper = source[order], target[order], lower[order], upper[order]
    indices = torch.stack([target, source])

    def sparse(values: Tensor) -> Tensor:
        return torch.sparse_coo_tensor(indices, values, (num_nodes, num_nodes),
                                       check_invariants=False).coalesce()

    return AdjacencyRange(sparse(lower), sparse(upper), source, target, lower, upper)


def feature_range(x: Tensor, feature_mask: float) -> tuple[Tensor, Tensor]:
    """The interval of each feature: x itself without masking, [min(0, x), max(0, x)] when
    masking (rate > 0) may zero it."""
    if not 0.0 <= feature_mask <= 1.0:
        raise ValueError(f"POT feature-mask rate must be in [0, 1]; got {feature_mask}")
    if feature_mask == 0:
        return x, x
    return x.clamp(max=0), x.clamp(min=0)


def compactness_lower_bound(encoder: nn.Module, x: Tensor, edge_index: Tensor, nodes: Tensor,
                            weights: Tensor, edge_drop: float, feature_mask: float) -> Tensor:
    """(len(nodes),) a lower bound of weights[k] . h(G)[nodes[k]] over every graph G in the
    range around the clean graph (x, edge_index): edges dropped at `edge_drop`, features
    masked at `feature_mask`; h is `encoder`'s node embedding (a GCN stack, see
    `check_pot_encoder`). Differentiable in the encoder's parameters and in `weights`."""
    check_pot_encoder(encoder)
    adjacency = adjacency_range(edge_index, x.shape[0], edge_drop, x.dtype)
    low, high = feature_range(x, feature_mask)
    layers = list(zip(encoder.convs, encoder.activations))
    for conv, activation in layers[:-1]:
        low, high = _conv_interval(conv, adjacency, low, high)
        low, high = _activation_interval(activation, low, high)
    conv, activation = layers[-1]
    pre_low, pre_high = _conv_interval(conv, adjacency, low, high)
    pre_low, pre_high = pre_low[nodes], pre_high[nodes]
    slope, intercept = _linear_relaxation(activation, pre_low, pre_high, weights)
    coefficients = weights * slope  # (B, H): the bound is coefficients . pre-activation + ...
    constant = (weights * intercept).sum(dim=1)
    if conv.bias is not None:
        constant = constant + coefficients @ conv.bias
    directions = coefficients @ conv.lin.weight  # (B, in): v_k, one per node
    return constant + _aggregate_directions(adjacency, nodes, directions, low, high)


def _conv_interval(conv: GCNConv, adjacency: AdjacencyRange, low: Tensor, high: Tensor
                   ) -> tuple[Tensor, Tensor]:
    """Interval of GCNConv's output (pre-activation) from an interval of its input."""
    weight = conv.lin.weight
    centre, radius = (low + high) / 2, (high - low) / 2
    message_centre = centre @ weight.T
    message_radius = radius @ weight.abs().T
    message_low, message_high = message_centre - message_radius, message_centre + message_radius
    lower, upper = adjacency.lower, adjacency.upper
    out_low = torch.sparse.mm(lower, F.relu(message_low)) - torch.sparse.mm(
        upper, F.relu(-message_low))
    out_high = torch.sparse.mm(upper, F.relu(message_high)) - torch.sparse.mm(
        lower, F.relu(-message_high))
    if conv.bias is not None:
        out_low, out_high = out_low + conv.bias, out_high + conv.bias
    return out_low, out_high


def _negative_slope(activation: nn.Module) -> Tensor | float | None:
    """The slope below 0 of a piecewise-linear activation with slope 1 above 0, or None."""
    if isinstance(activation, nn.ReLU):
        return 0.0
    if isinstance(activation, nn.LeakyReLU):
        return float(activation.negative_slope)
    if isinstance(activation, nn.PReLU):
        return activation.weight
    if isinstance(activation, nn.Identity):
        return 1.0
    return None


def _activation_interval(activation: nn.Module, low: Tensor, high: Tensor
                         ) -> tuple[Tensor, Tensor]:
    """Interval of activation(p) for p in [low, high]: monotone functions map the ends; a
    piecewise-linear one with its kink at 0 takes its extremes at the ends or at 0."""
    if _negative_slope(activation) is None:
        return activation(low), activation(high)
    values = torch.stack([activation(low), activation(high),
                          activation(torch.minimum(torch.maximum(low.new_zeros(()), low), high))])
    return values.amin(dim=0), values.amax(dim=0)


def _linear_relaxation(activation: nn.Module, low: Tensor, high: Tensor, weights: Tensor
                       ) -> tuple[Tensor, Tensor]:
    """(slope, intercept) per unit with weights * activation(p) >= weights * (slope p +
    intercept) for every p in [low, high]: a lower linear bound of the activation where the
    weight is >= 0, an upper one where it is < 0. Piecewise-linear activations (slopes a
    below 0, 1 above) get the chord and a line through 0 (the CROWN choice of slope); others a
    constant (their value at the interval end)."""
    slope_below = _negative_slope(activation)
    takes_lower = weights >= 0
    if slope_below is None:
        zero = torch.zeros_like(low)
        return zero, torch.where(takes_lower, activation(low), activation(high))
    slope_below = torch.as_tensor(slope_below, dtype=low.dtype, device=low.device)
    slope_below = slope_below.expand_as(low) if slope_below.dim() == 0 else (
        slope_below.expand(low.shape[1]).expand_as(low))
    positive, negative = low >= 0, high <= 0
    crossing = ~(positive | negative)
    width = torch.where(crossing, high - low, torch.ones_like(low))
    chord_slope = (high - slope_below * low) / width
    chord_intercept = low * high * (slope_below - 1) / width
    origin_slope = torch.where(high >= -low, torch.ones_like(low), slope_below)
    convex = slope_below <= 1  # then the chord lies above, lines through 0 below
    lower_slope = torch.where(convex, origin_slope, chord_slope)
    upper_slope = torch.where(convex, chord_slope, origin_slope)
    lower_intercept = torch.where(convex, torch.zeros_like(low), chord_intercept)
    upper_intercept = torch.where(convex, chord_intercept, torch.zeros_like(low))
    relaxed_slope = torch.where(takes_lower, lower_slope, upper_slope)
    relaxed_intercept = torch.where(takes_lower, lower_intercept, upper_intercept)
    slope = torch.where(positive, torch.ones_like(low),
                        torch.where(negative, slope_below, relaxed_slope))
    intercept = torch.where(crossing, relaxed_intercept, torch.zeros_like(low))
    return slope, intercept


def _aggregate_directions(adjacency: AdjacencyRange, nodes: Tensor, directions: Tensor,
                          low: Tensor, high: Tensor) -> Tensor:
    """sum over the entries j -> nodes[k] of min over Â_kj in its range and h_j in [low, high]
    of Â_kj (directions[k] . h_j), for every k (edges processed in chunks)."""
    num_nodes = low.shape[0]
    counts = torch.bincount(adjacency.target, minlength=num_nodes)
    starts = torch.cumsum(counts, 0) - counts
    per_row = counts[nodes]
    row = torch.repeat_interleave(torch.arange(len(nodes), device=nodes.device), per_row)
    first = torch.cumsum(per_row, 0) - per_row
    entry = starts[nodes][row] + torch.arange(len(row), device=nodes.device) - first[row]
    centre, radius = (low + high) / 2, (high - low) / 2
    total = directions.new_zeros(len(nodes))
    chunk = max(1, EDGE_CHUNK_ELEMENTS // max(1, directions.shape[1]))
    for begin in range(0, len(entry), chunk):
        rows, entries = row[begin:begin + chunk], entry[begin:begin + chunk]
        source, direction = adjacency.source[entries], directions[rows]
        least = ((centre[source] * direction).sum(dim=1)
                 - (radius[source] * direction.abs()).sum(dim=1))
        term = (adjacency.lower_values[entries] * F.relu(least)
                - adjacency.upper_values[entries] * F.relu(-least))
        total = total.index_add(0, rows, term)
    return total
