"""The multimodal room's methods (registered on import)."""

from contrastlearn.modalities.multimodal.methods import attentive_mask, contrast, ssl  # noqa: F401
