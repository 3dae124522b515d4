"""Audio files as datasets: one file (`read_audio_file`) or a folder of clips
(`read_audio_folder`), read with soundfile and resampled with julius.

Every clip becomes mono float32 in [-1, 1] at one sample rate (16,000 Hz by default): extra
channels are averaged, other rates resampled (each with a note), integer formats scaled.

Folder layouts (`read_audio_folder`):

1. One sub-folder per class: `folder/<class>/**/*.wav`; classes are the folder names, sorted.
   Sub-folders whose names start with `_` or `.` are not classes and are left out with a note
   (Speech Commands' `_background_noise_`). File names of the Speech Commands form
   `<speaker>_nohash_<n>.wav` give speaker groups, so splits can keep speakers apart.
2. A flat folder and a CSV of labels: `labels.csv` in the folder, or `labels_file`. A header
   row is required; its columns name the file (`file`, `path` or `filename`: a path relative
   to the folder), the class (`label`, `class` or `keyword`) and optionally the speaker
   (`group` or `speaker`). Files the CSV does not name are left out with a note.
3. A flat folder of audio files without a CSV: unlabelled clips (for pre-training alone).

Files are `.wav`, `.flac` or `.ogg`; a CSV may also name files of other formats soundfile
reads. Clips are cropped to `clip_seconds` from their start (the onset of a recorded word is
kept, as in the one-second clips of Speech Commands, Warden 2018, arXiv 1804.03209) or
zero-padded at the end; `lengths` keeps each clip's
valid samples. Problems of one kind (unreadable, missing, too short, silent files) are
collected over the whole folder and raised together, before the slow decoding where the
file headers suffice. Nothing is ever written into the folder.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch

from contrastlearn.data.arrays import DataError
from contrastlearn.data.csv_rows import csv_rows
from contrastlearn.modalities.audio.features import SAMPLE_RATE

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
ANALYSIS_WINDOW = 400
"""Samples of one analysis frame (25 ms at 16 kHz): a shorter clip has no spectrogram frame."""
FILE_COLUMNS = ("file", "path", "filename")
LABEL_COLUMNS = ("label", "class", "keyword")
GROUP_COLUMNS = ("group", "speaker")
LABELS_FILE = "labels.csv"
SPEECH_COMMANDS_NAME = re.compile(r"^(?P<speaker>[0-9a-fA-F]+)_nohash_\d+$")
MAX_REDUCED_RATE = 1000
"""Largest numerator or denominator of the rate ratio julius resamples with (beyond it the
sinc kernels take gigabytes)."""
SHOWN = 5
"""How many file names a message lists before "and N more"."""
REEXPORT = "re-export it as 16-bit PCM WAV or FLAC"
REEXPORT_ALL = "re-export them as 16-bit PCM WAV or FLAC"


def read_audio_file(path: str | Path, *,
                    sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, list[str]]:
    """One audio file as a mono float32 waveform (samples,) at `sample_rate`, and notes on
    what was changed (channels downmixed, rate resampled)."""
    path = Path(path)
    _check_rate(sample_rate)
    _check_header(path)
    waveform, channels, file_rate = _decode(path, sample_rate)
    notes = []
    if channels > 1:
        notes.append(f"{path}: {channels} channels downmixed to mono")
    if file_rate != sample_rate:
        notes.append(f"{path}: resampled from {file_rate} Hz to {sample_rate} Hz")
    return waveform, notes


def read_audio_folder(path: str | Path, *, sample_rate: int = SAMPLE_RATE,
                      clip_seconds: float = 1.0, labels_file: str | Path | None = None,
                      min_rms: float = 1e-4, skip_silent: bool = False) -> dict[str, Any]:
    """The clips of a folder (layouts in the module docstring) as fixed-length arrays:
    `x` float32 (N, 1, T), `lengths` int64 (N,), `y` int64 (N,) or None, `classes`, `groups`
    int64 (N,) or None, `group_names`, `files` (relative to the folder), `sample_rate` and
    `notes`. A clip whose RMS is below `min_rms` is silent: an error, or left out with a note
    when `skip_silent`."""
    folder = Path(path)
    _check_rate(sample_rate)
    clip_samples = round(clip_seconds * sample_rate)
    if clip_samples < ANALYSIS_WINDOW:
        raise DataError(f"clip_seconds={clip_seconds} gives {clip_samples} samples at "
                        f"{sample_rate} Hz, fewer than one {ANALYSIS_WINDOW}-sample analysis "
                        "window; choose a longer clip")
    if not folder.is_dir():
        raise DataError(f"{str(folder)!r} is not a folder; give a folder of audio files (one "
                        f"sub-folder per class, or files and a {LABELS_FILE})")
    files, labels, groups, notes = _find_clips(folder, labels_file)
    _check_headers(folder, files, sample_rate)
    x = np.zeros((len(files), 1, clip_samples), dtype=np.float32)
    lengths = np.zeros(len(files), dtype=np.int64)
    energies = np.zeros(len(files), dtype=np.float64)
    channels, rates, full_lengths, unreadable = [], [], [], []
    for index, file in enumerate(files):
        try:
            waveform, count, rate = _decode(folder / file, sample_rate)
        except DataError:
            unreadable.append(file)
            continue
        kept = waveform[:clip_samples]  # cropped from the start, zero-padded at the end
        x[index, 0, :len(kept)] = kept
        lengths[index] = len(kept)
        energies[index] = np.dot(kept.astype(np.float64), kept)
        channels.append(count)
        rates.append(rate)
        full_lengths.append(len(waveform))
    _raise_if(unreadable, "cannot be decoded (damaged or truncated?)", REEXPORT_ALL, folder)
    notes += _conversion_notes(files, channels, rates, full_lengths, lengths, sample_rate,
                               clip_seconds)
    silent = np.sqrt(energies / np.maximum(lengths, 1)) < min_rms  # RMS of the kept samples
    if silent.any():
        names = [file for file, quiet in zip(files, silent) if quiet]
        if not skip_silent:
            _raise_if(names, f"are silent (RMS below min_rms={min_rms})",
                      "remove them, or pass skip_silent=True to leave them out", folder)
        notes.append(_listing(names, f"silent (RMS below min_rms={min_rms}) and left out"))
        keep = ~silent
        x, lengths = x[keep], lengths[keep]
        files = [file for file, k in zip(files, keep) if k]
        labels = None if labels is None else [label for label, k in zip(labels, keep) if k]
        groups = None if groups is None else [group for group, k in zip(groups, keep) if k]
        if not files:
            raise DataError(f"{str(folder)!r}: every clip is silent; nothing is left to read")
    classes, codes = _codes(labels)
    group_names, group_codes = _codes(groups)
    return {"x": x, "lengths": lengths, "y": codes, "classes": classes, "groups": group_codes,
            "group_names": group_names if groups is not None else None, "files": files,
            "sample_rate": sample_rate, "notes": notes}


# ---- finding the clips ---------------------------------------------------------------------


def _find_clips(folder: Path, labels_file: str | Path | None
                ) -> tuple[list[str], list[str] | None, list[str] | None, list[str]]:
    """Files (relative posix paths), their labels and groups (or None), and notes."""
    csv_path = Path(labels_file) if labels_file is not None else folder / LABELS_FILE
    if labels_file is not None and not csv_path.is_file():
        raise DataError(f"labels_file {str(csv_path)!r} does not exist")
    if csv_path.is_file():
        return _csv_layout(folder, csv_path)
    return _folder_layout(folder)


def _is_hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def _audio_files(folder: Path, recursive: bool) -> list[Path]:
    """Audio files under `folder` (hidden names left out), sorted."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(path for path in found
                  if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file()
                  and not any(part.startswith(".") for part in path.relative_to(folder).parts))


