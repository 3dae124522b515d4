"""TS2Vec (Yue et al. 2022, arXiv 2106.10466): contextual consistency between overlapping crops
of a series, learned with the hierarchical contrastive loss and latent timestamp masking."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastlearn.core.distributed import global_ids, global_rows
from contrastlearn.core.registry import METHODS
from contrastlearn.methods.base import Method
from contrastlearn.modalities.timeseries.augment import overlapping_crops
from contrastlearn.modalities.timeseries.encoders import max_over_valid
from contrastlearn.objectives.base import LossOutput
from contrastlearn.objectives.hierarchical import HierarchicalContrastive
from contrastlearn.objectives.reconstruction import masked_mse


@METHODS.register("ts2vec")
class TS2Vec(Method):
    """Each step draws two overlapping crops of the batch, encodes them timestamp by timestamp
    with a random half of the projected timestamps masked (`mask_p`), and contrasts the
    overlapping span hierarchically. Given two views (e.g. the series and a learned
    augmentation of it), the first crop is cut from the first view and the second from the
    second. The crops and masks come from the method's own generator
    (seeded by `seed`, default the recipe's seed), whose state is a buffer, so checkpoints
    resume exactly. The encoder must have
    `timestamps(x, keep)` (e.g. `ts2vec_encoder`).

    With `gather` (default) under several processes, the instance term contrasts the whole
    global batch (features gathered with autograd) and the crops and masks are drawn for the
    global batch, so the training equals one process holding the whole batch.

    `reconstruction_weight` > 0 adds a masked reconstruction term (as in TimesURL, Liu & Chen
    2024): a linear decoder predicts each crop's input values at the masked timestamps from
    their features, so the features must keep the series' shape, not only what tells series
    apart; the term's mean squared error is added with that weight. At 0 (default) there is
    no decoder and the training is TS2Vec's.

    `universum_mix` (e.g. 0.2, TimesURL's value) adds TimesURL's universum negatives to both
    terms of the loss (see `objectives.hierarchical`), drawn from the method's generator; None
    (default) is TS2Vec's loss."""

    default_views = "identity_views"

    def __init__(self, encoder: nn.Module, alpha: float = 0.5, temporal_unit: int = 0,
                 mask_p: float = 0.5, seed: int | None = None, gather: bool = True,
                 reconstruction_weight: float = 0.0,
                 universum_mix: float | None = None) -> None:
        super().__init__(encoder)
        if not callable(getattr(encoder, "timestamps", None)):
            raise TypeError(f"TS2Vec needs an encoder with per-timestamp features "
                            f"(`timestamps(x, keep)`), e.g. ts2vec_encoder; got "
                            f"{type(encoder).__name__}")
        if not 0 <= mask_p < 1:
            raise ValueError(f"mask_p must be in [0, 1), got {mask_p}")
        if not reconstruction_weight >= 0:
            raise ValueError(f"reconstruction_weight must be >= 0, got {reconstruction_weight}")
        self.objective = HierarchicalContrastive(alpha, temporal_unit, gather=gather,
                                                 universum_mix=universum_mix)
        self.reconstruction_weight = float(reconstruction_weight)
        self.decoder = nn.Linear(getattr(encoder, "feature_dim", encoder.out_dim),
                                 encoder.in_channels) if reconstruction_weight > 0 else None
        self.gather = gather
        self.mask_p = float(mask_p)
        self.min_overlap = 2 ** (int(temporal_unit) + 1)
        seed = torch.initial_seed() if seed is None else seed  # pretrain seeds torch first
        self.register_buffer("rng_state", torch.Generator().manual_seed(seed).get_state())

    def _generator(self) -> torch.Generator:
        generator = torch.Generator()
        generator.set_state(self.rng_state.cpu())
        return generator

    def instance_weights(self, ids: Tensor | None) -> Tensor | None:
        """Soft instance targets between the (global) batch's series (None: one-hot, as in
        TS2Vec)."""
        return None

    def training_step(self, views: list[Tensor], *, labels, ids) -> LossOutput:
        x = views[0]
        generator = self._generator()
        other = views[1] if len(views) > 1 else None
        offset, size = global_rows(len(x)) if self.gather else (0, len(x))
        first, second, overlap = overlapping_crops(x, generator, self.min_overlap, other,
                                                   rows=(offset, size))
        outputs, keeps = [], []
        for crop in (first, second):
            keep = torch.rand(size, crop.shape[-1], generator=generator) >= self.mask_p
            keeps.append(keep[offset:offset + len(x)].to(x.device))
            outputs.append(self.encoder.timestamps(crop, keeps[-1]))
        (features_1, valid_1), (features_2, valid_2) = outputs
        span_1, span_2 = features_1[:, -overlap:], features_2[:, :overlap]
        weight_ids = None if ids is None else (global_ids(ids) if self.gather else ids)
        output = self.objective(span_1, span_2, self.instance_weights(weight_ids), generator)
        self.rng_state.copy_(generator.get_state())
        output.metrics["overlap"] = float(overlap)
        if self.decoder is not None:
            error = sum(masked_mse(self.decoder(features), crop.transpose(1, 2), valid & ~keep)
                        for crop, (features, valid), keep in zip((first, second), outputs, keeps)
                        ) / 2
            output.loss = output.loss + self.reconstruction_weight * error
            output.metrics["reconstruction"] = error.detach()
        return output.with_embeddings([max_over_valid(span_1, valid_1[:, -overlap:]),
                                       max_over_valid(span_2, valid_2[:, :overlap])])
