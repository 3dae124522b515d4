"""Images: datasets, batched augmentations and view presets, encoders."""

from contrastlearn.data.resolve import register_modality
from contrastlearn.modalities.image import augment, encoders, presets  # noqa: F401
from contrastlearn.modalities.image.data import image_samples, image_splits, load_image_folder

register_modality("image", image_splits, image_samples, load_image_folder)