def _folder_layout(folder: Path) -> tuple[list[str], list[str] | None, None | list[str],
                                          list[str]]:
    top_files = _audio_files(folder, recursive=False)
    sub_folders = sorted(entry for entry in folder.iterdir() if entry.is_dir())
    class_folders = [entry for entry in sub_folders if not _is_hidden(entry.name)]
    class_files = {entry.name: _audio_files(entry, recursive=True) for entry in class_folders}
    class_files = {name: found for name, found in class_files.items() if found}
    notes = [f"left out the folder {entry.name!r} (names starting with '_' or '.' are not "
             "classes)" for entry in sub_folders
             if _is_hidden(entry.name) and _audio_files(entry, recursive=True)]
    if class_files and top_files:
        _raise_if([path.name for path in top_files],
                  "lie beside class sub-folders, so they have no class",
                  f"move them into a class folder, or list every file with its label in a "
                  f"{LABELS_FILE}", folder)
    if class_files:
        files, labels = [], []
        for name, found in class_files.items():
            files += [path.relative_to(folder).as_posix() for path in found]
            labels += [name] * len(found)
        groups, group_note = _speech_commands_speakers(files)
        return files, labels, groups, notes + group_note
    if top_files:
        notes.append(f"no class sub-folders and no {LABELS_FILE}: the clips have no labels")
        return [path.name for path in top_files], None, None, notes
    raise DataError(
        f"{str(folder)!r} holds no audio files ({', '.join(AUDIO_SUFFIXES)}). Accepted layouts: "
        "one sub-folder per class (folder/<class>/*.wav); a flat folder with a "
        f"{LABELS_FILE} whose header names the columns file,label[,group]; or a flat folder of "
        "unlabelled clips")


