"""Images: datasets, batched augmentations and view presets, encoders, the image Modality."""

from contrastlearn.modalities.image import augment, encoders, modality, presets  # noqa: F401
