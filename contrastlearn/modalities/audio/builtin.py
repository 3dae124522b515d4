"""Built-in audio data, made on this machine: `spoken-words`, the 35 keywords of Speech
Commands V2 (Warden 2018, arXiv 1804.03209) spoken by espeak-ng's synthetic voices at several
speeds and pitches (see `spoken_words`), split by voice so test voices are never heard in
training."""

from __future__ import annotations

from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import DataError, DatasetSplits
from contrastlearn.modalities.audio.data import audio_splits
from contrastlearn.modalities.audio.features import SAMPLE_RATE
from contrastlearn.modalities.audio.spoken_words import (
    DEFAULT_VOICES,
    load_spoken_words_arrays,
    spoken_words_available,
)


def chosen_voices(voices: int | list[str] | None) -> list[str] | None:
    """Voice names: as given, or `voices` of the default ones evenly spread over the list
    (which cycles through accents and variants), or None for all of them."""
    if voices is None or not isinstance(voices, int):
        return voices
    if not 2 <= voices <= len(DEFAULT_VOICES):
        raise DataError(f"spoken-words voices must be between 2 and {len(DEFAULT_VOICES)}, "
                        f"got {voices}")
    step = len(DEFAULT_VOICES) / voices
    return [DEFAULT_VOICES[int(index * step)] for index in range(voices)]


@DATASETS.register("spoken-words", modality="audio")
def load_spoken_words(holdout_fraction: float = 0.2, seed: int = 0,
                      words: list[str] | None = None, voices: int | list[str] | None = None,
                      qbe_per_class: int | None = 10, sample_rate: int = SAMPLE_RATE,
                      clip_seconds: float = 1.0) -> DatasetSplits:
    """35 keywords x 48 espeak-ng voices x 3 of 9 speed/pitch settings (5,040 1-s clips at
    16 kHz); test = whole voices held out. `words`, `voices` (names, or how many of the
    default ones) build a smaller set."""
    if (sample_rate, clip_seconds) != (SAMPLE_RATE, 1.0):
        raise DataError("spoken-words is made at 16 kHz in 1-s clips; drop data.options."
                        "sample_rate and clip_seconds (they apply to folders of your clips)")
    arrays = load_spoken_words_arrays(words=words, voices=chosen_voices(voices))
    return audio_splits(
        arrays["x"], arrays["y"], name="spoken-words", holdout_fraction=holdout_fraction,
        seed=seed, groups=arrays["groups"], lengths=arrays["lengths"],
        sample_rate=arrays["sample_rate"], classes=arrays["classes"],
        group_names=arrays["group_names"], notes=arrays["notes"], qbe_per_class=qbe_per_class)


load_spoken_words.available = spoken_words_available