def _speech_commands_speakers(files: list[str]) -> tuple[list[str] | None, list[str]]:
    """Speaker ids of Speech Commands file names (`<speaker>_nohash_<n>`), when every file
    has one."""
    matches = [SPEECH_COMMANDS_NAME.match(Path(file).stem) for file in files]
    if not all(matches):
        return None, []
    speakers = [match["speaker"].lower() for match in matches]
    return speakers, [f"speaker groups from the Speech Commands file names "
                      f"(<speaker>_nohash_<n>): {len(set(speakers))} speakers"]


def _csv_layout(folder: Path, csv_path: Path
                ) -> tuple[list[str], list[str] | None, list[str] | None, list[str]]:
    rows = csv_rows(csv_path, "is empty; write a header (file,label[,group]) and one row per "
                    "audio file")
    header = [cell.strip().lower() for cell in rows[0][1]]
    file_column = _column(header, FILE_COLUMNS, csv_path, required=True)
    label_column = _column(header, LABEL_COLUMNS, csv_path)
    group_column = _column(header, GROUP_COLUMNS, csv_path)
    if label_column is None and group_column is None:
        raise DataError(f"{str(csv_path)!r}: the header {rows[0][1]} names no label column "
                        f"({'/'.join(LABEL_COLUMNS)}) nor group column "
                        f"({'/'.join(GROUP_COLUMNS)}); write a header such as file,label")
    files, labels, groups, empty, seen, duplicates = [], [], [], [], set(), []
    for line, cells in rows[1:]:
        values = [cells[column].strip() if column is not None and column < len(cells) else ""
                  for column in (file_column, label_column, group_column)]
        wanted = [True, label_column is not None, group_column is not None]
        if any(need and not value for need, value in zip(wanted, values)):
            empty.append(f"line {line}")
            continue
        file = Path(values[0]).as_posix()
        if file in seen:
            duplicates.append(file)
        seen.add(file)
        files.append(file)
        labels.append(values[1])
        groups.append(values[2])
    _raise_if(empty, "have an empty cell", "give every row a file"
              + (", a label" if label_column is not None else "")
              + (", a group" if group_column is not None else ""), csv_path, kind="rows")
    _raise_if(duplicates, "are named more than once", "keep one row per file", csv_path)
    if not files:
        raise DataError(f"{str(csv_path)!r} has a header but no rows; add one row per file")
    missing = [file for file in files if not (folder / file).is_file()]
    _raise_if(missing, f"are named in {csv_path.name} but do not exist",
              "fix the paths (relative to the folder) or remove those rows", folder)
    listed = {(folder / file).resolve() for file in files}
    unlisted = [path.relative_to(folder).as_posix() for path in _audio_files(folder, True)
                if path.resolve() not in listed]
    notes = [_listing(unlisted, f"not in {csv_path.name} and left out")] if unlisted else []
    return (files, labels if label_column is not None else None,
            groups if group_column is not None else None, notes)


