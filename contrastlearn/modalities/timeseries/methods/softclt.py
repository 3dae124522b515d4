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
from contrastlearn.modalities.timeseries.dtw import pairwise_dtw
from contrastlearn.modalities.timeseries.methods.ts2vec import TS2Vec
from contrastlearn.objectives.hierarchical import HierarchicalContrastive, soft_instance_weights

MAX_SERIES = 30_000
"""The soft instance targets are an (N, N) table: beyond this many series it would not fit."""


def pairwise_distances(x: Tensor, kind: Literal["dtw", "euclidean"]) -> Tensor:
    """(N, N) distances between the series of x (N, C, L), NaN-padded at the end; Euclidean
    distances compare padding as zeros."""
    if kind == "dtw":
        return pairwise_dtw(x)
    if kind == "euclidean":
        flat = torch.nan_to_num(x, nan=0.0).flatten(1)
        return torch.cdist(flat, flat)
    raise ValueError(f"distance must be 'dtw' or 'euclidean', got {kind!r}")


@METHODS.register("softclt")
class SoftCLT(TS2Vec):
    """TS2Vec's crops, masking and hierarchical loss with SoftCLT's soft assignments:
    instance targets 2 `soft_alpha` sigmoid(-`instance_tau` d) from each series' min-max
    scaled `distance` to the others (0 turns them off), temporal targets
    2 sigmoid(-`temporal_tau` |t - t'|) (0 turns them off). The distance table is computed
    on the training set by `prepare`, on the training device, before the first step."""

    def __init__(self, encoder: nn.Module, alpha: float = 0.5, temporal_unit: int = 0,
                 mask_p: float = 0.5, seed: int | None = None, instance_tau: float = 5.0,
                 temporal_tau: float = 1.0, soft_alpha: float = 0.5,
                 distance: Literal["dtw", "euclidean"] = "dtw", gather: bool = True) -> None:
        super().__init__(encoder, alpha, temporal_unit, mask_p, seed, gather)
        if instance_tau < 0 or not 0 <= soft_alpha <= 1:
            raise ValueError(f"need instance_tau >= 0 and soft_alpha in [0, 1]; got "
                             f"instance_tau={instance_tau}, soft_alpha={soft_alpha}")
        if distance not in ("dtw", "euclidean"):
            raise ValueError(f"distance must be 'dtw' or 'euclidean', got {distance!r}")
        self.objective = HierarchicalContrastive(alpha, temporal_unit, temporal_tau, gather)
        self.instance_tau, self.soft_alpha, self.distance = instance_tau, soft_alpha, distance
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
        self._weights = soft_instance_weights(distances, self.instance_tau, self.soft_alpha)
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
