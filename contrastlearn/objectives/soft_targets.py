"""Soft contrastive targets: an anchor's nearest negatives in feature space become partly
positive, so that a view pair spoiled by augmentation noise (or a true neighbour counted as a
negative) costs less than under the one-hot target.

After the soft contrastive learning (SCL) loss of SAN: Zang et al., 2023, "Boosting Novel
Category Discovery Over Domains with Soft Contrastive Learning and All-in-One Classifier",
ICCV, arXiv 2211.11262, which softens the hard 0/1 pair target so that the view noise of
augmentation hurts less. This module is a feature-space version of that idea for the
InfoNCE-family losses, as a pair option (`PairOption`):

    q_ij  = softmax_{j in K(i)} (cos_ij / neighbour_temperature)     (detached)
    h_ij  = softness * q_ij                                          the soft target of j
    w_ij  = softness / (1 - softness) * W_i * q_ij                   added positive weight
    u_ij += log(1 - h_ij)                                            negative weight 1 - h_ij

K(i) is the `num_neighbours` current negatives of anchor i with the highest logits (those of
the table, after any earlier option), W_i the anchor's positive weight before this option.
The weighted loss normalises the weights per anchor, so the positives keep the share
1 - softness of the target and the neighbours share `softness` by their similarity, while each
neighbour still counts as a negative with weight 1 - h_ij (a pair with the soft target h
counts h as a positive and 1 - h as a negative). The neighbour distribution is
computed without gradients: it is a target, not something the encoder may move.
`softness=0` leaves the loss equal to the plain one.

Defaults: softness 0.2 (the positives keep 80% of the target), 5 neighbours, neighbour
temperature 0.1. They are ours: SAN defines its soft target on its own similarity kernel, not
through these three settings. Defined for the InfoNCE and DCL forms; SupCon already takes its
positives from labels.
"""

from __future__ import annotations

import torch

from contrastlearn.core.registry import METHOD_OPTIONS
from contrastlearn.objectives.pair_options import PairOption, PairTable

__all__ = ["SoftTargets"]


@METHOD_OPTIONS.register("soft_targets")
class SoftTargets(PairOption):
    """SAN's soft contrastive targets (Zang et al. 2023, arXiv 2211.11262) in feature space:
    each anchor's nearest negatives get soft positive weight from a detached similarity
    distribution and lose as much of their negative weight."""

    forms = ("infonce", "decoupled")

    def __init__(self, softness: float = 0.2, num_neighbours: int = 5,
                 neighbour_temperature: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= softness < 1.0:
            raise ValueError(f"soft_targets softness must be in [0, 1); got {softness} "
                             "(0 keeps the one-hot target)")
        if int(num_neighbours) < 1:
            raise ValueError(f"soft_targets num_neighbours must be >= 1; got {num_neighbours}")
        if neighbour_temperature <= 0:
            raise ValueError("soft_targets neighbour_temperature must be > 0; "
                             f"got {neighbour_temperature}")
        self.softness = float(softness)
        self.num_neighbours = int(num_neighbours)
        self.neighbour_temperature = float(neighbour_temperature)

    def forward(self, table: PairTable) -> PairTable:
        count = min(self.num_neighbours, table.similarity.shape[1])
        columns = table.negative_logits().topk(count, dim=1).indices  # (A, k)
        is_negative = table.current_negatives().gather(1, columns)
        closeness = table.similarity.detach().gather(1, columns) / self.neighbour_temperature
        closeness = closeness.masked_fill(~is_negative, float("-inf"))
        # an anchor without negatives has an all -inf row: its q is 0, not NaN
        share = torch.softmax(closeness, dim=1).nan_to_num(0.0)
        target = self.softness * share  # h_ij
        positive_total = table.positive_totals().detach()[:, None]
        added = self.softness / (1.0 - self.softness) * positive_total * share
        table.add_positive_weight(columns, added)
        table.add_negative_log_weight(columns, torch.log1p(-target))
        return table