def _column(header: list[str], names: Sequence[str], path: Path,
            required: bool = False) -> int | None:
    found = [index for index, name in enumerate(header) if name in names]
    if len(found) > 1:
        raise DataError(f"{str(path)!r}: the header has more than one of the columns "
                        f"{'/'.join(names)}; keep one")
    if not found and required:
        raise DataError(f"{str(path)!r}: the header {header} has no {'/'.join(names)} column; "
                        "the first row must name the columns, such as file,label[,group]")
    return found[0] if found else None


# ---- reading -------------------------------------------------------------------------------


def _check_rate(sample_rate: int) -> None:
    if not isinstance(sample_rate, int) or sample_rate <= 0:
        raise DataError(f"sample_rate must be a positive whole number of Hz, not {sample_rate!r}")


HEADER_PROBLEMS = {
    "missing": ("does not exist", "do not exist"),
    "empty": ("is empty (0 bytes)", "are empty (0 bytes)"),
    "unreadable": ("is not audio soundfile can read", "are not audio soundfile can read"),
    "no_samples": ("holds no samples", "hold no samples"),
}
"""What can be wrong with a file before decoding it: (one file, several files)."""


def _header_problem(path: Path) -> tuple[str, str, Any]:
    """(a HEADER_PROBLEMS key or "", soundfile's own words, soundfile's info or None)."""
    if not path.is_file():
        return "missing", "", None
    if path.stat().st_size == 0:
        return "empty", "", None
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, TypeError, ValueError) as error:
        return "unreadable", str(error).strip(), None
    if info.frames <= 0:
        return "no_samples", "", info
    return "", "", info


def _check_header(path: Path) -> None:
    problem, detail, _ = _header_problem(path)
    if problem:
        said = f" ({detail})" if detail else ""
        raise DataError(f"{str(path)!r} {HEADER_PROBLEMS[problem][0]}{said}; {REEXPORT}")


def _check_headers(folder: Path, files: list[str], sample_rate: int) -> None:
    """Raise, for all files at once, the problems their headers show: unreadable, empty, or
    shorter than one analysis window once resampled."""
    problems: dict[str, list[str]] = {}
    short = []
    for file in files:
        problem, _, info = _header_problem(folder / file)
        if problem:
            problems.setdefault(problem, []).append(file)
        elif _resampled_length(info.frames, info.samplerate, sample_rate) < ANALYSIS_WINDOW:
            short.append(file)
    for problem, names in problems.items():
        _raise_if(names, HEADER_PROBLEMS[problem][1], REEXPORT_ALL, folder)
    _raise_if(short, f"are shorter than one {ANALYSIS_WINDOW}-sample analysis window at "
                     f"{sample_rate} Hz ({1000 * ANALYSIS_WINDOW / sample_rate:g} ms)",
              "remove them or record longer clips", folder)


def _resampled_length(frames: int, file_rate: int, sample_rate: int) -> int:
    """Samples after resampling (julius' default output length)."""
    return frames if file_rate == sample_rate else int(sample_rate * frames / file_rate)


