"""Per-timestamp features of series too long to encode in one pass.

The series is cut into windows of `window` timestamps; each is encoded with `context` extra
timestamps on either side (fewer at the series' ends) and only its centre is kept. For a
convolutional encoder whose receptive field is centred (within one timestamp), `context >=
receptive_field // 2` reproduces the full-series features exactly, because no kept feature
then sees past the cut; memory stays bounded by `batch_size` windows at a time. This is the
sliding-window inference of TS2Vec (Yue et al. 2022, arXiv:2106.10466), made exact.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import Tensor, nn


def _positive_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"encode_in_windows: {name} must be an integer >= {minimum}, "
                         f"got {value!r}")
    return value


def encode_in_windows(encoder: nn.Module, x: Tensor, window: int, context: int | None = None,
                      batch_size: int = 256, **timestamp_options) -> tuple[Tensor, Tensor]:
    """Features (B, T, D) and valid mask (B, T) of a NaN-padded (B, C, T) batch, computed by
    `encoder.timestamps(spans, **timestamp_options)` on windows of `window` timestamps with
    `context` on each side (e.g. `layers=...` for TS2Vec's encoder).

    `context` defaults to half the encoder's `receptive_field` when it has one (exact for
    convolutional encoders with a centred receptive field: TS2Vec, FCN, ResNet here), else
    `window // 2` (an approximation, e.g. for a Transformer). Windows of equal shape are stacked and
    encoded `batch_size` at a time. The encoder runs in eval mode under `torch.no_grad` and
    gets its previous mode back afterwards."""
    if not callable(getattr(encoder, "timestamps", None)):
        raise TypeError(f"encode_in_windows needs an encoder with per-timestamp features "
                        f"(a `timestamps` method); {type(encoder).__name__} has none")
    if not isinstance(x, Tensor) or x.dim() != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"encode_in_windows expects a (batch, channels, length) tensor, "
                         f"got {shape}")
    if x.shape[0] == 0 or x.shape[-1] == 0:
        raise ValueError(f"encode_in_windows needs at least one series of at least one "
                         f"timestamp, got shape {tuple(x.shape)}")
    window = _positive_int("window", window, 1)
    batch_size = _positive_int("batch_size", batch_size, 1)
    if context is None:
        receptive_field = getattr(encoder, "receptive_field", None)
        context = receptive_field // 2 if receptive_field is not None else window // 2
    context = _positive_int("context", context, 0)

    count, _, length = x.shape
    # windows whose encoded span has the same (length, offset of the centre, centre length)
    # can be stacked; all interior windows share one such shape
    groups: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for start in range(0, length, window):
        low, high = max(0, start - context), min(length, start + window + context)
        groups[(high - low, start - low, min(window, length - start))].append(start)

    features: Tensor | None = None  # allocated once the feature width is known
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            for (span, offset, kept), starts in groups.items():
                items = [(series, start) for start in starts for series in range(count)]
                for first in range(0, len(items), batch_size):
                    chunk = items[first:first + batch_size]
                    spans = torch.stack([x[series, :, start - offset:start - offset + span]
                                         for series, start in chunk])
                    encoded = encoder.timestamps(spans, **timestamp_options)[0]
                    encoded = encoded[:, offset:offset + kept]
                    if features is None:
                        features = encoded.new_empty(count, length, encoded.shape[-1])
                    for row, (series, start) in enumerate(chunk):
                        features[series, start:start + kept] = encoded[row]
    finally:
        encoder.train(was_training)
    return features, torch.isfinite(x).all(dim=1)
