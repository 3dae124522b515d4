"""CAB-KWS (Dai et al. 2024, "Contrastive Augmentation: An Unsupervised Learning Approach for
Keyword Spotting in Speech Technology", arXiv 2409.00356; after Luo et al. 2022,
arXiv 2205.14329): views of a clip at another speed or volume should have similar bottleneck
features, and the bottleneck should keep enough of the clip to reconstruct it.

From the paper: speed and volume views of unlabelled utterances, a contrastive loss on the
similarity of their normalised bottleneck representations (views of the same utterance
positive, other utterances negative), and an audio-reconstruction term as auxiliary training.
Ours (the paper's exact layers and weights were not available to us): the contrastive term is
the library's InfoNCE (NT-Xent, temperature 0.2) on a SimCLR projection MLP of the pooled
bottleneck maps; the reconstruction is the mean squared error of a small resize-convolution
decoder that rebuilds each view's own normalised log-mel (the encoder's `features`, detached)
from its bottleneck maps, weighted by `reconstruction_weight`.
"""

from __future__ import annotations

from itertools import groupby

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import METHODS
from contrastlearn.heads import ProjectionMLP
from contrastlearn.methods.base import Method
from contrastlearn.objectives import InfoNCE
from contrastlearn.objectives.base import LossOutput

REQUIRED_ENCODER_PARTS = ("features", "body", "bottleneck", "pool", "bottleneck_channels")


def require_bottleneck(encoder: nn.Module, method: str) -> None:
    """Refuse an encoder without the bottleneck contract, naming the encoders that have it."""
    missing = [part for part in REQUIRED_ENCODER_PARTS if not hasattr(encoder, part)]
    if missing:
        raise TypeError(
            f"method {method!r} needs an audio encoder with {', '.join(REQUIRED_ENCODER_PARTS)}; "
            f"{type(encoder).__name__} has no {', '.join(missing)}: use encoder 'cab_kws' or "
            "'audio_cnn'")


class ReconstructionDecoder(nn.Module):
    """Bottleneck maps (B, C, M', F') -> (B, 1, M, F) log-mel, by resize-convolutions (bilinear
    upsampling, then conv3x3-BN-ReLU; no checkerboard artefacts, and any target size): a stage
    of `hidden_channels` at the maps' size, one of half as many halfway (geometrically) to the
    target, and a 3x3 convolution to one channel at the target size. Channels shrink as the
    maps grow, so the decoder costs well under the encoder."""

    def __init__(self, in_channels: int, hidden_channels: int = 16) -> None:
        super().__init__()
        if int(hidden_channels) < 2:
            raise ValueError(f"ReconstructionDecoder hidden_channels must be >= 2; got "
                             f"{hidden_channels}")
        half = int(hidden_channels) // 2
        self.entry = self._stage(in_channels, int(hidden_channels))
        self.middle = self._stage(int(hidden_channels), half)
        self.out = nn.Conv2d(half, 1, 3, padding=1)

    @staticmethod
    def _stage(in_channels: int, out_channels: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                             nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, maps: Tensor, size: tuple[int, int]) -> Tensor:
        halfway = tuple(max(1, round((a * b) ** 0.5)) for a, b in zip(maps.shape[-2:], size))
        hidden = self.entry(maps)
        hidden = self.middle(F.interpolate(hidden, size=halfway, mode="bilinear"))
        return self.out(F.interpolate(hidden, size=tuple(size), mode="bilinear"))


@METHODS.register("cab_kws")
class CABKWS(Method):
    """Two (or more) speed/volume views -> encoder bottleneck maps -> (pool -> projector ->
    NT-Xent) + `reconstruction_weight` * MSE(decoder(maps), normalised log-mel of the view).

    The encoder must offer `features`, `bottleneck`, `pool` and `bottleneck_channels`
    (`cab_kws` and `audio_cnn` do). Views are waveforms (B, 1, T) or log-mel features
    (B, 1, M, F); same-shaped views go through the networks as one batch. `decoder_channels`
    sizes the reconstruction decoder. Metrics: the two terms (`contrastive`, `reconstruction`)
    and InfoNCE's own."""

    default_views = "kws_speed_volume_views"
    accepts_feature_views = True

    def __init__(
        self, encoder: nn.Module, projection_dim: int = 128, hidden_dim: int = 512,
        temperature: float = 0.2, reconstruction_weight: float = 1.0, gather: bool = True,
        decoder_channels: int = 16,
    ) -> None:
        super().__init__(encoder)
        require_bottleneck(encoder, "cab_kws")
        if reconstruction_weight < 0:
            raise ValueError(f"cab_kws reconstruction_weight must be >= 0; got "
                             f"{reconstruction_weight}")
        self.reconstruction_weight = float(reconstruction_weight)
        self.projector = ProjectionMLP(encoder.out_dim, hidden_dim, projection_dim)
        self.objective = InfoNCE(temperature, gather=gather)
        self.decoder = ReconstructionDecoder(encoder.bottleneck_channels, decoder_channels)

    def _encode_group(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Projections (N, D) and the reconstruction MSE of a batch of same-shaped views."""
        features = self.encoder.features(x)  # no parameters: the target needs no grad
        maps = self.encoder.body(features)
        target = features.detach()
        reconstruction = self.decoder(maps, tuple(target.shape[-2:]))
        return self.projector(self.encoder.pool(maps)), F.mse_loss(reconstruction, target)

    def training_step(self, views: list[Tensor], *, labels, ids) -> LossOutput:
        if len(views) < 2:
            raise ValueError(f"cab_kws compares views of the same clip and needs at least two; "
                             f"got {len(views)}: use the view policy {self.default_views!r}")
        z: list[Tensor] = []
        errors: list[Tensor] = []
        for _, group in groupby(views, key=lambda view: view.shape):  # one forward per shape
            group = list(group)
            projections, error = self._encode_group(torch.cat(group))
            z.extend(projections.chunk(len(group)))
            errors.append(error * len(group))
        reconstruction = torch.stack(errors).sum() / len(views)
        contrastive = self.objective(self.apply_feature_views(z), ids=ids)
        loss = contrastive.loss + self.reconstruction_weight * reconstruction
        metrics = {**contrastive.metrics, "contrastive": contrastive.loss.detach(),
                   "reconstruction": reconstruction.detach()}
        return LossOutput(loss, metrics).with_embeddings(z)
