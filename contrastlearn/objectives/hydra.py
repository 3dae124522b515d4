"""Hydra: contrastive learning from arbitrary pairs of classes, each compared in its own
subspace that a learned gate vector selects.

Song et al., 2024, "Rethinking Positive Pairs in Contrastive Learning", arXiv 2410.18200.
Any two classes (a, b) may form a positive pair; a feature filter conditioned on the class
pair, g(a, b) = sigmoid(f_g((f_l(a) + f_l(b)) / 2)) with a label embedding f_l and an MLP f_g,
switches feature dimensions on and off so that samples of a and b can be close in that
subspace while the rest of the batch stays apart; a sparsity term keeps the gates selective.

How this objective chooses pairs (supervised: it needs the class labels):

- Partner class. With `pairing="random"` (default) every item i of the local batch draws a
  partner item j = (i + u_i) mod B, u_i uniform in {1, ..., B - 1} from torch's default
  generator, and its partner class is b_i = y_j: over training every class pair that meets
  in a batch is trained, as the paper trains all pairs. With `pairing="fixed"` the partner
  class is b_i = partner[y_i], a fixed class matching: `partners` when given (a list of
  `num_classes` class indices; `partners[a] = a` pairs a class with itself), otherwise a
  random matching of the classes drawn from `pairing_seed` (classes paired two by two, the
  last one with itself when their number is odd).
- Subspace. Anchor row r (item i, any view) uses the gate g_r = g(y_i, b_i) for itself and
  for every candidate: s_rk = cos(z_r * g_r, z_k * g_r), the cosine in the gated subspace.
- Positives: the other rows whose class is y_i or b_i (the other views of item i
  included). Negatives: the rows of every other class.
- Loss, with t the temperature:

      loss_r = mean_{p in P(r)} -log(e^{s_rp / t} / (e^{s_rp / t} + sum_{n in N(r)} e^{s_rn / t}))
      loss   = mean_r loss_r  +  sparsity_weight * mean_r mean_d g_rd

  each positive is scored against the negatives only, as the InfoNCE of this library does
  with several positives. With a gate that is the same in every dimension and each class its
  own partner, the loss is InfoNCE with the labels as item ids.

The gated cosine does not change when every gate is scaled alike, so the sparsity term acts
mostly on the undecided gates (the sigmoid's slope is largest there), closing dimensions the
pair does not need. `dim` must be the embedding size: the gate network's shape is fixed when
the objective is built, so that checkpoints load. Defaults (ours): temperature 0.1, a
64-dimensional label embedding and hidden layer, sparsity weight 0.01.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.distributed import gather_no_grad, is_distributed
from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives._pairs import ViewPairs, build_view_pairs, pair_metrics
from contrastlearn.objectives.base import LossOutput

__all__ = ["Hydra", "gated_cosine", "seeded_class_matching"]


def seeded_class_matching(num_classes: int, seed: int) -> Tensor:
    """A random matching of the classes, (num_classes,) with partner[partner[a]] = a: classes
    shuffled by `seed` and paired two by two, the last one with itself when odd."""
    order = torch.randperm(num_classes, generator=torch.Generator().manual_seed(seed))
    partner = torch.arange(num_classes)
    first, second = order[0:-1:2], order[1::2]
    partner[first], partner[second] = second, first
    return partner


def gated_cosine(anchors: Tensor, candidates: Tensor, gates: Tensor) -> Tensor:
    """(A, C) cosines of `anchors * gates` against `candidates * gates`, each anchor row with
    its own gate (A, D): matrix products only, never an (A, C, D) tensor; float32 under half
    precision."""
    if anchors.dtype in (torch.float16, torch.bfloat16):  # sums of D products, as InfoNCE's
        anchors, candidates, gates = anchors.float(), candidates.float(), gates.float()
    squared = gates * gates
    dot = (anchors * squared) @ candidates.T
    anchor_norm = (anchors * anchors * squared).sum(dim=1, keepdim=True).sqrt()
    candidate_norm = (squared @ (candidates * candidates).T).sqrt()
    return dot / (anchor_norm * candidate_norm).clamp_min(torch.finfo(dot.dtype).tiny ** 0.5)


@OBJECTIVES.register("hydra")
class Hydra(nn.Module):
    """Hydra (Song et al. 2024, arXiv 2410.18200): InfoNCE between samples of a class pair in
    the subspace a learned, class-pair-conditioned sigmoid gate selects, plus a sparsity term
    on the gates. Needs labels."""

    needs_labels = True

    def __init__(
        self, num_classes: int, dim: int, temperature: float = 0.1,
        sparsity_weight: float = 0.01, label_dim: int = 64,
        pairing: Literal["random", "fixed"] = "random", partners: Sequence[int] | None = None,
        pairing_seed: int = 0, gather: bool = False,
    ) -> None:
        super().__init__()
        if int(num_classes) < 1 or int(dim) < 1:
            raise ValueError(f"hydra needs num_classes >= 1 and dim >= 1; got {num_classes} "
                             f"and {dim}")
        if temperature <= 0 or sparsity_weight < 0:
            raise ValueError(f"hydra needs temperature > 0 and sparsity_weight >= 0; got "
                             f"{temperature} and {sparsity_weight}")
        if pairing not in ("random", "fixed"):
            raise ValueError(f"hydra pairing must be 'random' or 'fixed'; got {pairing!r}")
        if partners is not None and pairing != "fixed":
            raise ValueError("hydra partners are a fixed class matching: set pairing: fixed")
        self.num_classes, self.dim = int(num_classes), int(dim)
        self.temperature = float(temperature)
        self.sparsity_weight = float(sparsity_weight)
        self.pairing = pairing
        self.gather = gather
        if partners is None:
            partner = seeded_class_matching(self.num_classes, pairing_seed)
        else:
            partner = torch.as_tensor(list(partners), dtype=torch.long)
            if partner.shape != (self.num_classes,) or not (
                    (partner >= 0) & (partner < self.num_classes)).all():
                raise ValueError(f"hydra partners must list one class in [0, {self.num_classes})"
                                 f" for each of the {self.num_classes} classes; got {partners}")
        self.register_buffer("partner", partner)
        self.label_embedding = nn.Embedding(self.num_classes, int(label_dim))
        self.gate_network = nn.Sequential(
            nn.Linear(int(label_dim), int(label_dim)), nn.ReLU(),
            nn.Linear(int(label_dim), self.dim))

    def gates(self, first: Tensor, second: Tensor) -> Tensor:
        """g(a, b) for class index tensors of one shape: (..., dim), symmetric in a and b."""
        mean = (self.label_embedding(first) + self.label_embedding(second)) / 2
        return torch.sigmoid(self.gate_network(mean))

    def partner_classes(self, labels: Tensor) -> Tensor:
        """The partner class of each item of the local batch (see the module docstring)."""
        if self.pairing == "fixed":
            return self.partner[labels]
        batch = labels.shape[0]
        if batch < 2:
            return labels
        offsets = torch.randint(1, batch, (batch,), device=labels.device)
        return labels[(torch.arange(batch, device=labels.device) + offsets) % batch]

    def forward(self, z_views: Sequence[Tensor], *, labels: Tensor | None = None,
                ids: Tensor | None = None) -> LossOutput:
        """z_views: V >= 2 tensors (B, dim); labels: (B,) class indices; ids: (B,) item ids."""
        pairs = build_view_pairs(z_views, ids, gather=self.gather, objective="hydra")
        labels = self._checked_labels(labels, pairs)
        if pairs.anchors.shape[1] != self.dim:
            raise ValueError(f"hydra was built for {self.dim}-dimensional embeddings and got "
                             f"{pairs.anchors.shape[1]}: set objective_kwargs.dim to the head's "
                             "out_dim")
        partner = self.partner_classes(labels)
        anchor_labels = labels.repeat(pairs.num_views)
        anchor_partners = partner.repeat(pairs.num_views)
        gates = self.gates(anchor_labels, anchor_partners)  # (A, D)
        similarity = gated_cosine(pairs.anchors, pairs.candidates, gates)
        candidate_labels = self._candidate_labels(labels, pairs)
        in_pair = ((candidate_labels[None, :] == anchor_labels[:, None])
                   | (candidate_labels[None, :] == anchor_partners[:, None]))
        positive_mask = in_pair & ~pairs.self_mask()
        negative_mask = ~in_pair
        logits = similarity / self.temperature
        lowest = torch.finfo(logits.dtype).min
        negative_lse = logits.masked_fill(~negative_mask, lowest).logsumexp(dim=1, keepdim=True)
        per_pair = F.softplus(negative_lse - logits).masked_fill(~positive_mask, 0.0)
        positive_count = positive_mask.sum(dim=1)
        has_positive = positive_count > 0
        per_anchor = per_pair.sum(dim=1) / positive_count.clamp_min(1)
        contrastive = (per_anchor * has_positive).sum() / has_positive.sum().clamp_min(1)
        sparsity = gates.mean()
        metrics = pair_metrics(similarity, positive_mask, negative_mask)
        metrics.update(contrastive=contrastive.detach(), gate_mean=sparsity.detach(),
                       gate_open_fraction=(gates.detach() > 0.5).float().mean())
        return LossOutput(contrastive + self.sparsity_weight * sparsity, metrics)

    def _checked_labels(self, labels: Tensor | None, pairs: ViewPairs) -> Tensor:
        if labels is None:
            raise ValueError("hydra pairs classes and needs labels: give labelled data, or use a "
                             "self-supervised objective such as infonce")
        batch = pairs.local_batch
        if labels.dim() != 1 or labels.shape[0] != batch:
            raise ValueError(f"hydra labels must have shape ({batch},) to match the views; got "
                             f"{tuple(labels.shape)}")
        labels = labels.to(pairs.anchors.device).long()
        if not bool(((labels >= 0) & (labels < self.num_classes)).all()):
            raise ValueError(f"hydra labels must be class indices in [0, {self.num_classes}); got "
                             f"{int(labels.min())}..{int(labels.max())}: set "
                             "objective_kwargs.num_classes to the number of classes")
        return labels

    def _candidate_labels(self, labels: Tensor, pairs: ViewPairs) -> Tensor:
        if self.gather and is_distributed():
            labels = gather_no_grad(labels)
        return labels.repeat(pairs.num_views)
