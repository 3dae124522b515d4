"""Image datasets: the embedded digits default, Fashion-MNIST from Debian, folders of image
files, and conversion of user arrays to (N, C, H, W) floats in [0, 1]."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import DataError, DatasetSplits, arrays_to_splits, as_float_tensor

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_INSTALL = "sudo apt-get install -y dataset-fashion-mnist"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def value_scale(images: np.ndarray | Tensor) -> float:
    """What pixel values are divided by: 255 for uint8, else the largest finite value when it
    exceeds 1 (e.g. 16 for scikit-learn's digits), else 1. Chosen once, on the training data,
    and reused for test data and for every later input to the encoder."""
    tensor = torch.as_tensor(np.asarray(images) if not isinstance(images, Tensor) else images)
    if tensor.dtype == torch.uint8:
        return 255.0
    finite = tensor[torch.isfinite(tensor)] if tensor.is_floating_point() else tensor
    peak = float(finite.max()) if finite.numel() else 1.0
    return peak if peak > 1.0 else 1.0


def to_image_batch(
    array: np.ndarray | Tensor, what: str = "images", scale: float | None = None
) -> Tensor:
    """(N, H, W), (N, C, H, W), (N, H, W, C) or flattened square (N, H*W) -> float (N, C, H, W)
    divided by `scale` (default: `value_scale` of this array)."""
    tensor = torch.as_tensor(np.asarray(array) if not isinstance(array, Tensor) else array)
    if tensor.dim() == 2:
        side = int(round(tensor.shape[1] ** 0.5))
        if side * side != tensor.shape[1]:
            raise DataError(
                f"{what}: 2-D arrays are read as flattened square grayscale images, but "
                f"{tensor.shape[1]} features is not a square number; give (N, C, H, W)"
            )
        tensor = tensor.reshape(len(tensor), 1, side, side)
    elif tensor.dim() == 3:
        tensor = tensor.unsqueeze(1)
    elif tensor.dim() == 4:
        if tensor.shape[1] not in (1, 3, 4) and tensor.shape[-1] in (1, 3, 4):
            tensor = tensor.permute(0, 3, 1, 2)
        elif tensor.shape[1] not in (1, 3, 4):
            raise DataError(
                f"{what}: cannot find the channel axis in shape {tuple(tensor.shape)}; "
                "expected (N, C, H, W) or (N, H, W, C) with C in 1, 3, 4"
            )
    else:
        raise DataError(
            f"{what}: image data must be (N, H, W), (N, C, H, W) or (N, H, W, C); "
            f"got shape {tuple(tensor.shape)}"
        )
    if min(tensor.shape[2:]) < 4:
        raise DataError(f"{what}: images of {tuple(tensor.shape[2:])} pixels are too small")
    return tensor.float() / (value_scale(tensor) if scale is None else scale)


def image_samples(array, scale: float | None = None) -> Tensor:
    """Validated (N, C, H, W) float images from any accepted layout, divided by `scale` (pass
    the training data's scale, recorded as `input_scale`, so inputs match what was trained)."""
    return as_float_tensor(to_image_batch(array, scale=scale), "images")


def image_splits(
    x, y=None, x_test=None, y_test=None, *, name: str, holdout_fraction: float = 0.2,
    seed: int = 0, groups=None,
) -> DatasetSplits:
    """Validate image arrays (shapes, NaN/Inf, labels) and make train/test splits; both splits
    are scaled by the training data's `value_scale`."""
    scale = value_scale(x)
    train = to_image_batch(x, f"{name}: x", scale)
    test = None if x_test is None else to_image_batch(x_test, f"{name}: x_test", scale)
    splits = arrays_to_splits(
        train, y, test, y_test, name=name, modality="image",
        holdout_fraction=holdout_fraction, seed=seed, groups=groups,
    )
    splits.info["input_scale"] = scale
    return splits


@DATASETS.register("digits")
def load_digits_dataset(holdout_fraction: float = 0.2, seed: int = 0) -> DatasetSplits:
    """scikit-learn's handwritten digits: 1,797 8x8 grayscale images, 10 classes (embedded)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return image_splits(
        digits.images.astype(np.float32), digits.target, name="digits",
        holdout_fraction=holdout_fraction, seed=seed,
    )


load_digits_dataset.available = lambda: (True, "embedded in scikit-learn")


def _read_idx(path: Path, offset: int) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as handle:
            return np.frombuffer(handle.read(), dtype=np.uint8, offset=offset).copy()
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read {path}: {error}") from None


@DATASETS.register("fashion-mnist")
def load_fashion_mnist(holdout_fraction: float = 0.2, seed: int = 0) -> DatasetSplits:
    """Fashion-MNIST: 60,000 + 10,000 28x28 grayscale images, 10 classes (official split)."""
    if not FASHION_MNIST_DIR.is_dir():
        raise DataError(f"Fashion-MNIST is not installed; install it with: {FASHION_MNIST_INSTALL}")
    arrays = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = _read_idx(FASHION_MNIST_DIR / f"{prefix}-images-idx3-ubyte.gz", 16)
        labels = _read_idx(FASHION_MNIST_DIR / f"{prefix}-labels-idx1-ubyte.gz", 8)
        arrays[split] = (images.reshape(-1, 28, 28), labels.astype(np.int64))
    return image_splits(
        arrays["train"][0], arrays["train"][1], arrays["test"][0], arrays["test"][1],
        name="fashion-mnist", seed=seed,
    )


load_fashion_mnist.available = lambda: (
    FASHION_MNIST_DIR.is_dir(),
    "installed" if FASHION_MNIST_DIR.is_dir() else f"install with: {FASHION_MNIST_INSTALL}",
)


def load_image_folder(
    folder: str | Path, *, image_size: int | None = None, holdout_fraction: float = 0.2,
    seed: int = 0,
) -> DatasetSplits:
    """Images in `folder`: one sub-folder per class (labels), or image files directly (no labels).

    All images are converted to the mode of the first one (L or RGB) and resized to
    `image_size` (default: the first image's size). A file that cannot be decoded is an error
    that names it.
    """
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"image folder {str(folder)!r} does not exist")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in {str(folder)!r}")
    class_names = sorted({p.parent.relative_to(folder).as_posix() for p in files})
    labelled = "." not in class_names
    images, labels, mode, size = [], [], None, None
    for path in files:
        try:
            with Image.open(path) as image:
                image.load()
                mode = mode or ("L" if image.mode in ("L", "1", "I;16") else "RGB")
                if size is None:
                    size = (image_size, image_size) if image_size else image.size
                images.append(np.asarray(image.convert(mode).resize(size)))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise DataError(f"cannot decode image file {str(path)!r}: {error}") from None
        labels.append(class_names.index(path.parent.relative_to(folder).as_posix()))
    return image_splits(
        np.stack(images), np.array(labels) if labelled else None, name=folder.name,
        holdout_fraction=holdout_fraction, seed=seed,
    )
