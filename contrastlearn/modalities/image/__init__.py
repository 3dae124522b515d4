"""Images: datasets, batched augmentations and view presets, encoders (CNNs, a small ViT),
the image Modality."""

from contrastlearn.modalities.image import (  # noqa: F401
    augment,
    encoders,
    learned_augmentation,
    modality,
    presets,
    vit,
)
