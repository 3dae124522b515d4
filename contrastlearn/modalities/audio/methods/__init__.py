"""Audio methods: CAB-KWS (contrastive bottleneck features plus reconstruction)."""

from contrastlearn.modalities.audio.methods import cab_kws  # noqa: F401
