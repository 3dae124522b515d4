"""A tiny method that records what the trainer fed it (ids and the views' strength per step), for
tests of batch orders and strength schedules that need the whole training loop but not a model."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastlearn.config import TrainConfig
from contrastlearn.methods.base import Method
from contrastlearn.objectives.base import LossOutput


class Linear(nn.Module):
    def __init__(self, in_dim: int, out_dim: int = 4) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.layer = nn.Linear(in_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(torch.nan_to_num(x).flatten(1))


class RecordingMethod(Method):
    """Pulls the views' embeddings together; remembers every batch's ids."""

    def __init__(self, in_dim: int) -> None:
        super().__init__(Linear(in_dim))
        self.seen: list[list[int]] = []

    def training_step(self, views, *, labels=None, ids=None) -> LossOutput:
        self.seen.append(ids.tolist())
        first, second = (self.encoder(view) for view in views[:2])
        return LossOutput((first - second).square().mean() + first.square().mean() * 1e-3)


def tiny_config(**settings) -> TrainConfig:
    values = {"epochs": 2, "batch_size": 8, "optimizer": "sgd", "lr": 0.1, "warmup_epochs": 0,
              "accelerator": "cpu", "log_every_steps": 1, "diagnostics": False,
              "histograms": 0, "checkpoint_every_seconds": 0.0}
    return TrainConfig(**{**values, **settings})
