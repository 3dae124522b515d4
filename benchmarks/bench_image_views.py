"""Time the SimCLR view policy: contrastlearn's batched torch ops vs kornia.augmentation.

Both sides make the two SimCLR views of a batch (random resized crop, horizontal flip,
colour jitter 0.8/0.8/0.8/0.2 with p=0.8, grayscale p=0.2, optionally blur p=0.5 with a
kernel of 10% of the side). On 1-channel batches both sides skip saturation, hue and
grayscale (kornia's colour ops need RGB). Also times each op alone, and the two ways our
GaussianBlur can filter (banded matrix products vs grouped separable convolutions).

    python benchmarks/bench_image_views.py [--device cuda] [--repeats 20] [--threads N]

Prints ms per batch (median over repeats, after warm-up). Not part of the tests.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

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


def timed(function: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median milliseconds of `function` over `repeats` runs, after two warm-up runs."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(2):
        function()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, kornia {kornia.__version__ if kornia else 'missing'}, "
          f"device {device}, threads {threads}, batch {args.batch}, repeats {args.repeats} "
          f"(median ms per batch)")
    rows: list[tuple[str, str, str, float, float | None]] = []

    for channels, size in ((1, 28), (3, 32)):
        shape = f"{args.batch}x{channels}x{size}x{size}"
        x = torch.rand(args.batch, channels, size, size, device=device)
        generator = torch.Generator(device=device).manual_seed(0)

        for blur in (False, True):
            ours = simclr_views(size, blur=blur, in_channels=channels)
            ours_ms = timed(lambda ours=ours: ours(x, generator), args.repeats, device)
            theirs_ms = None
            if kornia is not None:
                pipeline = kornia_simclr(size, channels, blur).to(device)
                theirs_ms = timed(
                    lambda pipeline=pipeline: [pipeline(x) for _ in range(2)],
                    args.repeats, device,
                )
            rows.append((shape, "simclr 2 views", f"blur={blur}", ours_ms, theirs_ms))

        # Single ops, one view.
        k = blur_kernel_size(size)
        singles = {
            "crop+flip (fused)": (
                compose([RandomResizedCrop(size), RandomHorizontalFlip()]),
                lambda: torch.nn.Sequential(
                    K.RandomResizedCrop((size, size)), K.RandomHorizontalFlip()),
            ),
            "color jitter p=0.8": (
                ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8),
                lambda: K.ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8),
            ),
            "grayscale p=0.2": (RandomGrayscale(0.2), lambda: K.RandomGrayscale(p=0.2)),
            f"blur k={k} p=1": (
                GaussianBlur(k), lambda: K.RandomGaussianBlur((k, k), (0.1, 2.0), p=1.0)),
        }
        for name, (op, make_kornia) in singles.items():
            if channels == 1 and name.startswith(("color", "grayscale")):
                continue
            ours_ms = timed(lambda op=op: op(x, generator), args.repeats, device)
            theirs_ms = None
            if kornia is not None:
                module = make_kornia().to(device)
                theirs_ms = timed(lambda module=module: module(x), args.repeats, device)
            rows.append((shape, name, "", ours_ms, theirs_ms))

    print()
    print(f"{'batch':<16}{'policy / op':<22}{'settings':<12}{'ours ms':>10}{'kornia ms':>11}"
          f"{'speed-up':>10}")
    for shape, name, settings, ours_ms, theirs_ms in rows:
        theirs = f"{theirs_ms:11.2f}" if theirs_ms is not None else f"{'-':>11}"
        ratio = f"{theirs_ms / ours_ms:9.1f}x" if theirs_ms is not None else f"{'-':>10}"
        print(f"{shape:<16}{name:<22}{settings:<12}{ours_ms:10.2f}{theirs}{ratio}")

    # How GaussianBlur should filter: banded matrices vs grouped convolutions.
    print()
    print(f"{'blur, Bx3xNxN':<20}{'kernel':>8}{'matmul ms':>11}{'conv ms':>10}")
    for side in (32, 64, 96, 160, 224):
        x = torch.rand(args.batch if side <= 96 else 64, 3, side, side, device=device)
        kernel_size = blur_kernel_size(side)
        kernels = _gaussian_kernels(torch.rand(x.shape[0], device=device) * 2 + 0.1,
                                    kernel_size, x.dtype)

        def by_matmul(x=x, kernels=kernels, side=side):
            rows_matrix = _filter_matrices(kernels, side).unsqueeze(1)
            return rows_matrix @ x @ rows_matrix.transpose(-1, -2)

        matmul_ms = timed(by_matmul, max(3, args.repeats // 4), device)
        conv_ms = timed(lambda x=x, kernels=kernels: _separable_blur_conv(x, kernels, kernels),
                        max(3, args.repeats // 4), device)
        label = f"B={x.shape[0]} N={side}"
        print(f"{label:<20}{kernel_size:>8}{matmul_ms:11.2f}{conv_ms:10.2f}")


if __name__ == "__main__":
    main()
