"""A room for fixed-length feature vectors, (N, D) float arrays, installed from outside the
library: the entry point `contrastlearn.modalities: vectors` names `VECTORS`, and importing
this module also registers its views and its built-in dataset."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from contrastlearn.augment.base import Augmentation, uniform
from contrastlearn.augment.views import Views
from contrastlearn.core.registry import AUGMENTATIONS, DATASETS
from contrastlearn.data.arrays import DataError, DatasetSplits, arrays_to_splits, as_float_tensor
from contrastlearn.data.modality import Modality


def vector_batch(array: Any, what: str = "vectors") -> Tensor:
    """A validated (N, D) float batch: two dimensions, finite values."""
    batch = as_float_tensor(array, what)
    if batch.dim() != 2:
        raise DataError(f"{what}: feature vectors must be an (N, D) array, "
                        f"got shape {tuple(batch.shape)}")
    return batch


def vector_splits(x: Any, y: Any = None, x_test: Any = None, y_test: Any = None, *,
                  name: str, holdout_fraction: float = 0.2, seed: int = 0,
                  groups: Any = None) -> DatasetSplits:
    """Train/test splits of feature vectors (a stratified holdout without a test split)."""
    return arrays_to_splits(
        vector_batch(x, f"{name}: x"), y,
        None if x_test is None else vector_batch(x_test, f"{name}: x_test"), y_test,
        name=name, modality="vectors", holdout_fraction=holdout_fraction, seed=seed,
        groups=groups)


def vector_samples(array: Any, scale: float | None = None) -> Tensor:
    """Vectors to embed (`scale` is unused: vectors are not rescaled)."""
    return vector_batch(array, "vectors to embed")


class ScaleNoiseMask(Augmentation):
    """Per-sample: multiply by a random factor in [1/spread, spread] (log-uniform), add
    Gaussian noise of std `noise`, then zero each feature with probability `mask`. Every
    amount is scaled by `strength`, so strength 0 is the identity."""

    def __init__(self, spread: float = 3.0, noise: float = 0.1, mask: float = 0.1,
                 strength: float = 1.0) -> None:
        if spread < 1 or noise < 0 or not 0 <= mask < 1 or strength < 0:
            raise ValueError("need spread >= 1, noise >= 0, 0 <= mask < 1, strength >= 0")
        self.spread, self.noise, self.mask, self.strength = spread, noise, mask, strength

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        reach = self.strength * float(np.log(self.spread))
        factor = uniform(generator, (len(x), 1), -reach, reach, x.device).exp()
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        kept = uniform(generator, x.shape, 0.0, 1.0, x.device) >= self.strength * self.mask
        return (factor * x + self.strength * self.noise * noise) * kept


@AUGMENTATIONS.register("vector_views")
def vector_views(spread: float = 3.0, noise: float = 0.1, mask: float = 0.1,
                 strength: float = 1.0) -> Views:
    """Two views of each vector, each rescaled, noised and masked independently."""
    return Views([ScaleNoiseMask(spread, noise, mask, strength)] * 2)


@DATASETS.register("vector-blobs", modality="vectors")
def vector_blobs(holdout_fraction: float = 0.2, seed: int = 0) -> DatasetSplits:
    """600 vectors in 16 dimensions around 6 class centres, each vector multiplied by a random
    factor in [0.2, 5]: a random network confuses the classes at different scales, and the
    views teach the encoder to ignore scale. Made here, from a fixed seed."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(6, 16))
    labels = np.arange(600) % 6
    points = centres[labels] + 1.2 * rng.normal(size=(600, 16))
    scales = np.exp(rng.uniform(np.log(0.2), np.log(5.0), size=(600, 1)))
    return vector_splits((scales * points).astype(np.float32), labels, name="vector-blobs",
                         holdout_fraction=holdout_fraction, seed=seed)


VECTORS = Modality(
    name="vectors",
    description="fixed-length feature vectors: (N, D) float arrays and .npz files",
    split_arrays=vector_splits,
    to_samples=vector_samples,
    preview="timeseries",  # a vector drawn as a line over its features
    protocols=("linear_probe", "knn"),
)
