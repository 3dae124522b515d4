"""SoftCLT (Lee et al., ICLR 2024, arXiv 2312.16424): TS2Vec with soft contrastive targets.

Series that are close in data space (DTW between the raw training series) are not pushed
apart as hard negatives but pulled together in proportion to their closeness, and
timestamps near each other in time count as partial positives of each other."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from contrastlearn.core.registry import METHODS
from contrastlearn.data.arrays import ArrayDataset, DataError
from contrastlearn.evaluation.dtw import pairwise_dtw
from contrastlearn.modalities.timeseries.methods.ts2vec import TS2Vec
from contrastlearn.objectives.hierarchical import HierarchicalContrastive, soft_instance_weights

MAX_SERIES = 30_000
"""The soft instance targets are an (N, N) table: beyond this many series it would not fit."""

InstanceScaling = Literal["column", "row"]
INSTANCE_SCALINGS = ("column", "row")


def pairwise_distances(x: Tensor, kind: Literal["dtw", "euclidean"]) -> Tensor:
    """(N, N) distances between the series of x (N, C, L), NaN-padded at the end; Euclidean
    distances compare padding as zeros."""
    if kind == "dtw":
        return pairwise_dtw(x)
    if kind == "euclidean":
        flat = torch.nan_to_num(x, nan=0.0).flatten(1)
        return torch.cdist(flat, flat)
    raise ValueError(f"distance must be 'dtw' or 'euclidean', got {kind!r}")


def column_scaled_distances(distances: Tensor) -> Tensor:
    """The normalised distances of SoftCLT's code (github.com/seunghan96/softclt,
    `utils_distance_matrix.save_sim_mat`): the diagonal is set to the smallest off-diagonal
    distance m of the whole matrix, then every column j is min-max scaled (sklearn's
    MinMaxScaler, fitted per column): (d_ij - m) / (max_i d_ij - m), 0 where a column has no
    spread. So 0 is the globally closest pair (and the diagonal), 1 each column's farthest."""
    if distances.dim() != 2 or distances.shape[0] != distances.shape[1]:
        raise ValueError(f"distances must be a square matrix; got {tuple(distances.shape)}")
    if len(distances) == 1:
        return torch.zeros_like(distances)
    diagonal = torch.arange(len(distances), device=distances.device)
    scaled = distances.clone()  # the one (N, N) copy: N may be tens of thousands
    scaled[diagonal, diagonal] = float("inf")
    lowest = scaled.amin()
    scaled[diagonal, diagonal] = lowest
    span = scaled.amax(dim=0, keepdim=True) - lowest  # each column's minimum is `lowest`
    span = torch.where(span > 0, span, torch.ones_like(span))  # sklearn's zero-range rule
    return scaled.sub_(lowest).div_(span)


def softclt_instance_weights(distances: Tensor, tau: float, alpha: float = 0.5,
                             scaling: InstanceScaling = "column") -> Tensor:
    """SoftCLT's soft instance assignments w_ij = 2 alpha sigmoid(-tau d_ij) from an (N, N)
    distance table, with w_ii = 1; row i is the anchor, column j the target.

    `scaling="column"` (default) scales the distances exactly as the paper's code does
    (`column_scaled_distances`; its `densify(-d, tau, alpha)` is 2 alpha sigmoid(-tau d)
    + (1 - alpha) I, which is 1 on the diagonal): the globally closest pair gets alpha and
    w_ij depends on the spread of target j's column, so the table is not symmetric.
    `scaling="row"` is this library's earlier variant (`soft_instance_weights`): each row is
    min-max scaled over its off-diagonal entries, so every anchor's nearest other series gets
    alpha and its farthest 2 alpha sigmoid(-tau)."""
    if scaling == "row":
        return soft_instance_weights(distances, tau, alpha)
    if scaling != "column":
        raise ValueError(f"instance_scaling must be one of {INSTANCE_SCALINGS}; got {scaling!r}")
    if tau <= 0 or not 0 <= alpha <= 1:
        raise ValueError(f"need tau > 0 and alpha in [0, 1]; got tau={tau}, alpha={alpha}")
    weights = column_scaled_distances(distances).mul_(-tau).sigmoid_().mul_(2 * alpha)
    diagonal = torch.arange(len(weights), device=weights.device)
    weights[diagonal, diagonal] = 1.0
    return weights


