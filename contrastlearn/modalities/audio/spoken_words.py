"""`spoken-words`: a keyword-spotting set synthesised offline with eSpeak NG.

The 35 keywords of Speech Commands V2 (Warden 2018, arXiv 1804.03209) spoken by 48 voices:
the 8 English eSpeak NG languages (American, British, Scottish, Received Pronunciation,
Lancaster, West Midlands, Caribbean, New York City), each with 3 male and 3 female voice
variants. The 24 variants are spread so that each one speaks with two accents and no two
accents share more than two variants. A voice (language + variant) is one speaker: the lead's
split keeps each voice on one side. Each (voice, word) is rendered at 3 of the 9 settings
(speed 120/160/200 words per minute x pitch 30/50/70), picked by a hash of the voice and the
word, so a subset of voices or words holds exactly the clips the full set holds for them:
35 x 48 x 3 = 5,040 clips.

Each clip is espeak-ng's WAV (22,050 Hz), resampled to 16 kHz with julius, trimmed of the
silence before and after the word (10-ms frames below 1 % of the loudest frame's RMS, -40 dB,
with one frame kept on each side), then zero-padded at the end (or, rarely, cropped) to one
second. The set is cached as one compressed .npz of int16 waveforms in $CONTRASTLEARN_CACHE/audio
(default ~/.cache/contrastlearn/audio), keyed by the settings and the espeak-ng version, and
written so that a rebuild gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import soundfile
import torch

from contrastlearn.core.atomic import atomic_write
from contrastlearn.data.arrays import DataError
from contrastlearn.modalities.audio.features import SAMPLE_RATE
from contrastlearn.modalities.audio.files import resampler

logger = logging.getLogger(__name__)

ESPEAK = "espeak-ng"
ESPEAK_INSTALL = "apt-get install espeak-ng"
CACHE_ENV = "CONTRASTLEARN_CACHE"
CACHE_FORMAT = "contrastlearn-spoken-words-v1"
CLIP_SAMPLES = 16_000
KEYWORDS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four",
    "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right",
    "seven", "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero",
)
"""The 35 words of Speech Commands V2."""
DEFAULT_VOICES = (
    "en-us+m1", "en-us+m2", "en-us+m3", "en-us+f1", "en-us+f2", "en-us+f3",
    "en-gb+m4", "en-gb+m5", "en-gb+m6", "en-gb+f4", "en-gb+f5", "en-gb+Annie",
    "en-gb-scotland+m7", "en-gb-scotland+m8", "en-gb-scotland+klatt",
    "en-gb-scotland+linda", "en-gb-scotland+belinda", "en-gb-scotland+aunty",
    "en-gb-x-rp+klatt2", "en-gb-x-rp+klatt3", "en-gb-x-rp+klatt4",
    "en-gb-x-rp+shelby", "en-gb-x-rp+grandma", "en-gb-x-rp+steph",
    "en-gb-x-gbclan+m1", "en-gb-x-gbclan+m5", "en-gb-x-gbclan+klatt",
    "en-gb-x-gbclan+f1", "en-gb-x-gbclan+f5", "en-gb-x-gbclan+aunty",
    "en-gb-x-gbcwmd+m2", "en-gb-x-gbcwmd+m6", "en-gb-x-gbcwmd+klatt2",
    "en-gb-x-gbcwmd+f2", "en-gb-x-gbcwmd+Annie", "en-gb-x-gbcwmd+shelby",
    "en-029+m3", "en-029+m7", "en-029+klatt3", "en-029+f3", "en-029+linda", "en-029+grandma",
    "en-us-nyc+m4", "en-us-nyc+m8", "en-us-nyc+klatt4", "en-us-nyc+f4", "en-us-nyc+belinda",
    "en-us-nyc+steph",
)
"""48 voices, language+variant. Male: m1-m8 and klatt-klatt4 (12); female: f1-f5 and the
female-pitched named variants Annie, linda, belinda, aunty, shelby, grandma, steph (12). The
first four languages take consecutive triples of each list, the last four every fourth
variant, so each variant has two accents."""
SPEEDS = (120, 160, 200)
PITCHES = (30, 50, 70)
RENDERINGS_PER_WORD = 3
"""Of the len(SPEEDS) x len(PITCHES) settings, how many each (voice, word) is spoken at."""
FRAME = 160
"""Samples of one 10-ms frame of the silence trimmer."""
TRIM_RATIO = 0.01
"""A frame is part of the word when its RMS is at least this fraction (-40 dB) of the loudest
frame's: quiet fricatives (the f of "five") stay, espeak's silence goes."""
WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
VOICE = re.compile(r"(?P<language>[A-Za-z0-9-]+)(?:\+(?P<variant>[A-Za-z0-9_-]+))?")
THREADS = 2


@dataclass(frozen=True)
class Rendering:
    """One clip to synthesise."""

    voice: str
    word: str
    speed: int
    pitch: int

    @property
    def name(self) -> str:
        return f"{self.voice}/{self.word}/s{self.speed}-p{self.pitch}"


def audio_cache_dir() -> Path:
    """$CONTRASTLEARN_CACHE/audio, or ~/.cache/contrastlearn/audio."""
    root = os.environ.get(CACHE_ENV)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "contrastlearn"
    return base / "audio"


# ---- espeak-ng -----------------------------------------------------------------------------


def espeak_version() -> str | None:
    """espeak-ng's version line ("eSpeak NG text-to-speech: 1.51"), or None when missing."""
    if shutil.which(ESPEAK) is None:
        return None
    try:
        done = subprocess.run([ESPEAK, "--version"], capture_output=True, text=True, timeout=30,
                              check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.split("Data at:")[0].strip() or None


def spoken_words_available() -> tuple[bool, str]:
    """Whether `spoken-words` can be built here, and why not (with the install command)."""
    version = espeak_version()
    if version is None:
        return False, f"espeak-ng is not installed; install it with: {ESPEAK_INSTALL}"
    return True, f"synthesised with {version}"


def _require_espeak() -> str:
    version = espeak_version()
    if version is None:
        raise DataError("spoken-words is synthesised with espeak-ng, which is not installed "
                        f"(or does not run); install it with: {ESPEAK_INSTALL}")
    return version


def _installed_voices() -> tuple[set[str], set[str]]:
    """The languages (MBROLA voices left out: they need separate voice files) and the voice
    variants espeak-ng has."""
    def listing(option: str) -> list[list[str]]:
        done = subprocess.run([ESPEAK, option], capture_output=True, text=True, timeout=30)
        return [line.split() for line in done.stdout.splitlines()[1:] if line.strip()]

    languages = {fields[1] for fields in listing("--voices")
                 if len(fields) >= 5 and not fields[4].startswith("mb/")}
    variants = {fields[4].removeprefix("!v/") for fields in listing("--voices=variant")
                if len(fields) >= 5 and fields[4].startswith("!v/")}
    return languages, variants


def _check_voices(voices: Sequence[str]) -> None:
    """Every voice is `language[+variant]` with a language and variant espeak-ng has."""
    languages, variants = _installed_voices()
    unknown = []
    for voice in voices:
        match = VOICE.fullmatch(voice)
        if (match is None or match["language"] not in languages
                or (match["variant"] is not None and match["variant"] not in variants)):
            unknown.append(voice)
    if unknown:
        raise DataError(
            f"unknown espeak-ng voices {unknown}: give language+variant with a language of "
            "`espeak-ng --voices` (MBROLA voices, file mb/..., are not supported) and a "
            "variant of `espeak-ng --voices=variant`, such as en-us+f3")


def _synthesise(rendering: Rendering) -> tuple[np.ndarray, int]:
    """One clip: int16 (CLIP_SAMPLES,) zero-padded at the end, and the word's length in
    samples before any cropping."""
    command = [ESPEAK, "-v", rendering.voice, "-s", str(rendering.speed), "-p",
               str(rendering.pitch), "--stdout", rendering.word]
    try:
        done = subprocess.run(command, capture_output=True, timeout=60)
        if done.returncode != 0 or not done.stdout:
            raise OSError(done.stderr.decode(errors="replace").strip() or "no output")
        audio, rate = soundfile.read(io.BytesIO(done.stdout), dtype="float32")
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        raise DataError(f"espeak-ng failed on {rendering.name} ({' '.join(command)}): "
                        f"{error}") from None
    with torch.no_grad():
        audio = resampler(rate, SAMPLE_RATE)(torch.from_numpy(audio)).numpy()
    start, end = _word_span(audio)
    if end <= start:
        raise DataError(f"espeak-ng gave silence for {rendering.name} ({' '.join(command)})")
    word = audio[start:end]
    clip = np.zeros(CLIP_SAMPLES, dtype=np.int16)
    kept = word[:CLIP_SAMPLES]
    clip[:len(kept)] = np.clip(np.round(kept * 32768.0), -32768, 32767).astype(np.int16)
    return clip, len(word)


def _word_span(audio: np.ndarray) -> tuple[int, int]:
    """[start, end) of the word: from the first to the last 10-ms frame whose RMS reaches
    TRIM_RATIO of the loudest frame's, widened by one frame on each side."""
    frames = len(audio) // FRAME
    if frames == 0:
        return 0, 0
    energy = np.square(audio[:frames * FRAME].reshape(frames, FRAME), dtype=np.float64)
    rms = np.sqrt(energy.mean(axis=1))
    if rms.max() <= 0:
        return 0, 0
    active = np.flatnonzero(rms >= TRIM_RATIO * rms.max())
    start = max(0, (int(active[0]) - 1) * FRAME)
    end = min(len(audio), (int(active[-1]) + 2) * FRAME)
    return start, end


# ---- the set -------------------------------------------------------------------------------


def renderings(voices: Sequence[str], words: Sequence[str]) -> list[Rendering]:
    """The clips of the set, by voice, then word, then (speed, pitch): for each (voice, word)
    the RENDERINGS_PER_WORD settings whose hash of voice, word and setting is smallest."""
    chosen = []
    for voice in voices:
        for word in words:
            settings = sorted(
                ((speed, pitch) for speed in SPEEDS for pitch in PITCHES),
                key=lambda setting: hashlib.sha256(
                    f"{voice}/{word}/{setting[0]}/{setting[1]}".encode()).hexdigest())
            chosen += [Rendering(voice, word, speed, pitch)
                       for speed, pitch in sorted(settings[:RENDERINGS_PER_WORD])]
    return chosen


def _chosen(voices: Sequence[str] | None, words: Sequence[str] | None
            ) -> tuple[list[str], list[str]]:
    """Checked voices (in the given order) and words (sorted: their order is the classes')."""
    for what, values in (("voices", voices), ("words", words)):
        if isinstance(values, str) or (values is not None and not values):
            raise DataError(f"{what} must be a non-empty list, not {values!r}")
    voices = list(DEFAULT_VOICES if voices is None else voices)
    words = sorted(KEYWORDS if words is None else words)
    for what, values in (("voices", voices), ("words", words)):
        if len(set(values)) != len(values):
            raise DataError(f"{what} {values} name some more than once; name each once")
    bad = [word for word in words if not isinstance(word, str) or not WORD.fullmatch(word)]
    if bad:
        raise DataError(f"words {bad} must be lower-case letters (an apostrophe inside is fine), "
                        "such as 'yes'")
    return voices, words


def build_spoken_words(voices: Sequence[str], words: Sequence[str], *,
                       progress: bool = True) -> dict[str, np.ndarray]:
    """Synthesise the clips of `voices` x `words` (already checked) into the cached arrays."""
    from tqdm.auto import tqdm

    version = _require_espeak()
    _check_voices(voices)
    jobs = renderings(voices, words)
    clips = np.zeros((len(jobs), CLIP_SAMPLES), dtype=np.int16)
    spoken = np.zeros(len(jobs), dtype=np.int64)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        done = pool.map(_synthesise, jobs)
        for index, (clip, length) in enumerate(tqdm(done, total=len(jobs), disable=not progress,
                                                    desc="synthesising spoken-words",
                                                    unit="clip")):
            clips[index], spoken[index] = clip, length
    voice_index = {voice: code for code, voice in enumerate(voices)}
    word_index = {word: code for code, word in enumerate(words)}
    return {
        "format": np.asarray(CACHE_FORMAT), "espeak_version": np.asarray(version),
        "waveforms": clips, "lengths": np.minimum(spoken, CLIP_SAMPLES),
        "spoken_lengths": spoken,
        "labels": np.asarray([word_index[job.word] for job in jobs], dtype=np.int64),
        "voice_ids": np.asarray([voice_index[job.voice] for job in jobs], dtype=np.int64),
        "voice_names": np.asarray(voices), "words": np.asarray(words),
        "speeds": np.asarray([job.speed for job in jobs], dtype=np.int64),
        "pitches": np.asarray([job.pitch for job in jobs], dtype=np.int64),
    }


def spoken_words_cache_path(voices: Sequence[str], words: Sequence[str], version: str,
                            cache_dir: str | Path | None = None) -> Path:
    """The cache file of this set: named by a hash of every setting and espeak-ng's version."""
    settings = {"format": CACHE_FORMAT, "voices": list(voices), "words": list(words),
                "speeds": SPEEDS, "pitches": PITCHES, "renderings": RENDERINGS_PER_WORD,
                "sample_rate": SAMPLE_RATE, "clip_samples": CLIP_SAMPLES, "frame": FRAME,
                "trim_ratio": TRIM_RATIO, "espeak": version}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]
    return Path(cache_dir or audio_cache_dir()) / f"spoken-words-{key}.npz"


