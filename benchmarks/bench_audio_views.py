"""Time the audio views on batches of 1-s 16 kHz clips: the full view stack (`audio_views`, two
views per batch) without and with a log-mel frontend (then SpecAugment masks), and every op
alone (applied to every clip, p = 1) at the stack's magnitudes.

    python benchmarks/bench_audio_views.py [--batch 128] [--threads 1] [--repeats 5] [--out F]
    python benchmarks/bench_audio_views.py --smoke   # batch 4, 1 repeat: runs?

Prints seconds per batch (median over repeats, after a warm-up) and "x real time per core" =
batch * clip seconds / (seconds per batch * threads): how many seconds of audio one core turns
into its views per second (the issue asks >= 10 for the full stack). With `--out`, one JSON line
per row. The frontend is the room's LogMel (40 bands). Not part of the tests.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from result_rows import add_smoke_option, keep_row, smoke_folder
from torch import Tensor, nn

from contrastlearn.modalities.audio.augment import (
    AdditiveNoise,
    BackgroundNoise,
    BandPass,
    BatchMixing,
    FrequencyMasking,
    Gain,
    PitchShift,
    Reverberation,
    SpeedChange,
    TimeMasking,
    TimeShift,
    ToLogMel,
    audio_views,
)
from contrastlearn.modalities.audio.features import SAMPLE_RATE, LogMel


def speech_like(batch: int, seconds: float, generator: torch.Generator) -> Tensor:
    """(batch, 1, T) clips: a few harmonics of a gliding pitch under a syllable envelope, plus
    faint noise, each ending at a random 0.5-1 of the clip and zero-padded after."""
    length = round(seconds * SAMPLE_RATE)
    time_s = torch.arange(length) / SAMPLE_RATE
    pitch = 100 + 150 * torch.rand(batch, 1, generator=generator)
    glide = 1 + 0.2 * torch.sin(2 * math.pi * 1.5 * time_s)[None, :]
    phase = 2 * math.pi * torch.cumsum(pitch * glide, dim=1) / SAMPLE_RATE
    voice = sum(torch.sin(k * phase) / k for k in range(1, 6))
    envelope = torch.sin(math.pi * 4 * time_s)[None, :].abs()
    clips = 0.3 * voice * envelope + 0.003 * torch.randn(batch, length, generator=generator)
    ends = (length * (0.5 + 0.5 * torch.rand(batch, 1, generator=generator))).long()
    clips = clips.masked_fill(torch.arange(length)[None, :] >= ends, 0.0)
    return clips[:, None].float()


def singles(frontend: nn.Module, background: Tensor) -> dict[str, Callable[[Tensor], Tensor]]:
    """Each op alone at the full stack's magnitudes; masks time ToLogMel + the mask."""
    generator = torch.Generator().manual_seed(1)
    ops = {
        "speed_change ±10%": SpeedChange(0.1),
        "pitch_shift ±2 st": PitchShift(2.0),
        "time_shift ±10%": TimeShift(0.1),
        "reverberation 0.1-0.6 s": Reverberation((0.1, 0.6)),
        "batch_mixing 10-30 dB": BatchMixing((10.0, 30.0)),
        "additive_noise 5-30 dB": AdditiveNoise((5.0, 30.0)),
        "background_noise 5-30 dB": BackgroundNoise(background, (5.0, 30.0)),
        "band_pass": BandPass(),
        "gain ±6 dB": Gain(6.0),
        "to_log_mel": ToLogMel(frontend),
    }
    timed_ops = {name: (lambda x, op=op: op(x, generator)) for name, op in ops.items()}
    to_features = ToLogMel(frontend)
    for name, mask in (("to_log_mel + frequency_masking", FrequencyMasking(2, 8)),
                       ("to_log_mel + time_masking", TimeMasking(2, 10))):
        timed_ops[name] = lambda x, mask=mask: mask(to_features(x, generator), generator)
    return timed_ops


def median_seconds(function: Callable[[], object], repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="clip length")
    parser.add_argument("--out", type=Path, default=None, help="JSON-lines file of rows")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.repeats = 4, 1
        args.out = smoke_folder() / "bench_audio_views.jsonl"
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    x = speech_like(args.batch, args.seconds, generator)
    background = 0.1 * torch.randn(6, 10 * SAMPLE_RATE, generator=generator)
    frontend, frontend_name = LogMel(sample_rate=SAMPLE_RATE, n_mels=40), "LogMel(n_mels=40)"
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, load average "
          f"{os.getloadavg()}, batch {args.batch} clips of {args.seconds} s at {SAMPLE_RATE} Hz, "
          f"repeats {args.repeats} (median), frontend {frontend_name}")

    view_generator = torch.Generator().manual_seed(2)
    waveform_views, feature_views = audio_views(), audio_views(frontend=frontend)
    rows: list[tuple[str, int, Callable[[Tensor], object]]] = [
        ("audio_views (waveform)", 2, lambda x: waveform_views(x, view_generator)),
        ("audio_views + frontend", 2, lambda x: feature_views(x, view_generator)),
    ]
    rows += [(name, 1, op) for name, op in singles(frontend, background).items()]

    audio_seconds = args.batch * args.seconds
    print()
    print(f"{'policy / op':<34}{'views':>6}{'s per batch':>13}{'x real time per core':>22}")
    for name, views, function in rows:
        seconds = median_seconds(lambda function=function: function(x), args.repeats)
        speed = audio_seconds / (seconds * args.threads)
        print(f"{name:<34}{views:>6}{seconds:13.4f}{speed:22.1f}", flush=True)
        if args.out is not None:
            keep_row(args.out, {"benchmark": "audio_views", "name": name, "views": views,
                                "batch": args.batch, "clip_seconds": args.seconds,
                                "sample_rate": SAMPLE_RATE, "frontend": frontend_name,
                                "seconds_per_batch": seconds, "x_real_time_per_core": speed,
                                "repeats": args.repeats})


if __name__ == "__main__":
    main()
