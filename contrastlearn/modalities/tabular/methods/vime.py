"""VIME's self-supervised learning (Yoon et al. 2020, "VIME: Extending the Success of Self- and
Semi-supervised Learning to Tabular Domain", NeurIPS): an encoder reads a masked-and-corrupted
row and two heads estimate, from its representation, which features were corrupted (the mask)
and the original row (the features).

    x, x_tilde = views                       # vime_views: the row, its corrupted copy
    m = features of x_tilde that differ from x
    h = encoder(x_tilde)
    loss = BCE(mask_head(h), m) + alpha * reconstruction(feature_head(h), x)

From the paper: the pretext tasks, their sum with weight alpha (2.0 in the paper's code), and
the mask read from the pair as VIME's code does (`m = x != x_tilde`). Ours: the heads are one
Linear layer each on the encoder's output (the paper's are single dense layers too);
reconstruction is the mean squared error of the continuous columns plus the cross-entropy of
each categorical column's level (its one-hot block), averaged over features. There is no
contrastive term: the paper's self-supervised stage has none.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import METHODS
from contrastlearn.methods.base import Method
from contrastlearn.modalities.tabular.augment import changed_features
from contrastlearn.modalities.tabular.schema import TableLayout
from contrastlearn.objectives.base import LossOutput


def table_layout_of(encoder: nn.Module, method: str) -> TableLayout:
    """The column layout a table encoder reads, or a TypeError naming the encoders that say."""
    layout = getattr(encoder, "layout", None)
    if not isinstance(layout, TableLayout):
        raise TypeError(f"method {method!r} reconstructs table columns and needs an encoder "
                        f"that knows them (tabular_mlp or ft_transformer); got "
                        f"{type(encoder).__name__}")
    return layout


def reconstruction_loss(predicted: Tensor, target: Tensor, layout: TableLayout) -> Tensor:
    """Mean over rows of (sum of squared errors of the continuous columns + sum of the
    cross-entropies of the categorical columns' levels) / features. `predicted` holds values
    for continuous columns and logits for the one-hot levels; a row whose block is all zero
    (an unseen value) has no categorical target there."""
    continuous = layout.num_continuous
    error = (predicted[:, :continuous] - target[:, :continuous]).square().sum(dim=1)
    if layout.cardinalities:
        index = layout.level_index(predicted.device)
        padding = index == layout.width
        logits = torch.cat([predicted, predicted.new_zeros(len(predicted), 1)], 1)[:, index]
        logits = logits.masked_fill(padding, float("-inf"))
        blocks = torch.cat([target, target.new_zeros(len(target), 1)], 1)[:, index]
        known = blocks.sum(dim=-1) > 0
        entropy = F.cross_entropy(logits.transpose(1, 2), blocks.argmax(dim=-1),
                                  reduction="none")  # (B, categorical columns)
        error = error + (entropy * known).sum(dim=1)
    return error.mean() / layout.num_features


@METHODS.register("vime")
class VIME(Method):
    """VIME self-supervised (see the module docstring): views `[x, x_tilde]` (the policy
    `vime_views`), a mask head and a feature head on the encoder's output; the loss is the
    mask's binary cross-entropy plus `alpha` times the reconstruction. Metrics: `mask_loss`,
    `reconstruction`, `mask_accuracy` and the share of corrupted features `mask_rate`."""

    default_views = "vime_views"
    per_sample_loss = True

    def __init__(self, encoder: nn.Module, alpha: float = 2.0) -> None:
        super().__init__(encoder)
        if not float(alpha) >= 0:
            raise ValueError(f"vime alpha must be >= 0; got {alpha}")
        self.layout = table_layout_of(encoder, "vime")
        self.alpha = float(alpha)
        self.mask_head = nn.Linear(encoder.out_dim, self.layout.num_features)
        self.feature_head = nn.Linear(encoder.out_dim, self.layout.width)

    def training_step(self, views: list[Tensor], *, labels, ids) -> LossOutput:
        if len(views) != 2:
            raise ValueError(f"vime reads a row and its corrupted copy (two views); got "
                             f"{len(views)}: use the view policy 'vime_views'")
        original, corrupted = views
        mask = changed_features(original, corrupted, self.layout).float()
        hidden = self.encoder(corrupted)
        mask_logits = self.mask_head(hidden)
        mask_loss = F.binary_cross_entropy_with_logits(mask_logits, mask)
        reconstruction = reconstruction_loss(self.feature_head(hidden), original, self.layout)
        loss = mask_loss + self.alpha * reconstruction
        accuracy = ((mask_logits > 0).float() == mask).float().mean()
        return LossOutput(loss, {"mask_loss": mask_loss.detach(),
                                 "reconstruction": reconstruction.detach(),
                                 "mask_accuracy": accuracy.detach(),
                                 "mask_rate": mask.mean().detach()})
