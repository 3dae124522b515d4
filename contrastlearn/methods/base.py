"""The Method contract: an encoder plus whatever turns views into a loss."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import groupby
from typing import Any

import torch
from torch import Tensor, nn

from contrastlearn.augment.feature_views import FeatureView
from contrastlearn.objectives.base import LossOutput
from contrastlearn.objectives.pair_options import PairOption, PairOptionsMixin


class Method(nn.Module):
    """Base of every method. `encoder` is what gets exported; `forward(views, labels=, ids=)`
    returns the loss of one batch; `after_optimizer_step` updates EMA targets, queues,
    prototypes; `constrain_parameters` (called by the trainer after it) clamps learnable
    temperatures."""

    default_views: str = "simclr_views"
    needs_labels: bool = False
    per_sample_loss: bool = False
    """True when the loss is a mean of per-sample terms (no negatives or statistics from the
    rest of the batch), so splitting a batch into micro-batches gives the same gradients as
    long as the model has no BatchNorm."""
    unshardable: str | None = None
    """Why `train.strategy: fsdp` cannot train this method exactly (None: it can)."""
    accepts_feature_views: bool = False
    """True when the method passes its view embeddings through `apply_feature_views` before
    its loss, so feature-space views (`add_option`) reach it."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        if not hasattr(encoder, "out_dim"):
            raise TypeError(
                f"{type(encoder).__name__} has no attribute `out_dim`: encoders must declare "
                "the size of the representation they return"
            )
        self.encoder = encoder
        self.feature_views = nn.ModuleList()

    def add_option(self, option: nn.Module, name: str, method_name: str | None = None) -> None:
        """Attach a method option (a `METHOD_OPTIONS` entry) where it acts: a `PairOption` on
        every loss of the method that takes pair options, a `FeatureView` on the method's view
        embeddings. An option that has nothing to act on is refused, naming both."""
        method_name = method_name or type(self).__name__
        if isinstance(option, PairOption):
            losses = [m for m in self.modules() if isinstance(m, PairOptionsMixin)]
            if not losses:
                raise ValueError(
                    f"option {name!r} edits the negatives of an InfoNCE-family loss, and method "
                    f"{method_name!r} has no such loss (it compares no negatives): use it with "
                    "simclr, dcl, supcon, moco_v2 or a composed method with an infonce, dcl or "
                    "supcon objective")
            for loss in losses:
                loss.add_pair_option(option)
        elif isinstance(option, FeatureView):
            if not self.accepts_feature_views:
                raise ValueError(
                    f"option {name!r} makes positives from view embeddings, and method "
                    f"{method_name!r} does not pass its embeddings through feature views: use "
                    "it with simclr, dcl, supcon, moco_v2 or a composed method")
            self.feature_views.append(option)
        else:
            raise TypeError(f"option {name!r} is a {type(option).__name__}, neither a PairOption "
                            "nor a FeatureView")

    def apply_feature_views(self, z_views: list[Tensor]) -> list[Tensor]:
        """The view embeddings after every attached feature view (unchanged without any)."""
        for feature_view in self.feature_views:
            z_views = feature_view(z_views)
        return z_views

    def forward(
        self, views: Sequence[Tensor], *, labels: Tensor | None = None, ids: Tensor | None = None
    ) -> LossOutput:
        if self.needs_labels and labels is None:
            raise ValueError(f"{type(self).__name__} is supervised and needs labels in the data")
        return self.training_step(list(views), labels=labels, ids=ids)

    def training_step(
        self, views: list[Tensor], *, labels: Tensor | None, ids: Tensor | None
    ) -> LossOutput:
        raise NotImplementedError

    def prepare(self, data: Any, device: torch.device) -> None:
        """Called by the trainer at the start of `fit` (also when a run resumes) with the
        training data and device, for methods that precompute something from the whole
        training set (SoftCLT's distances between series); default: nothing."""

    def before_optimizer_step(self) -> None:
        """Called after the backward (gradients averaged over processes) and before gradient
        clipping and the optimizer step; default: nothing."""

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        """Called after every optimizer step; default: nothing."""

    @torch.no_grad()
    def constrain_parameters(self) -> None:
        """Project parameters back into their allowed range after an optimizer step: every
        submodule that offers `clamp_temperature_` (InfoNCE's learnable temperature, clamped
        at >= 0.01 as CLIP does, Radford et al. 2021, arXiv 2103.00020) is clamped. The
        trainer calls it after `after_optimizer_step`, as a hook of its own, so a method that
        overrides `after_optimizer_step` (MoCo, BYOL, SwAV, ESimCSE...) needs no super call;
        a method that wraps another (LearnedViews) covers it too, since the wrapped method's
        modules are its submodules. Not meant to be overridden."""
        for module in self.modules():
            clamp = getattr(module, "clamp_temperature_", None)
            if callable(clamp):
                clamp()

    def gradient_cache_parts(self) -> tuple[Callable, Callable] | None:
        """For gradient caching: `(embed, loss)` where `embed(view_chunk)` gives per-sample
        embeddings and `loss(z_views, labels, ids)` the LossOutput of the whole batch from them;
        None (the default) when the loss is not such a function (EMA targets, queues,
        prototypes)."""
        return None


def encode_views(network: Callable[[Tensor], Tensor], views: Sequence[Tensor]) -> list[Tensor]:
    """Run `network` once per group of consecutive same-shaped views (one big batch is faster
    than several small ones), and split the result back into views. Views that are not
    tensors (graph batches) are encoded one at a time."""
    if not all(isinstance(view, Tensor) for view in views):  # e.g. graph batches: one by one
        return [network(view) for view in views]
    outputs: list[Tensor] = []
    for _, group in groupby(views, key=lambda view: view.shape):
        group = list(group)
        outputs.extend(network(torch.cat(group)).chunk(len(group)))
    return outputs
