"""Batch samplers: epoch orders that decide which items share a batch.

`cluster_spread` is G-SimCLR's batching (Chakraborty et al. 2020, arXiv 2009.12007): before
training, pseudo-labels by k-means on a representation of the training data, then batches in
which no two items share a pseudo-label, so that a batch's negatives are truly negative. The
paper clusters a denoising autoencoder's latent codes with k = the number of classes; here the
representation is an option, `raw` (the flattened samples reduced by PCA: cheap, no extra
model) or `encoder` (the initial encoder's embeddings).

The pseudo-labels are computed once, at the start of training, and kept in the checkpoint, so
a resumed run uses the same ones; the order of an epoch is a function of (seed, epoch,
pseudo-labels) only, so resume is exact.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from contrastlearn.core.registry import BATCH_SAMPLERS
from contrastlearn.data.arrays import ArrayDataset, DataError
from contrastlearn.evaluation.features import extract_embeddings

SPREAD_SALT = 4_256_233
"""Keeps the cluster-spread order's seed apart from every plain epoch permutation's seed."""
PCA_FIT_ROWS = 2048
"""PCA directions are fitted on at most this many (seeded) rows, then applied to all."""
DISTANCE_CHUNK = 65_536
"""Rows per block when assigning points to their nearest centre (bounded memory)."""


def principal_components(x: Tensor, dims: int, seed: int) -> Tensor:
    """(N, ...) samples flattened and projected on their top `dims` principal directions,
    fitted by an SVD of at most PCA_FIT_ROWS seeded rows (deterministic, no random projection).
    NaN padding (time series) counts as 0."""
    flat = torch.nan_to_num(x.reshape(len(x), -1).float())
    mean = flat.mean(dim=0)
    rows = flat
    if len(flat) > PCA_FIT_ROWS:
        chosen = torch.randperm(len(flat), generator=torch.Generator().manual_seed(seed))
        rows = flat[chosen[:PCA_FIT_ROWS]]
    _, _, directions = torch.linalg.svd(rows - mean, full_matrices=False)
    return (flat - mean) @ directions[:dims].T


def _nearest(x: Tensor, centres: Tensor) -> tuple[Tensor, Tensor]:
    """(index of the nearest centre, squared distance to it) for every row of x."""
    indices, distances = [], []
    for block in x.split(DISTANCE_CHUNK):
        squared = torch.cdist(block, centres).square()
        distance, index = squared.min(dim=1)
        indices.append(index)
        distances.append(distance)
    return torch.cat(indices), torch.cat(distances)


def kmeans(features: Tensor, clusters: int, seed: int, iterations: int = 100) -> Tensor:
    """Labels (N,) in [0, clusters) by Lloyd's k-means from a k-means++ start (Arthur &
    Vassilvitskii 2007), every random choice drawn from a generator seeded by `seed`."""
    x = features.reshape(len(features), -1).float()
    if not 1 <= clusters <= len(x):
        raise ValueError(f"k-means needs 1 <= clusters <= number of samples ({len(x)}), got "
                         f"{clusters}")
    generator = torch.Generator().manual_seed(seed)
    first = int(torch.randint(len(x), (1,), generator=generator))
    centres = x[first:first + 1]
    _, closest = _nearest(x, centres)
    for _ in range(1, clusters):
        total = float(closest.sum())
        weights = closest if total > 0 else torch.ones_like(closest)
        chosen = int(torch.multinomial(weights, 1, generator=generator))
        centres = torch.cat([centres, x[chosen:chosen + 1]])
        closest = torch.minimum(closest, _nearest(x, x[chosen:chosen + 1])[1])
    labels = _nearest(x, centres)[0]
    for _ in range(iterations):
        counts = torch.bincount(labels, minlength=clusters).unsqueeze(1)
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        centres = torch.where(counts > 0, sums / counts.clamp(min=1), centres)  # empty: kept
        updated = _nearest(x, centres)[0]
        if torch.equal(updated, labels):
            break
        labels = updated
    return labels


def cluster_spread_order(labels: Tensor, batch_size: int, seed: int, epoch: int) -> Tensor:
    """An epoch order (a permutation of the N items) whose full batches spread every
    pseudo-label as evenly as possible: no batch holds two items of one label when each label
    has at most N // batch_size items (always the case for equal-sized clusters when
    batch_size <= the number of labels); otherwise a label with m kept items is in every batch
    floor(m / batches) or ceil(m / batches) times, the least any order can do.

    How: a seeded shuffle picks the items the trainer's dropped last partial batch gets, the
    kept items are grouped by label (labels and items in seeded random order) and dealt to the
    batches in turn, then each batch and the batch order are shuffled. A function of
    (seed, epoch, labels) only, so resume is exact."""
    count = len(labels)
    num_batches = count // batch_size
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch + SPREAD_SALT)
    shuffled = torch.randperm(count, generator=generator)
    if num_batches == 0:
        return shuffled
    kept, dropped = shuffled[:num_batches * batch_size], shuffled[num_batches * batch_size:]
    _, label_index = torch.unique(labels, return_inverse=True)
    label_rank = torch.randperm(int(label_index.max()) + 1, generator=generator)
    grouped = kept[torch.argsort(label_rank[label_index[kept]], stable=True)]
    batches = grouped.view(batch_size, num_batches).T  # batch b: grouped[b], grouped[b + M], ...
    within = torch.rand(batches.shape, generator=generator).argsort(dim=1)
    batches = batches.gather(1, within)[torch.randperm(num_batches, generator=generator)]
    return torch.cat([batches.reshape(-1), dropped])


@BATCH_SAMPLERS.register("cluster_spread")
class ClusterSpread:
    """G-SimCLR batching (Chakraborty et al. 2020, arXiv 2009.12007): k-means pseudo-labels
    (`clusters`, the paper's k = the number of classes) on `features` (`raw`: the samples
    flattened and reduced to `pca_dim` principal components; `encoder`: the initial encoder's
    embeddings), then batches in which no two items share a pseudo-label where possible
    (`cluster_spread_order`)."""

    def __init__(self, clusters: int = 10, features: Literal["raw", "encoder"] = "raw",
                 pca_dim: int = 50, iterations: int = 100) -> None:
        if int(clusters) < 2:
            raise ValueError(f"cluster_spread clusters must be >= 2, got {clusters}")
        if features not in ("raw", "encoder"):
            raise ValueError(f"cluster_spread features must be 'raw' or 'encoder', got "
                             f"{features!r}")
        if int(pca_dim) < 1 or int(iterations) < 1:
            raise ValueError(f"cluster_spread pca_dim and iterations must be >= 1, got "
                             f"{pca_dim}, {iterations}")
        self.clusters, self.features = int(clusters), features
        self.pca_dim, self.iterations = int(pca_dim), int(iterations)
        self.labels: Tensor | None = None

    @property
    def fitted(self) -> bool:
        return self.labels is not None

    def fit(self, data: Any, encoder: torch.nn.Module, device: torch.device | str,
            seed: int) -> Tensor:
        """Pseudo-labels of every training item (one per position of `data`; inflated data
        that repeats stored rows, `data.rows`, label each row once)."""
        if not isinstance(data, ArrayDataset):
            raise DataError(f"batch sampler cluster_spread needs in-memory array data; got "
                            f"{type(data).__name__}: drop train.batch_sampler")
        if self.features == "raw":
            if data.variable_length or not data.x.is_floating_point():
                raise DataError("cluster_spread features: raw needs real-valued samples; for "
                                "token ids use features: encoder")
            features = principal_components(data.x, self.pca_dim, seed)
        elif callable(getattr(data, "embed_with", None)):
            features = data.embed_with(encoder, device=device)
        else:
            features = extract_embeddings(encoder, data.x, device=device)
        labels = kmeans(features.cpu(), self.clusters, seed, self.iterations)
        rows = getattr(data, "rows", None)
        self.labels = labels if rows is None else labels[rows]
        return self.labels

    def order(self, num_samples: int, batch_size: int, seed: int, epoch: int) -> Tensor:
        if self.labels is None:
            raise RuntimeError("cluster_spread has no pseudo-labels yet: call fit(...) first")
        if len(self.labels) != num_samples:
            raise ValueError(f"cluster_spread has {len(self.labels)} pseudo-labels for "
                             f"{num_samples} training items: the data changed since they were "
                             "computed")
        return cluster_spread_order(self.labels, batch_size, seed, epoch)

    def state_dict(self) -> dict[str, Tensor | None]:
        return {"labels": self.labels}

    def load_state_dict(self, state: dict[str, Tensor | None]) -> None:
        self.labels = state["labels"]
