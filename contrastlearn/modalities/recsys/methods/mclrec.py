"""MCLRec (Qin et al. 2023, "Meta-optimized Contrastive Learning for Sequential
Recommendation", SIGIR 2023, arXiv 2304.07763).

Two data-augmented views of each history (`mclrec_views`: CL4SRec's crop / mask / reorder
with MCLRec's rates) are encoded to z1, z2; two learnable model augmenters (small MLPs with
L2-normalised outputs, the official `Extractor`) make model-augmented views m1 = A1(z1),
m2 = A2(z2). The meta contrastive loss contrasts data and model views,

    L_meta = NCE(z1, m2) + NCE(z2, m1) + NCE(m1, m2) + regularization_weight * (R(z1, m2)
             + R(z2, m1) + R(m1, m2)),

NCE being NT-Xent on dot products (temperature 1) and R the contrastive regularisation that
keeps the augmented views from being too similar: per anchor, with p its positive logit and h
its hardest negative logit, R = mean(max(p - h, 0)) + mean over negatives of (max(p, h) -
logit): it pulls a positive that beats every negative back to the hardest one, and the
negatives up to the larger of the two. The encoder minimises

    L_enc = CE + cl_weight * NCE(z1, z2) + meta_weight * L_meta   (augmenters held fixed),

and the augmenters minimise L_meta (encoder held fixed), in the paper's meta-optimised manner.

How the paper's loop maps onto the engine's single optimizer. The official code makes three
updates per batch with two optimizers: (1) an encoder step on L_enc, (2) an augmenter step on
L_meta computed with the encoder just updated, (3) a second encoder step on L_enc. Here one
training step returns L_enc(encoder, sg(augmenters)) + L_meta(sg(encoder), augmenters) (sg:
stop-gradient): one backward gives the encoder exactly the gradient of (1) and the augmenters
exactly the gradient of (2), and the engine's one optimizer applies both in one step (its
per-parameter state keeps them apart). The simplifications: the augmenters' gradient is taken
at the encoder before its update, not after it (a first-order meta update without the
look-ahead step), and the second encoder update of (3) is not repeated. The logged loss counts
L_meta once per side; the metrics give the parts.

Defaults from the official code (github.com/QinHsiu/MCLRec, its README's training command):
cl_weight (lmd) 0.03, meta_weight (beta) 0.1, regularisation 0.1 (`use_rl`), temperature 1 on
dot products, augmenters dim -> 32 -> 16 -> dim with GELU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from contrastlearn.core.registry import METHODS
from contrastlearn.modalities.recsys.methods.sequential import (
    SequentialMethod,
    pair_logits,
    pair_nt_xent,
)
from contrastlearn.objectives.base import LossOutput


class ModelAugmenter(nn.Module):
    """A learnable model augmenter: an MLP dim -> hidden... -> dim with GELU between layers,
    its output L2-normalised (MCLRec's `Extractor`)."""

    def __init__(self, dim: int, hidden: Sequence[int] = (32, 16)) -> None:
        super().__init__()
        sizes = [dim, *hidden, dim]
        layers: list[nn.Module] = []
        for index, (inputs, outputs) in enumerate(zip(sizes[:-1], sizes[1:])):
            if index:
                layers.append(nn.GELU())
            layers.append(nn.Linear(inputs, outputs))
        self.network = nn.Sequential(*layers)

    def forward(self, representations: Tensor) -> Tensor:
        return F.normalize(self.network(representations), dim=-1)


def margin_regularization(first: Tensor, second: Tensor, temperature: float = 1.0,
                          gather: bool = True) -> Tensor:
    """MCLRec's contrastive regularisation of a view pair (see the module docstring): with p
    each anchor's positive logit and h its hardest negative logit (`pair_logits` layout),
    mean(max(p - h, 0)) + the mean over every anchor's negatives of max(p, h) - logit."""
    positive, logits, negative = pair_logits(first, second, temperature, gather=gather)
    hardest = logits.masked_fill(~negative, torch.finfo(logits.dtype).min).amax(dim=1)
    pull = F.relu(positive - hardest).mean()
    gap = torch.maximum(positive, hardest)[:, None] - logits
    push = gap.masked_fill(~negative, 0.0).sum() / negative.sum().clamp(min=1)
    return pull + push


@METHODS.register("mclrec")
class MCLRec(SequentialMethod):
    """views = [batch, view 1, view 2] (`mclrec_views`) -> CE + data-view NT-Xent + the meta
    contrast of data and model-augmented views, the augmenters meta-optimised; see the module
    docstring for the losses and how the paper's alternating updates map onto one step."""

    default_views = "mclrec_views"
    method_name = "mclrec"
    per_sample_loss = False

    def __init__(self, encoder: nn.Module, cl_weight: float = 0.03, meta_weight: float = 0.1,
                 regularization_weight: float = 0.1, temperature: float = 1.0,
                 augmenter_hidden: Sequence[int] = (32, 16)) -> None:
        super().__init__(encoder)
        if min(cl_weight, meta_weight, regularization_weight) < 0 or temperature <= 0:
            raise ValueError(f"mclrec needs cl_weight, meta_weight, regularization_weight >= 0 "
                             f"and temperature > 0; got {cl_weight}, {meta_weight}, "
                             f"{regularization_weight}, {temperature}")
        self.cl_weight, self.meta_weight = cl_weight, meta_weight
        self.regularization_weight, self.temperature = regularization_weight, temperature
        self.augmenters = nn.ModuleList(
            [ModelAugmenter(encoder.out_dim, augmenter_hidden) for _ in range(2)])

    def meta_loss(self, first: Tensor, second: Tensor, first_model: Tensor,
                  second_model: Tensor) -> Tensor:
        """L_meta over the data views (z1, z2) and model views (m1 = A1(z1), m2 = A2(z2))."""
        pairs = [(first, second_model), (second, first_model), (first_model, second_model)]
        loss = sum(pair_nt_xent(a, b, self.temperature) for a, b in pairs)
        if self.regularization_weight:
            loss = loss + self.regularization_weight * sum(
                margin_regularization(a, b, self.temperature) for a, b in pairs)
        return loss

    def held_fixed(self, augmenter: nn.Module) -> Callable[[Tensor], Tensor]:
        """`augmenter` with its parameters detached: gradients reach its input, not it."""
        parameters = {name: value.detach() for name, value in augmenter.named_parameters()}
        return lambda representations: functional_call(augmenter, parameters, (representations,))

    def training_step(self, views, *, labels, ids) -> LossOutput:
        batch, first, second = self.sequence_views(views, 3)
        representations, first_z, second_z = self.encode(batch, first, second)
        ce = self.next_item_loss_of(batch, representations)
        data_contrast = pair_nt_xent(first_z, second_z, self.temperature)
        fixed_first, fixed_second = (self.held_fixed(a) for a in self.augmenters)
        encoder_meta = self.meta_loss(first_z, second_z, fixed_first(first_z),
                                      fixed_second(second_z))
        first_fixed, second_fixed = first_z.detach(), second_z.detach()
        augmenter_meta = self.meta_loss(first_fixed, second_fixed,
                                        self.augmenters[0](first_fixed),
                                        self.augmenters[1](second_fixed))
        loss = (ce + self.cl_weight * data_contrast + self.meta_weight * encoder_meta
                + augmenter_meta)
        metrics = {"ce": ce.detach(), "cl": data_contrast.detach(),
                   "meta": encoder_meta.detach(), "augmenter_meta": augmenter_meta.detach()}
        return LossOutput(loss, metrics).with_embeddings([first_z, second_z])
