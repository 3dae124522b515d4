"""TS-TCC's temporal contrasting (Eldele et al. 2021, "Time-Series Representation Learning via
Temporal and Contextual Contrasting", IJCAI, arXiv 2106.14112), a CPC-style loss (van den Oord
et al. 2018, arXiv 1807.03748).

A context vector c^i (B, H) summarises the first steps of series i. For each of the next K
steps, a linear map W_k predicts that step's feature z^i_{t+k} (B, K, D); the prediction must
pick out its own series' feature among those of the batch:

    loss = -1 / (B K) * sum_{i, k} log softmax_j( (W_k c^i) . z^j_{t+k} )[j = i]

This is the paper's equation (normalised over candidate futures, as in CPC); the official
code normalises over the batch's predictions for each true step instead. TS-TCC predicts the
other view's future (cross-view); which future is passed in is the caller's choice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives.base import LossOutput


def future_prediction_scores(predictions: Tensor, future: Tensor,
                             ids: Tensor | None = None) -> Tensor:
    """(K, B, B) scores of prediction i against true step j for every step k ahead, from
    (B, K, D) predictions and future features. With `ids`, a candidate j != i that has
    anchor i's id is not a negative (its score is -inf)."""
    if predictions.dim() != 3 or predictions.shape != future.shape:
        raise ValueError(f"predictions and future must be (batch, steps, dim) of one shape; got "
                         f"{tuple(predictions.shape)} and {tuple(future.shape)}")
    scores = torch.einsum("ikd,jkd->kij", predictions, future)
    if ids is not None:
        batch = predictions.shape[0]
        if ids.shape != (batch,):
            raise ValueError(f"ids must be ({batch},); got {tuple(ids.shape)}")
        duplicate = ids[:, None] == ids[None, :]
        duplicate &= ~torch.eye(batch, dtype=torch.bool, device=ids.device)
        scores = scores.masked_fill(duplicate, float("-inf"))
    return scores


@OBJECTIVES.register("temporal_contrasting")
class TemporalContrasting(nn.Module):
    """TS-TCC's temporal contrasting loss (see module docstring). Owns the K predictors W_k,
    held as one Linear(H, K * D) whose output is read as K maps of H -> D."""

    def __init__(self, context_dim: int, feature_dim: int, timesteps: int) -> None:
        super().__init__()
        if min(context_dim, feature_dim, timesteps) < 1:
            raise ValueError(f"TemporalContrasting needs positive sizes; got context_dim "
                             f"{context_dim}, feature_dim {feature_dim}, timesteps {timesteps}")
        self.feature_dim, self.timesteps = int(feature_dim), int(timesteps)
        self.predictors = nn.Linear(int(context_dim), self.timesteps * self.feature_dim)

    def forward(self, context: Tensor, future: Tensor, *, ids: Tensor | None = None
                ) -> LossOutput:
        """context: (B, H) summaries; future: (B, k, D) the features of the k <= K steps after
        the context (the first k predictors are used: short series predict fewer steps); ids:
        optional (B,) item ids (equal ids are never negatives)."""
        steps = future.shape[1] if future.dim() == 3 else -1
        if (future.dim() != 3 or future.shape[0] != context.shape[0] or not
                1 <= steps <= self.timesteps or future.shape[2] != self.feature_dim):
            raise ValueError(f"future must be (batch, k, dim) with batch {context.shape[0]}, "
                             f"1 <= k <= {self.timesteps}, dim {self.feature_dim}; got "
                             f"{tuple(future.shape)}")
        predictions = self.predictors(context).view(context.shape[0], self.timesteps,
                                                    self.feature_dim)[:, :steps]
        scores = future_prediction_scores(predictions, future, ids)  # (k, B, B)
        batch = context.shape[0]
        targets = torch.arange(batch, device=context.device).repeat(steps)
        logits = scores.reshape(-1, batch)
        loss = F.cross_entropy(logits, targets)
        accuracy = (logits.detach().argmax(dim=1) == targets).float().mean()
        return LossOutput(loss, {"accuracy": accuracy})
