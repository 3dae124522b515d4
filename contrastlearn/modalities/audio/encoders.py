"""Encoders of keyword-sized clips: small 2-d convolutional networks on log-mel features.

Both read either (B, 1, T) waveforms, turned into log-mel features by their `.frontend` (a
`LogMel`), or (B, 1, n_mels, frames) log-mel features used as they are (views that end in the
feature domain, e.g. SpecAugment). The log-mel is then normalised per clip: zero mean and unit
variance over time in every mel bin (`normalize_utterance`), rather than by a BatchNorm at the
input. A gain change of the waveform (the volume views) shifts the log-mel of every bin by the
same constant, which the per-clip mean removes, so a clip without padding is represented the
same at any volume (zero-padded frames stay at the log floor, so a padded clip is only nearly
so); a fixed microphone response is removed the same way; and the statistics are each
clip's own, identical in training and evaluation and independent of the rest of the batch.

Both share one contract: `features(x)` (the normalised log-mel, (B, 1, M, F)), `bottleneck(x)`
(feature maps (B, bottleneck_channels, M', F')), `pool(maps)` ((B, out_dim): a global average,
then a Linear when `out_dim` is given) and `forward(x) = pool(bottleneck(x))`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.audio.features import SAMPLE_RATE, LogMel, normalize_utterance


def _conv_block(in_channels: int, out_channels: int, kernel_size: tuple[int, int] = (3, 3),
                dilation: tuple[int, int] = (1, 1)) -> list[nn.Module]:
    """A same-padded bias-free convolution, BatchNorm, ReLU."""
    padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel_size, dilation))
    return [nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding,
                      dilation=dilation, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


class _LogMelEncoder(nn.Module):
    """The shared contract; subclasses set `body` (normalised log-mel -> bottleneck maps),
    `bottleneck_channels` and call `_finish` for the pooling head."""

    modality = "audio"
    """The kind of data it reads (`evaluate` and `embed` read it from the module)."""

    frontend: LogMel
    body: nn.Module
    bottleneck_channels: int
    out_dim: int

    def _finish(self, out_dim: int | None) -> None:
        if out_dim is not None and int(out_dim) < 1:
            raise ValueError(f"{type(self).__name__} out_dim must be >= 1 or None; got {out_dim}")
        self.head: nn.Module = (nn.Identity() if out_dim is None
                                else nn.Linear(self.bottleneck_channels, int(out_dim)))
        self.out_dim = self.bottleneck_channels if out_dim is None else int(out_dim)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: Tensor) -> Tensor:
        """(B, 1, n_mels, frames) log-mel normalised per clip, from waveforms (B, 1, T) or
        log-mel features (B, 1, n_mels, frames)."""
        name = type(self).__name__
        if x.dim() == 3:
            if x.shape[1] != 1:
                raise ValueError(f"{name} expects mono waveforms (batch, 1, samples); got "
                                 f"{tuple(x.shape)}: average the channels to mono")
            x = self.frontend(x)
        elif x.dim() == 4:
            if x.shape[1] != 1 or x.shape[2] != self.frontend.n_mels:
                raise ValueError(
                    f"{name} expects log-mel features (batch, 1, {self.frontend.n_mels}, "
                    f"frames); got {tuple(x.shape)}: build the encoder with "
                    f"n_mels={x.shape[2]} or make the features with its `frontend`")
        else:
            raise ValueError(f"{name} reads waveforms (batch, 1, samples) or log-mel features "
                             f"(batch, 1, n_mels, frames); got shape {tuple(x.shape)}")
        return normalize_utterance(x)

    def bottleneck(self, x: Tensor) -> Tensor:
        """(B, bottleneck_channels, M', F') feature maps of waveforms or log-mel features."""
        return self.body(self.features(x))

    def pool(self, maps: Tensor) -> Tensor:
        """(B, C, M', F') bottleneck maps -> (B, out_dim) representation."""
        return self.head(maps.mean(dim=(2, 3)))

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.bottleneck(x))


@ENCODERS.register("audio_cnn")
class AudioCNN(_LogMelEncoder):
    """A plain 2-d CNN on log-mel: blocks of conv3x3-BN-ReLU with `width * multipliers[i]`
    channels, a 2x2 max pool after every block but the last, global average pooling and an
    optional Linear to `out_dim` (None: the last block's width). About 0.13 M parameters at the
    defaults (40 mels, width 32: 32-64-64-128 channels); also the supervised baseline of the
    same size as `cab_kws`. The bottleneck maps are the last block's output."""

    def __init__(
        self, sample_rate: int = SAMPLE_RATE, n_mels: int = 40, width: int = 32,
        multipliers: Sequence[int] = (1, 2, 2, 4), out_dim: int | None = None,
    ) -> None:
        super().__init__()
        if int(width) < 1 or not multipliers or min(multipliers) < 1:
            raise ValueError(f"AudioCNN needs width >= 1 and positive multipliers; got width="
                             f"{width}, multipliers={list(multipliers)}")
        self.frontend = LogMel(sample_rate=sample_rate, n_mels=n_mels)
        layers: list[nn.Module] = []
        previous = 1
        for index, multiplier in enumerate(multipliers):
            channels = int(width) * int(multiplier)
            layers += _conv_block(previous, channels)
            if index < len(multipliers) - 1:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            previous = channels
        self.body = nn.Sequential(*layers)
        self.bottleneck_channels = previous
        self._finish(out_dim)


class _TemporalBlock(nn.Module):
    """Residual dilated convolution along time only (kernel 1 x 3): each mel row sees
    `2 * dilation` more frames of context; ReLU(x + BN(conv(x)))."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, (1, 3), padding=(0, dilation),
                              dilation=(1, dilation), bias=False)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x + self.norm(self.conv(x)))


@ENCODERS.register("cab_kws")
class CABKWSEncoder(_LogMelEncoder):
    """A compressed convolutional encoder after CAB-KWS (Dai et al. 2024, "Contrastive
    Augmentation: An Unsupervised Learning Approach for Keyword Spotting in Speech Technology",
    arXiv 2409.00356), which builds on the CNN-attention KWS model of Luo et al. 2022
    (arXiv 2205.14329).

    From the paper: convolutions learn local time-frequency features, a compression removes
    redundant, non-informative channels, and a long-term stage covers the whole keyword; the
    contrastive and reconstruction losses of the `cab_kws` method act on the bottleneck maps.
    Ours (the paper's exact layers were not available to us): three conv3x3-BN-ReLU blocks of
    `width`, 2 `width`, 4 `width` channels with max pools of 2x2, 2x2 and 2x1 (frequency only,
    keeping 1/4 of the frames for the temporal stage); a 1x1 convolution compressing 4 `width`
    channels to `bottleneck_channels` (default 2 `width`); and residual dilated temporal
    convolutions (kernel 1x3, dilations 1, 2, 4, 8: 31 pooled frames = 124 input frames, a
    whole 1-s clip) in place of the attention layers. About 0.15 M parameters at the defaults.
    """

    def __init__(
        self, sample_rate: int = SAMPLE_RATE, n_mels: int = 40, width: int = 32,
        bottleneck_channels: int | None = None, dilations: Sequence[int] = (1, 2, 4, 8),
        out_dim: int | None = None,
    ) -> None:
        super().__init__()
        bottleneck_channels = 2 * int(width) if bottleneck_channels is None else bottleneck_channels
        if int(width) < 1 or int(bottleneck_channels) < 1 or min(dilations, default=1) < 1:
            raise ValueError(f"CABKWSEncoder needs width >= 1, bottleneck_channels >= 1 and "
                             f"dilations >= 1; got width={width}, bottleneck_channels="
                             f"{bottleneck_channels}, dilations={list(dilations)}")
        self.frontend = LogMel(sample_rate=sample_rate, n_mels=n_mels)
        width = int(width)
        self.bottleneck_channels = int(bottleneck_channels)
        self.body = nn.Sequential(
            *_conv_block(1, width), nn.MaxPool2d(2, ceil_mode=True),
            *_conv_block(width, 2 * width), nn.MaxPool2d(2, ceil_mode=True),
            *_conv_block(2 * width, 4 * width), nn.MaxPool2d((2, 1), ceil_mode=True),
            *_conv_block(4 * width, self.bottleneck_channels, kernel_size=(1, 1)),
            *(_TemporalBlock(self.bottleneck_channels, int(d)) for d in dilations),
        )
        self._finish(out_dim)
