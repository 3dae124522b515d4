"""Time the SimCLR view policy: contrastlearn's batched torch ops vs kornia.augmentation.

Both sides make the two SimCLR views of a batch (random resized crop, horizontal flip,
colour jitter 0.8/0.8/0.8/0.2 with p=0.8, grayscale p=0.2, optionally blur p=0.5 with a
kernel of 10% of the side). On 1-channel batches both sides skip saturation, hue and
grayscale (kornia's colour ops need RGB). Also times each op alone, and the two ways our
GaussianBlur can filter (banded matrix products vs grouped separable convolutions).

    python benchmarks/bench_image_views.py [--device cuda] [--repeats 20] [--threads N]
    python benchmarks/bench_image_views.py --smoke   # batch 8, 1 repeat: runs?

Prints ms per batch (median over repeats, after warm-up). Not part of the tests.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from result_rows import add_smoke_option
from torch import Tensor

from contrastlearn.augment.base import Augmentation
from contrastlearn.modalities.image.augment import (
    ColorJitter,
    GaussianBlur,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    _filter_matrices,
    _gaussian_kernels,
    _separable_blur_conv,
    compose,
)
from contrastlearn.modalities.image.presets import blur_kernel_size, simclr_views

try:
    import kornia
    import kornia.augmentation as K
except ImportError:  # pragma: no cover - benchmark only
    kornia = None


def timed(
    functions: list[Callable[[], object] | None], repeats: int, device: torch.device
) -> list[float | None]:
    """Median milliseconds of each function over `repeats` runs, after two warm-up runs.

    The functions run interleaved (a, b, a, b, ...) so that load from other processes on a
    shared machine hits all of them alike.
    """
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    present = [f for f in functions if f is not None]
    for _ in range(2):
        for function in present:
            function()
    sync()
    times: list[list[float]] = [[] for _ in functions]
    for _ in range(repeats):
        for index, function in enumerate(functions):
            if function is None:
                continue
            start = time.perf_counter()
            function()
            sync()
            times[index].append((time.perf_counter() - start) * 1e3)
    return [statistics.median(t) if t else None for t in times]


def kornia_simclr(size: int, channels: int, blur: bool) -> torch.nn.Module:
    rgb = channels == 3
    steps = [
        K.RandomResizedCrop((size, size), scale=(0.08, 1.0)),
        K.RandomHorizontalFlip(),
        K.ColorJitter(0.8, 0.8, 0.8 if rgb else 0.0, 0.2 if rgb else 0.0, p=0.8),
    ]
    if rgb:
        steps.append(K.RandomGrayscale(p=0.2))
    if blur:
        k = blur_kernel_size(size)
        steps.append(K.RandomGaussianBlur((k, k), (0.1, 2.0), p=0.5))
    return torch.nn.Sequential(*steps)


def kornia_singles(size: int) -> dict[str, Callable[[], torch.nn.Module]]:
    k = blur_kernel_size(size)
    return {
        "crop+flip (fused)": lambda: torch.nn.Sequential(
            K.RandomResizedCrop((size, size)), K.RandomHorizontalFlip()),
        "color jitter p=0.8": lambda: K.ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8),
        "grayscale p=0.2": lambda: K.RandomGrayscale(p=0.2),
        f"blur k={k} p=1": lambda: K.RandomGaussianBlur((k, k), (0.1, 2.0), p=1.0),
    }


def our_singles(size: int) -> dict[str, Augmentation]:
    k = blur_kernel_size(size)
    return {
        "crop+flip (fused)": compose([RandomResizedCrop(size), RandomHorizontalFlip()]),
        "color jitter p=0.8": ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8),
        "grayscale p=0.2": RandomGrayscale(0.2),
        f"blur k={k} p=1": GaussianBlur(k),
    }


Row = tuple[str, str, str, float, float | None]


def compare(
    ours: Callable[[Tensor, torch.Generator], object],
    theirs: Callable[[Tensor], object] | None,
    x: Tensor, repeats: int,
) -> tuple[float, float | None]:
    generator = torch.Generator(device=x.device).manual_seed(0)
    ours_ms, theirs_ms = timed(
        [lambda: ours(x, generator), (lambda: theirs(x)) if theirs is not None else None],
        repeats, x.device,
    )
    return ours_ms, theirs_ms


def bench_batch(channels: int, size: int, batch: int, repeats: int, device) -> list[Row]:
    shape = f"{batch}x{channels}x{size}x{size}"
    x = torch.rand(batch, channels, size, size, device=device)
    rows: list[Row] = []
    for blur in (False, True):
        ours = simclr_views(size, blur=blur, in_channels=channels)
        theirs = None
        if kornia is not None:
            pipeline = kornia_simclr(size, channels, blur).to(device)

            def theirs(x: Tensor, pipeline=pipeline) -> list[Tensor]:
                return [pipeline(x) for _ in range(2)]

        rows.append((shape, "simclr 2 views", f"blur={blur}", *compare(ours, theirs, x, repeats)))
    kornia_ops = kornia_singles(size) if kornia is not None else {}
    for name, op in our_singles(size).items():
        if channels == 1 and name.startswith(("color", "grayscale")):
            continue
        module = kornia_ops[name]().to(device) if name in kornia_ops else None
        rows.append((shape, name, "", *compare(op, module, x, repeats)))
    return rows


def bench_blur(side: int, batch: int, repeats: int, device) -> tuple[str, int, float, float]:
    x = torch.rand(batch, 3, side, side, device=device)
    kernel_size = blur_kernel_size(side)
    kernels = _gaussian_kernels(
        torch.rand(batch, device=device) * 2 + 0.1, kernel_size, x.dtype
    )

    def by_matmul() -> Tensor:
        matrix = _filter_matrices(kernels, side).unsqueeze(1)
        return matrix @ x @ matrix.transpose(-1, -2)

    matmul_ms, conv_ms = timed(
        [by_matmul, lambda: _separable_blur_conv(x, kernels, kernels)], repeats, x.device
    )
    return f"B={batch} N={side}", kernel_size, matmul_ms, conv_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-blur-table", action="store_true")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.repeats, args.batch = 1, 8
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, kornia {kornia.__version__ if kornia else 'missing'}, "
          f"device {device}, threads {torch.get_num_threads()}, batch {args.batch}, "
          f"repeats {args.repeats} (median ms per batch, ours and kornia interleaved)")

    rows = [
        row
        for channels, size in ((1, 28), (3, 32))
        for row in bench_batch(channels, size, args.batch, args.repeats, device)
    ]
    print()
    print(f"{'batch':<16}{'policy / op':<22}{'settings':<12}{'ours ms':>10}{'kornia ms':>11}"
          f"{'speed-up':>10}")
    for shape, name, settings, ours_ms, theirs_ms in rows:
        theirs = f"{theirs_ms:11.2f}" if theirs_ms is not None else f"{'-':>11}"
        ratio = f"{theirs_ms / ours_ms:9.1f}x" if theirs_ms is not None else f"{'-':>10}"
        print(f"{shape:<16}{name:<22}{settings:<12}{ours_ms:10.2f}{theirs}{ratio}")

    if args.no_blur_table:
        return
    # How GaussianBlur should filter: banded matrices vs grouped convolutions.
    print()
    print(f"{'blur, Bx3xNxN':<20}{'kernel':>8}{'matmul ms':>11}{'conv ms':>10}")
    for side in (32, 64, 96, 160, 224):
        batch = args.batch if side <= 96 else args.batch // 4
        label, kernel_size, matmul_ms, conv_ms = bench_blur(
            side, batch, max(3, args.repeats // 4), device
        )
        print(f"{label:<20}{kernel_size:>8}{matmul_ms:11.2f}{conv_ms:10.2f}")


if __name__ == "__main__":
    main()
