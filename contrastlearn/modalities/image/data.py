"""Image datasets: the embedded digits default, Fashion-MNIST from Debian, folders of image
files, and conversion of user arrays to (N, C, H, W) floats in [0, 1]."""

from __future__ import annotations

import gzip
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import (
    DataError,
    DatasetSplits,
    arrays_to_splits,
    as_float_tensor,
    check_real_numbers,
    to_tensor,
)
from contrastlearn.data.outliers import (
    clip_finite,
    count_beyond,
    finite_values,
    outlier_limit,
    outlier_warning,
    robust_note,
)

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_INSTALL = "sudo apt-get install -y dataset-fashion-mnist"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class PixelScale:
    """How image values are brought to about [0, 1]: finite values are clipped to
    [-clip, clip] (outlier-dominated data only), then divided by `scale`."""

    scale: float
    clip: float | None = None


def pixel_scale(images: Any) -> PixelScale:
    """What pixel values are divided by: 255 for uint8, else the largest finite value when it
    exceeds 1 (e.g. 16 for scikit-learn's digits), else 1. Outlier-dominated data
    (`outlier_limit`) are clipped to their robust limit first and the same rule then runs on
    the clipped values. Chosen once, on the training data, and reused for test data and (the
    divisor, recorded as `input_scale`) for every later input to the encoder."""
    if str(getattr(images, "dtype", "")).endswith("uint8"):
        return PixelScale(255.0)
    values = finite_values(to_tensor(images, "images"))
    if values.numel() == 0:
        return PixelScale(1.0)
    clip = outlier_limit(values)
    peak = float(values.max()) if clip is None else min(float(values.max()), clip)
    return PixelScale(peak if peak > 1.0 else 1.0, clip)


def value_scale(images: Any) -> float:
    """The divisor of `pixel_scale` (what a run records as `input_scale`)."""
    return pixel_scale(images).scale


def _scaled(tensor: Tensor, scale: float | PixelScale) -> Tensor:
    """`tensor` as float32, clipped when `scale` says so, divided by the scale."""
    if isinstance(scale, PixelScale):
        if scale.clip is not None:  # in float64: an outlier may not fit float32
            return (clip_finite(tensor.double(), scale.clip) / scale.scale).float()
        scale = scale.scale
    return tensor.float() / scale


def to_image_batch(
    array: Any, what: str = "images", scale: float | PixelScale | None = None
) -> Tensor:
    """(N, H, W), (N, C, H, W), (N, H, W, C) or flattened square (N, H*W) -> float (N, C, H, W)
    divided by `scale` (default: `pixel_scale` of this array; a PixelScale may also clip)."""
    tensor = to_tensor(array, what)
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
    return _scaled(tensor, pixel_scale(tensor) if scale is None else scale)


def image_samples(array, scale: float | None = None) -> Tensor:
    """Validated (N, C, H, W) float images from any accepted layout, divided by `scale` (pass
    the training data's scale, recorded as `input_scale`, so inputs match what was trained)."""
    return as_float_tensor(to_image_batch(array, scale=scale), "images")


def _record_robust_scale(info: dict[str, Any], name: str, scale: PixelScale,
                         arrays: list[Any]) -> None:
    """Say in the splits' info, and in a warning, that outliers were clipped before scaling."""
    clipped = sum(count_beyond(to_tensor(array, name), scale.clip) for array in arrays)
    info["input_scale_method"] = robust_note(clipped)
    warnings.warn(outlier_warning(f"{name}: x", f"{scale.clip:.4g}", clipped,
                                  f"{scale.scale:.4g} instead of its range"),
                  RuntimeWarning, stacklevel=3)


def image_splits(
    x, y=None, x_test=None, y_test=None, *, name: str, holdout_fraction: float = 0.2,
    seed: int = 0, groups=None,
) -> DatasetSplits:
    """Validate image arrays (dtype, shapes, NaN/Inf, labels) and make train/test splits;
    both splits are scaled (outlier-dominated data also clipped) by the training data's
    `pixel_scale`."""
    check_real_numbers(x, f"{name}: x")
    if x_test is not None:
        check_real_numbers(x_test, f"{name}: x_test")
    scale = pixel_scale(x)
    train = to_image_batch(x, f"{name}: x", scale)
    test = None if x_test is None else to_image_batch(x_test, f"{name}: x_test", scale)
    splits = arrays_to_splits(
        train, y, test, y_test, name=name, modality="image",
        holdout_fraction=holdout_fraction, seed=seed, groups=groups,
    )
    splits.info["input_scale"] = scale.scale
    if scale.clip is not None:
        given = [array for array in (x, x_test) if array is not None]
        _record_robust_scale(splits.info, name, scale, given)
    return splits


@DATASETS.register("digits", modality="image")
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


@DATASETS.register("fashion-mnist", modality="image")
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


def decode_image(path: Path, mode: str | None = None, size: tuple[int, int] | None = None,
                 image_size: int | None = None) -> tuple[np.ndarray, str, tuple[int, int]]:
    """One image file as an (H, W) or (H, W, 3) array in `mode` (default: L for grey files,
    else RGB) resized to `size` (default: `image_size` square, else its own size); also the
    mode and size used, so a folder's later files follow its first. A file that cannot be
    decoded is a DataError that names it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            mode = mode or ("L" if image.mode in ("L", "1", "I;16") else "RGB")
            if size is None:
                size = (image_size, image_size) if image_size else image.size
            return np.asarray(image.convert(mode).resize(size)), mode, size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"cannot decode image file {str(path)!r}: {error}") from None


def read_image_file(path: Path, image_size: int | None = None) -> dict[str, Any]:
    """One image file as a batch of one image (to embed it: `contrastlearn embed RUN
    photo.png`, or a record's image in a multimodal records file)."""
    image, _, _ = decode_image(Path(path), image_size=image_size)
    return {"x": image[None]}


def load_image_folder(
    folder: str | Path, *, image_size: int | None = None, holdout_fraction: float = 0.2,
    seed: int = 0,
) -> DatasetSplits:
    """Images in `folder`: one sub-folder per class (labels), or image files directly (no labels).

    All images are converted to the mode of the first one (L or RGB) and resized to
    `image_size` (default: the first image's size). A file that cannot be decoded is an error
    that names it.
    """
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
        image, mode, size = decode_image(path, mode, size, image_size)
        images.append(image)
        labels.append(class_names.index(path.parent.relative_to(folder).as_posix()))
    return image_splits(
        np.stack(images), np.array(labels) if labelled else None, name=folder.name,
        holdout_fraction=holdout_fraction, seed=seed,
    )
