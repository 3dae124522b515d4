"""The image room's `Modality`: (N, C, H, W) arrays, folders of image files, pictures of views."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contrastlearn.core.registry import MODALITIES
from contrastlearn.data.arrays import DatasetSplits
from contrastlearn.data.modality import Modality
from contrastlearn.data.resolve import sample_shape_of
from contrastlearn.modalities.image.data import (
    IMAGE_SUFFIXES,
    image_samples,
    image_splits,
    load_image_folder,
    read_image_file,
)


class ImageOptions(BaseModel):
    """`data.options` of an image recipe."""

    model_config = ConfigDict(extra="forbid")
    image_size: int | None = Field(None, gt=0)
    """Resize images read from a folder to this square size (default: the first image's)."""


def image_view_inputs(sample_shape: tuple[int, ...], encoder: Any) -> dict[str, Any]:
    """Crops and resizes return images of the data's own size."""
    return {"size": int(sample_shape[-1])} if len(sample_shape) >= 2 else {}


def image_encoder_inputs(splits: DatasetSplits) -> dict[str, Any]:
    """Encoders that need the image size (a ViT's position embeddings) take it from the data."""
    shape = sample_shape_of(splits.train)
    return {"image_size": int(shape[-1])} if len(shape) >= 2 else {}


IMAGE = MODALITIES.register("image")(Modality(
    name="image",
    description="images: (N, C, H, W) or (N, H, W[, C]) arrays, .npz files, folders of files",
    split_arrays=image_splits,
    to_samples=image_samples,
    options=ImageOptions,
    file_readers={suffix: read_image_file for suffix in sorted(IMAGE_SUFFIXES)},
    read_folder=load_image_folder,
    encoder_inputs=image_encoder_inputs,
    view_inputs=image_view_inputs,
    preview="image",
    default_recipe="digits-simclr",
    protocols=("linear_probe", "knn"),
    extra="image",
))
