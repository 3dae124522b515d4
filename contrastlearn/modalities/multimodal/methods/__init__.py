"""The multimodal room's methods (registered on import)."""

from contrastlearn.modalities.multimodal.methods import contrast, ssl  # noqa: F401