def load_spoken_words_arrays(*, voices: Sequence[str] | None = None,
                             words: Sequence[str] | None = None,
                             cache_dir: str | Path | None = None,
                             progress: bool = True) -> dict[str, Any]:
    """The `spoken-words` clips in `read_audio_folder`'s format: `x` float32 (N, 1, 16000),
    `lengths`, `y` (codes of the sorted `classes`, the words), `groups` (voice ids) and
    `group_names` (the voices), `files` (voice/word/s<speed>-p<pitch>), `sample_rate`, `notes`.
    Built on first use (about a minute for the full set) and cached; `voices` and `words`
    choose a smaller set (default: DEFAULT_VOICES x KEYWORDS)."""
    voices, words = _chosen(voices, words)
    version = _require_espeak()
    path = spoken_words_cache_path(voices, words, version, cache_dir)
    arrays = _read_cache(path)
    if arrays is None:
        arrays = build_spoken_words(voices, words, progress=progress)
        _write_cache(path, arrays)
    return _as_dataset(arrays)


def _as_dataset(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    voices = [str(voice) for voice in arrays["voice_names"]]
    words = [str(word) for word in arrays["words"]]
    files = [f"{voices[voice]}/{words[label]}/s{speed}-p{pitch}" for voice, label, speed, pitch
             in zip(arrays["voice_ids"].tolist(), arrays["labels"].tolist(),
                    arrays["speeds"].tolist(), arrays["pitches"].tolist())]
    cropped = np.flatnonzero(arrays["spoken_lengths"] > arrays["lengths"])
    notes = []
    if len(cropped):
        shown = ", ".join(files[index] for index in cropped[:5])
        notes.append(f"{len(cropped)} synthesised words were longer than 1 s and cropped to "
                     f"their first second: {shown}{' ...' if len(cropped) > 5 else ''}")
    x = arrays["waveforms"].astype(np.float32)[:, None, :]
    x /= 32768.0
    return {"x": x, "lengths": arrays["lengths"].astype(np.int64),
            "y": arrays["labels"].astype(np.int64), "classes": words,
            "groups": arrays["voice_ids"].astype(np.int64), "group_names": voices,
            "files": files, "sample_rate": SAMPLE_RATE, "notes": notes}


# ---- the cache file ------------------------------------------------------------------------


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file, or None when it is missing, unreadable or of another format
    (then it is rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as error:  # noqa: BLE001 - a damaged cache file is rebuilt, never trusted
        logger.warning("ignoring the unreadable cache file %s (%s); rebuilding it", path, error)
        return None
    if str(arrays.get("format", "")) != CACHE_FORMAT:
        logger.warning("ignoring the cache file %s of another format; rebuilding it", path)
        return None
    return arrays


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    try:
        atomic_write(path, lambda file: write_npz(file, arrays))
    except OSError as error:  # a read-only cache only costs time
        logger.warning("cannot write the cache file %s (%s); continuing without it", path, error)


def write_npz(file: BinaryIO, arrays: dict[str, np.ndarray]) -> None:
    """A compressed .npz that np.load reads, with the same bytes for the same arrays
    (np.savez_compressed stamps each member with the current time)."""
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key in sorted(arrays):
            member = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            with archive.open(member, "w", force_zip64=True) as stream:
                np.lib.format.write_array(stream, np.asanyarray(arrays[key]),
                                          allow_pickle=False)
