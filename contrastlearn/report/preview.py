"""Augmentation preview: a few training samples next to the views a recipe makes of them, so a
user can see whether the augmentations are too weak or too strong before spending compute."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from contrastlearn.augment.views import Views
from contrastlearn.data.arrays import ArrayDataset, DataError
from contrastlearn.report.html import TEXT_PREVIEW_NAME

__all__ = ["TEXT_PREVIEW_NAME", "preview_samples", "write_decoded_views_preview",
           "write_views_preview"]


def preview_samples(data: ArrayDataset | Dataset, num_samples: int = 8, seed: int = 0) -> Any:
    """`num_samples` inputs drawn from `data` without replacement (seeded), stacked; from an
    `ArrayDataset`, its batch of them as training draws it (`batch_x`: a GraphBatch for
    graphs)."""
    if len(data) == 0:
        raise DataError("cannot preview views of an empty dataset")
    count = min(int(num_samples), len(data))
    chosen = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:count]
    if isinstance(data, ArrayDataset):
        return data.batch_x(chosen)
    items = [data[int(index)] for index in chosen]
    return torch.stack([torch.as_tensor(item[0] if isinstance(item, (tuple, list)) else item)
                        .float() for item in items])


def write_views_preview(
    views: Views, samples: Tensor, path: str | Path, *, style: str = "image", seed: int = 0,
) -> bytes:
    """Make the views of `samples` with a generator seeded by `seed` (never the training one)
    and plot originals and views side by side in the picture `style` (a name of
    `PREVIEW_STYLES`, as a Modality's `preview` gives it); returns the PNG bytes."""
    from contrastlearn.report.plots import plot_augmentation_preview

    generator = torch.Generator(device=samples.device).manual_seed(seed)
    made = views(samples, generator)
    titles = ["input"] + [f"view {index + 1}" for index in range(len(made))]
    return plot_augmentation_preview(samples.cpu(), [view.cpu() for view in made], path,
                                     style=style, titles=titles)


def write_decoded_views_preview(
    views: Views, samples: Tensor, decode, path: str | Path, *, seed: int = 0,
) -> str:
    """For token data (text): each sample and its views decoded back to text by `decode`
    (the tokenizer's), one block per sample, written to `path`; returns the text."""
    from contrastlearn.core.atomic import atomic_write

    made = views(samples, torch.Generator(device=samples.device).manual_seed(seed))
    blocks = []
    for row in range(len(samples)):
        lines = [f"input : {decode(samples[row])}"]
        for index, view in enumerate(made):
            ids = getattr(view, "ids", view)
            lines.append(f"view {index + 1}: {decode(ids[row])}")
        blocks.append("\n".join(lines))
    text = "\n".join(views.describe()) + "\n\n" + "\n\n".join(blocks) + "\n"
    atomic_write(Path(path), text.encode())
    return text