def _decode(path: Path, sample_rate: int) -> tuple[np.ndarray, int, int]:
    """(mono float32 waveform at `sample_rate`, channels, the file's rate)."""
    try:
        data, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, TypeError, ValueError) as error:
        raise DataError(f"cannot read {str(path)!r} as audio ({str(error).strip()}); "
                        f"{REEXPORT}") from None
    if data.shape[0] == 0:
        raise DataError(f"{str(path)!r} holds no samples; {REEXPORT}")
    if not np.isfinite(data).all():
        raise DataError(f"{str(path)!r} holds NaN or infinite samples; {REEXPORT}")
    channels = data.shape[1]
    waveform = data.mean(axis=1, dtype=np.float32) if channels > 1 else data[:, 0]
    if file_rate != sample_rate:
        waveform = _resample(waveform, file_rate, sample_rate, path)
    return np.ascontiguousarray(waveform, dtype=np.float32), channels, file_rate


def _resample(waveform: np.ndarray, file_rate: int, sample_rate: int, path: Path) -> np.ndarray:
    common = math.gcd(file_rate, sample_rate)
    if max(file_rate, sample_rate) // common > MAX_REDUCED_RATE:
        raise DataError(f"{str(path)!r} has the unusual sample rate {file_rate} Hz, which cannot "
                        f"be resampled exactly to {sample_rate} Hz; re-export it at a standard "
                        "rate (8000, 16000, 22050, 44100 or 48000 Hz)")
    with torch.no_grad():
        return resampler(file_rate, sample_rate)(torch.from_numpy(waveform)).numpy()


@functools.lru_cache(maxsize=16)
def resampler(file_rate: int, sample_rate: int) -> torch.nn.Module:
    """A julius resampler from `file_rate` to `sample_rate`, built once per pair of rates
    (its sinc kernels cost far more than applying them)."""
    import julius

    return julius.ResampleFrac(file_rate, sample_rate)


# ---- results -------------------------------------------------------------------------------


def _conversion_notes(files: list[str], channels: list[int], rates: list[int],
                      full_lengths: list[int], lengths: np.ndarray, sample_rate: int,
                      clip_seconds: float) -> list[str]:
    """One note per kind of change made to the clips (downmixed, resampled, cropped)."""
    notes = []
    for count in sorted(set(channels) - {1}):
        names = [file for file, found in zip(files, channels) if found == count]
        notes.append(_listing(names, f"{count} channels downmixed to mono"))
    for rate in sorted(set(rates) - {sample_rate}):
        names = [file for file, found in zip(files, rates) if found == rate]
        notes.append(_listing(names, f"resampled from {rate} Hz to {sample_rate} Hz"))
    cropped = [file for file, full, length in zip(files, full_lengths, lengths)
               if full > length]
    if cropped:
        notes.append(_listing(cropped, f"longer than {clip_seconds:g} s and cropped to their "
                                       f"first {clip_seconds:g} s"))
    return notes


def _codes(values: list[str] | None) -> tuple[list[str], np.ndarray | None]:
    """Sorted distinct values (numbers in numeric order) and each value's code, int64."""
    if values is None:
        return [], None
    names = sorted(set(values), key=_natural_key)
    index = {name: code for code, name in enumerate(names)}
    return names, np.asarray([index[value] for value in values], dtype=np.int64)


def _natural_key(name: str) -> tuple[int, float, str]:
    try:
        return 0, float(name), name
    except ValueError:
        return 1, 0.0, name


# ---- messages ------------------------------------------------------------------------------


def _first_few(names: Sequence[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def _listing(names: Sequence[str], what: str) -> str:
    return f"{len(names)} file{'s' if len(names) != 1 else ''} {what}: {_first_few(names)}"


def _raise_if(names: Iterable[str], problem: str, fix: str, where: Path,
              kind: str = "files") -> None:
    """A DataError naming the first few `names` that have `problem`, how many in all, and the
    `fix`."""
    names = list(names)
    if names:
        raise DataError(f"{str(where)!r}: {kind} that {problem}: {_first_few(names)} "
                        f"({len(names)} in all); {fix}")