@METHODS.register("softclt")
class SoftCLT(TS2Vec):
    """TS2Vec's crops, masking and hierarchical loss with SoftCLT's soft assignments:
    instance targets 2 `soft_alpha` sigmoid(-`instance_tau` d) from the normalised `distance`
    between the training series (0 turns them off), temporal targets
    2 sigmoid(-`temporal_tau` |t - t'|) (0 turns them off). The distance table is computed
    on the training set by `prepare`, on the training device, before the first step.

    `instance_scaling` says how the distances are normalised to [0, 1] before the sigmoid
    (see `softclt_instance_weights`): "column" (default) is the paper's code, global
    off-diagonal minimum and per-column maximum; "row" is a per-row min-max variant (the
    earlier default here). One difference from the paper's code remains in the distances
    themselves: its code min-max scales every series (and channel) to [0, 1], NaNs set to 0,
    before DTW (`datautils.normalize_TS`); here DTW (or the Euclidean distance) compares the
    series as the data gives them."""

    def __init__(self, encoder: nn.Module, alpha: float = 0.5, temporal_unit: int = 0,
                 mask_p: float = 0.5, seed: int | None = None, instance_tau: float = 5.0,
                 temporal_tau: float = 1.0, soft_alpha: float = 0.5,
                 distance: Literal["dtw", "euclidean"] = "dtw", gather: bool = True,
                 instance_scaling: InstanceScaling = "column") -> None:
        super().__init__(encoder, alpha, temporal_unit, mask_p, seed, gather)
        if instance_tau < 0 or not 0 <= soft_alpha <= 1:
            raise ValueError(f"need instance_tau >= 0 and soft_alpha in [0, 1]; got "
                             f"instance_tau={instance_tau}, soft_alpha={soft_alpha}")
        if distance not in ("dtw", "euclidean"):
            raise ValueError(f"distance must be 'dtw' or 'euclidean', got {distance!r}")
        if instance_scaling not in INSTANCE_SCALINGS:
            raise ValueError(f"instance_scaling must be one of {INSTANCE_SCALINGS}; got "
                             f"{instance_scaling!r}")
        self.objective = HierarchicalContrastive(alpha, temporal_unit, temporal_tau, gather)
        self.instance_tau, self.soft_alpha, self.distance = instance_tau, soft_alpha, distance
        self.instance_scaling = instance_scaling
        self._weights: Tensor | None = None
        self._row_of_id: Tensor | None = None

    def prepare(self, data: ArrayDataset, device: torch.device) -> None:
        if self.instance_tau == 0:
            return
        if not isinstance(data, ArrayDataset):
            raise DataError("SoftCLT needs in-memory series (an array dataset) to compute the "
                            "distances between them")
        ids = data.ids
        if len(torch.unique(ids)) != len(ids):
            raise DataError("SoftCLT's soft instance targets need one id per series; this data "
                            "has shared ids (groups). Drop the groups or set "
                            "method.kwargs.instance_tau=0")
        if len(data) > MAX_SERIES:
            raise DataError(f"SoftCLT's instance targets are a table of every pair of series; "
                            f"{len(data)} series are more than {MAX_SERIES}. Subsample the "
                            f"training set or set method.kwargs.instance_tau=0")
        x = data.batch_x(torch.arange(len(data))).to(device=device, dtype=torch.float32)
        distances = pairwise_distances(x, self.distance)
        self._weights = softclt_instance_weights(distances, self.instance_tau, self.soft_alpha,
                                                 self.instance_scaling)
        self._row_of_id = torch.full((int(ids.max()) + 1,), -1, dtype=torch.long, device=device)
        self._row_of_id[ids.to(device)] = torch.arange(len(ids), device=device)

    def instance_weights(self, ids: Tensor | None) -> Tensor | None:
        if self.instance_tau == 0:
            return None
        if ids is None:
            raise ValueError("SoftCLT needs the batch's series ids to look up its soft targets")
        if self._weights is None:
            raise RuntimeError("SoftCLT.prepare(train_data, device) must run before training "
                               "(Trainer.fit calls it)")
        ids = ids.to(self._row_of_id.device)
        if bool((ids >= len(self._row_of_id)).any()):
            raise DataError("a batch holds series SoftCLT.prepare did not see")
        rows = self._row_of_id[ids]
        if bool((rows < 0).any()):
            raise DataError("a batch holds series SoftCLT.prepare did not see")
        return self._weights[rows][:, rows]
