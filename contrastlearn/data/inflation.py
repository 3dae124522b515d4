"""Data inflation balanced as AdaInf does (Adaptive Inflation; Wang, Zhang & Wang 2024, "Do
Generated Data Always Help Contrastive Learning?", arXiv 2403.12448).

Training on real data plus generated data ("data inflation") can hurt contrastive learning;
AdaInf's two rules make it help: up-weight the real data (the paper's mixing ratio is about
10:1, one real sample is worth about ten generated ones, done by replicating the real data 10
times: `real_weight`) and weaken the augmentation (its CIFAR setting raises the smallest crop
from 8% to 20% of the image and halves the colour-jitter probability; here one multiplier of
the view policy's strength, `strength_scale`, 0.5 by default, which the trainer applies).

The generated samples come from a file or folder of arrays in the training data's own format
(read as the modality reads inputs, scaled like the training data), or from `mixup`: convex
mixes of two real samples. mixup is only a cheap, seeded STAND-IN for a generative model (no
diffusion model ships with the library): use it for tests and benchmarks, not as AdaInf's
results.

Generated samples only ever join the training data: the evaluation splits are built before
inflation and never see them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from contrastlearn.data.arrays import ArrayDataset, DataError
from contrastlearn.data.resolve import to_samples

MIXUP = "mixup"
"""`generated: mixup`: the built-in stand-in generator."""
DEFAULT_REAL_WEIGHT = 10
"""AdaInf's real:generated mixing ratio of about 10:1 (real data replicated 10 times)."""
DEFAULT_STRENGTH_SCALE = 0.5
"""The view policy's strength under inflation (AdaInf: weaker augmentation)."""
MIXUP_SALT = 8_191
"""Keeps the mixup generator's seed apart from the run's other seeded draws."""


@dataclass
class InflatedDataset(ArrayDataset):
    """Real samples repeated `real_weight` times, then generated samples, without copies: `x`
    stores every sample once (the `num_real` real ones first), `rows` maps each training
    position to its stored row. A real sample's copies share its id (duplicates are never each
    other's negatives); generated samples get new ids after the largest real id. No labels:
    generated samples have none."""

    rows: Tensor | None = None
    num_real: int = 0

    def __len__(self) -> int:
        return len(self.rows)

    def batch_x(self, indices: Tensor) -> Tensor:
        return self.x[self.rows[indices]]

    def subset(self, indices: Tensor) -> InflatedDataset:
        return replace(self, rows=self.rows[indices], ids=self.ids[indices],
                       y=None if self.y is None else self.y[indices])

    @property
    def generated(self) -> Tensor:
        """(len,) True where a training position holds a generated sample."""
        return self.rows >= self.num_real


def mixup_plan(num_real: int, count: int, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """The pairs (first, second: different real samples) and weights lam ~ U(0, 1) of `count`
    mixup samples, drawn from a generator seeded by `seed`."""
    if num_real < 2:
        raise DataError(f"mixup needs at least 2 real samples to mix, got {num_real}")
    generator = torch.Generator().manual_seed(seed + MIXUP_SALT)
    first = torch.randint(num_real, (count,), generator=generator)
    second = (first + torch.randint(1, num_real, (count,), generator=generator)) % num_real
    return first, second, torch.rand(count, generator=generator)


def mixup_samples(x: Tensor, count: int, seed: int) -> Tensor:
    """`count` convex mixes lam * x[i] + (1 - lam) * x[j] of two different real samples
    (`mixup_plan`). A seeded STAND-IN for a generative model, for tests and benchmarks."""
    first, second, lam = mixup_plan(len(x), count, seed)
    lam = lam.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
    return lam * x[first] + (1 - lam) * x[second]


def load_generated(path: str | Path, modality: str, scale: float | None,
                   sample_shape: tuple[int, ...]) -> Tensor:
    """Generated samples from a file or folder the modality reads (a .npz with `x`, a .npy, an
    image folder, ...), scaled like the training data (`scale`, the run's input_scale); a
    one-line DataError for a missing or unreadable file or samples of another shape."""
    where = f"data.inflation.generated {str(path)!r}"
    try:
        samples = to_samples(str(path), modality, scale=scale)
    except DataError as error:
        raise DataError(f"{where}: {error}") from None
    if not isinstance(samples, Tensor) or not samples.is_floating_point():
        raise DataError(f"{where} holds no real-valued arrays; give samples in the training "
                        "data's format (a .npz with x, a .npy, or a folder the modality reads)")
    if tuple(samples.shape[1:]) != tuple(sample_shape):
        raise DataError(f"{where} has samples of shape {tuple(samples.shape[1:])}, the training "
                        f"data's are {tuple(sample_shape)}: generate them in the training "
                        "data's format")
    return samples


def _check_inflatable(real: ArrayDataset) -> None:
    if type(real) is not ArrayDataset or not real.x.is_floating_point():
        raise DataError(f"data.inflation works on real-valued in-memory arrays (images, series); "
                        f"got {type(real).__name__}: drop data.inflation")


def inflate(real: ArrayDataset, generated: Tensor, real_weight: int = DEFAULT_REAL_WEIGHT
            ) -> InflatedDataset:
    """The training data of an inflated run: `real` replicated `real_weight` times, then
    `generated` (same sample shape), each generated sample with an id of its own."""
    _check_inflatable(real)
    if int(real_weight) < 1:
        raise DataError(f"data.inflation.real_weight must be >= 1, got {real_weight}")
    if tuple(generated.shape[1:]) != tuple(real.x.shape[1:]):
        raise DataError(f"generated samples have shape {tuple(generated.shape[1:])}, the "
                        f"training data's are {tuple(real.x.shape[1:])}")
    num_real, num_generated = len(real.x), len(generated)
    rows = torch.cat([torch.arange(num_real).repeat(int(real_weight)),
                      torch.arange(num_real, num_real + num_generated)])
    first_new_id = int(real.ids.max()) + 1 if num_real else 0
    ids = torch.cat([real.ids.repeat(int(real_weight)),
                     first_new_id + torch.arange(num_generated)])
    return InflatedDataset(x=torch.cat([real.x, generated.to(real.x.dtype)]), y=None, ids=ids,
                           name=f"{real.name}+generated", rows=rows, num_real=num_real)


def inflated_training_data(real: ArrayDataset, generated: str, *, real_weight: int,
                           count: int | None, seed: int, modality: str,
                           scale: float | None) -> InflatedDataset:
    """`real` inflated by `generated`: "mixup" (`count` samples, default as many as `real`)
    or a path to samples in the training data's format."""
    _check_inflatable(real)
    if generated == MIXUP:
        samples = mixup_samples(real.x, count or len(real.x), seed)
    else:
        samples = load_generated(generated, modality, scale, tuple(real.x.shape[1:]))
    return inflate(real, samples, real_weight)
