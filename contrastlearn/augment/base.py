"""The augmentation contract and the combinators every modality shares.

An augmentation maps a whole batch (first dim = batch) to a batch of the same kind, on the
batch's device, drawing per-sample random parameters from the `torch.Generator` it is given.
Same generator state -> same output; strength 0 -> identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class Augmentation:
    """Base class: subclasses implement `apply(x, generator)` on a batch."""

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        # An empty batch passes through. Checked without assuming x is a tensor with a batch
        # dim, so batch dataclasses and malformed input reach `apply`, which validates them.
        shape = getattr(x, "shape", None)
        if shape is not None and len(shape) > 0 and shape[0] == 0:
            return x
        return self.apply(x, generator)

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({settings})"


def uniform(
    generator: torch.Generator, shape: Sequence[int] | int, low: float, high: float,
    device: torch.device | str,
) -> Tensor:
    """Per-sample parameters drawn uniformly in [low, high) from `generator`."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return low + (high - low) * torch.rand(shape, generator=generator, device=device)


def bernoulli_mask(generator: torch.Generator, size: int, p: float, device) -> Tensor:
    """Boolean (size,) mask, True with probability p per sample."""
    return torch.rand(size, generator=generator, device=device) < p


class Identity(Augmentation):
    """Returns the batch unchanged."""

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return x


class Compose(Augmentation):
    """Applies augmentations one after another."""

    def __init__(self, augmentations: Sequence[Augmentation]) -> None:
        self.augmentations = list(augmentations)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        for augmentation in self.augmentations:
            x = augmentation(x, generator)
        return x


def _same_shape(made: Tensor, x: Tensor, augmentation: Augmentation) -> Tensor:
    """`made` (an augmentation of some rows of `x`) as rows that fit back into `x`, or a clear
    error: applying to some samples only needs an augmentation that keeps the sample shape."""
    if not isinstance(made, Tensor) or made.shape[1:] != x.shape[1:]:
        shape = tuple(made.shape[1:]) if isinstance(made, Tensor) else type(made).__name__
        raise ValueError(f"RandomApply and OneOf put augmented samples back among the others, so "
                         f"the augmentation must keep the sample shape {tuple(x.shape[1:])}; "
                         f"{augmentation!r} made {shape} (token ops that change lengths have "
                         "their own per-token probability: use them directly)")
    return made.to(x.dtype)


class RandomApply(Augmentation):
    """Applies `augmentation` to each sample with probability `p` (only chosen samples are
    transformed, so cost scales with p)."""

    def __init__(self, augmentation: Augmentation, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.augmentation = augmentation
        self.p = p

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        chosen = bernoulli_mask(generator, x.shape[0], self.p, x.device)
        if not bool(chosen.any()):
            return x
        if bool(chosen.all()):
            return self.augmentation(x, generator)
        out = x.clone()
        out[chosen] = _same_shape(self.augmentation(x[chosen], generator), x, self.augmentation)
        return out


class OneOf(Augmentation):
    """Applies one augmentation per sample, chosen at random (optionally weighted)."""

    def __init__(
        self, augmentations: Sequence[Augmentation], weights: Sequence[float] | None = None
    ) -> None:
        if not augmentations:
            raise ValueError("OneOf needs at least one augmentation")
        self.augmentations = list(augmentations)
        weights = weights if weights is not None else [1.0] * len(self.augmentations)
        if len(weights) != len(self.augmentations):
            raise ValueError("OneOf: one weight per augmentation")
        self.weights = [float(w) for w in weights]

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        probabilities = torch.tensor(self.weights, device=x.device)
        choice = torch.multinomial(
            probabilities, x.shape[0], replacement=True, generator=generator
        )
        out = x.clone()
        for index, augmentation in enumerate(self.augmentations):
            chosen = choice == index
            if bool(chosen.any()):
                out[chosen] = _same_shape(augmentation(x[chosen], generator), x, augmentation)
        return out
