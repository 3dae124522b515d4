"""Paired-record contrast: every modality of a record embedded in the shared space, one
objective over the modalities' embeddings (CLIP, SigLIP, Symile, the modality-pairwise sum, the
contrastive gap). The objective is the registered one; these methods only say which modalities
it compares and read like the papers' pseudo-code."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from contrastlearn.core.registry import METHODS, OBJECTIVES
from contrastlearn.methods.base import Method
from contrastlearn.modalities.multimodal.batch import MultiBatch
from contrastlearn.objectives.base import LossOutput


def require_multimodal(encoder: nn.Module, method: str) -> None:
    """Refuse an encoder that cannot embed modalities into a shared space."""
    if not callable(getattr(encoder, "embed", None)) or not hasattr(encoder, "names"):
        raise TypeError(f"method {method!r} needs a multimodal encoder (encoder name "
                        f"'multimodal_encoder'); got {type(encoder).__name__}")


def mean_outputs(outputs: list[LossOutput]) -> LossOutput:
    """The mean loss and metrics of several views' outputs."""
    if len(outputs) == 1:
        return outputs[0]
    loss = torch.stack([output.loss for output in outputs]).mean()
    metrics = {key: torch.stack([torch.as_tensor(o.metrics[key]) for o in outputs]).mean()
               for key in outputs[0].metrics}
    return LossOutput(loss, metrics)


class MultimodalContrast(Method):
    """Records -> each modality's shared-space embedding -> `objective` over them (modality
    order: `modalities`, default the encoder's). With several views of the records the loss is
    averaged over views."""

    default_views = "paired_views"
    objective_name = "clip"
    min_modalities = 2
    max_modalities: int | None = 2

    def __init__(self, encoder: nn.Module, modalities: list[str] | None = None,
                 **objective_kwargs: Any) -> None:
        super().__init__(encoder)
        method = type(self).__name__
        require_multimodal(encoder, method)
        self.modalities = list(modalities or encoder.names)
        unknown = [name for name in self.modalities if name not in encoder.names]
        if unknown:
            raise ValueError(f"{method} modalities {unknown} are not the encoder's "
                             f"{encoder.names}")
        count = len(self.modalities)
        if count < self.min_modalities or (self.max_modalities and count > self.max_modalities):
            wanted = (f"exactly {self.min_modalities}" if self.max_modalities == self.min_modalities
                      else f"at least {self.min_modalities}")
            raise ValueError(f"{method} compares {wanted} modalities; got {self.modalities}: set "
                             "method.kwargs.modalities or use symile / pairwise_clip for more")
        self.objective = OBJECTIVES.build(self.objective_name, **objective_kwargs)

    def representations(self, records: MultiBatch) -> dict[str, Tensor]:
        """Each compared modality's room-encoder output (before the shared projection)."""
        return {name: self.encoder.encoders[name](records.parts[name])
                for name in self.modalities}

    def contrast(self, representations: dict[str, Tensor], ids: Tensor | None
                 ) -> tuple[LossOutput, list[Tensor]]:
        """The objective over the modalities' shared-space embeddings."""
        z = [self.encoder.projections[name](representations[name]) for name in self.modalities]
        return self.objective(z, ids=ids), z

    def training_step(self, views: list[MultiBatch], *, labels, ids) -> LossOutput:
        outputs, first = [], None
        for records in views:
            output, z = self.contrast(self.representations(records), ids)
            outputs.append(output)
            first = first or z
        return mean_outputs(outputs).with_embeddings(first)


@METHODS.register("clip")
class CLIP(MultimodalContrast):
    """CLIP (Radford et al. 2021, arXiv 2103.00020): symmetric InfoNCE between the two
    modalities' embeddings, learnable temperature; objective kwargs go to `clip`."""

    objective_name = "clip"


@METHODS.register("siglip")
class SigLIP(MultimodalContrast):
    """SigLIP (Zhai et al. 2023, arXiv 2303.15343): a sigmoid loss on every pair."""

    objective_name = "siglip"


@METHODS.register("symile")
class Symile(MultimodalContrast):
    """Symile (Saporta et al. 2024, arXiv 2411.01053): a lower bound on the total correlation
    of three or more modalities through their multilinear inner product."""

    objective_name = "symile"
    max_modalities = None


@METHODS.register("pairwise_clip")
class PairwiseCLIP(MultimodalContrast):
    """Modality-pairwise contrast (Franceschini et al. 2022, "Multimodal Emotion Recognition
    with Modality-Pairwise Unsupervised Contrastive Loss", ICPR 2022): the CLIP loss of
    every pair of modalities, summed."""

    objective_name = "pairwise_contrast"
    max_modalities = None


@METHODS.register("clip_gap")
class ContrastiveGapCLIP(MultimodalContrast):
    """CLIP plus alignment and uniformity terms in the shared space (Fahim et al. 2024, "It's
    Not a Modality Gap", arXiv 2405.18570): closes the contrastive gap; usually fine-tunes a
    pretrained model (encoder.kwargs.init_from)."""

    objective_name = "contrastive_gap"
