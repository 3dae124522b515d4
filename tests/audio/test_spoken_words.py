"""The built-in `spoken-words` set: a tiny subset synthesised with espeak-ng, the cache, and the
paths that need no espeak-ng (voice choice, checks, the deterministic .npz writer)."""

from __future__ import annotations

import io
import time
import zipfile
from collections import Counter

import numpy as np
import pytest

from contrastlearn.data.arrays import DataError
from contrastlearn.modalities.audio import spoken_words as sw
from tests.conftest import require_system_data

pytestmark = pytest.mark.usefixtures("one_thread")

VOICES = ["en-us+m1", "en-gb+f4", "en-029+klatt3"]
WORDS = ["yes", "no", "five", "marvin"]


@pytest.fixture
def espeak():
    require_system_data(sw.spoken_words_available()[0], sw.ESPEAK_INSTALL)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    if not sw.spoken_words_available()[0]:
        return None
    cache = tmp_path_factory.mktemp("spoken-words-cache")
    return cache, sw.load_spoken_words_arrays(voices=VOICES, words=WORDS, cache_dir=cache,
                                              progress=False)


def test_tiny_set_shapes_and_labels(espeak, tiny):
    _, data = tiny
    count = len(VOICES) * len(WORDS) * sw.RENDERINGS_PER_WORD
    assert data["x"].shape == (count, 1, 16_000) and data["x"].dtype == np.float32
    assert data["sample_rate"] == 16_000
    assert data["classes"] == sorted(WORDS)
    assert data["group_names"] == VOICES
    for key in ("lengths", "y", "groups"):
        assert data[key].dtype == np.int64 and data[key].shape == (count,)
    assert Counter(data["y"].tolist()) == {code: len(VOICES) * 3 for code in range(len(WORDS))}
    assert len(set(data["files"])) == count
    for file, label, group in zip(data["files"], data["y"], data["groups"]):
        voice, word, _ = file.split("/")
        assert voice == VOICES[group] and word == data["classes"][label]


def test_words_lie_inside_the_clip(espeak, tiny):
    _, data = tiny
    x, lengths = data["x"][:, 0], data["lengths"]
    assert np.all(lengths >= 400) and np.all(lengths < 16_000)
    assert data["notes"] == []  # nothing cropped
    assert np.abs(x).max() <= 1.0
    for row, length in enumerate(lengths):
        assert np.all(x[row, length:] == 0)
        word = x[row, :length]
        assert np.sqrt(np.mean(word ** 2)) > 0.01
        # trimmed: the word starts within the first 20 ms and ends within the last 20 ms
        assert np.abs(word[:320]).max() > 0.01 * np.abs(word).max()
        assert np.abs(word[-320:]).max() > 0.001 * np.abs(word).max()
    # the same word at the same settings differs between voices
    by_key = {file.split("/", 1)[1]: [] for file in data["files"]}
    for file, row in zip(data["files"], x):
        by_key[file.split("/", 1)[1]].append(row)
    assert all(not np.array_equal(rows[0], rows[1]) for rows in by_key.values() if len(rows) > 1)


def test_voices_partition_the_clips(espeak, tiny):
    _, data = tiny
    per_voice = [set(np.flatnonzero(data["groups"] == group)) for group in range(len(VOICES))]
    assert sum(len(rows) for rows in per_voice) == len(data["groups"])
    assert all(len(rows) == len(WORDS) * 3 for rows in per_voice)
    for voice, rows in zip(VOICES, per_voice):
        assert {data["files"][row].split("/")[0] for row in rows} == {voice}


def test_rebuild_is_byte_identical_and_the_cache_is_used(espeak, tiny, tmp_path, monkeypatch):
    cache, data = tiny
    rebuilt = sw.load_spoken_words_arrays(voices=VOICES, words=WORDS, cache_dir=tmp_path,
                                          progress=False)
    for key in ("x", "lengths", "y", "groups"):
        np.testing.assert_array_equal(rebuilt[key], data[key])
    first, second = sorted(cache.glob("*.npz")), sorted(tmp_path.glob("*.npz"))
    assert len(first) == len(second) == 1 and first[0].name == second[0].name
    assert first[0].read_bytes() == second[0].read_bytes()
    monkeypatch.setattr(sw, "build_spoken_words", lambda *args, **kwargs: pytest.fail("built"))
    start = time.perf_counter()
    cached = sw.load_spoken_words_arrays(voices=VOICES, words=WORDS, cache_dir=cache,
                                         progress=False)
    assert time.perf_counter() - start < 2.0
    for key in ("x", "lengths", "y", "groups", "files", "classes", "group_names"):
        np.testing.assert_array_equal(cached[key], data[key])


def test_a_subset_holds_the_same_clips_as_the_larger_set(espeak, tiny, tmp_path):
    _, data = tiny
    small = sw.load_spoken_words_arrays(voices=[VOICES[1]], words=["no", "yes"],
                                        cache_dir=tmp_path, progress=False)
    rows = [data["files"].index(file) for file in small["files"]]
    np.testing.assert_array_equal(small["x"], data["x"][rows])
    assert small["classes"] == ["no", "yes"] and small["group_names"] == [VOICES[1]]


def test_damaged_cache_is_rebuilt(espeak, tmp_path):
    version = sw.espeak_version()
    path = sw.spoken_words_cache_path(["en-us+f1"], ["go"], version, tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a zip file")
    data = sw.load_spoken_words_arrays(voices=["en-us+f1"], words=["go"], cache_dir=tmp_path,
                                       progress=False)
    assert data["x"].shape == (3, 1, 16_000)
    with np.load(path) as archive:
        assert str(archive["format"]) == sw.CACHE_FORMAT
        assert str(archive["espeak_version"]) == version


def test_unknown_and_mbrola_voices_are_refused(espeak, tmp_path):
    for voice in ("en-us+nosuchvariant", "mb-us1", "xx-nowhere"):
        with pytest.raises(DataError, match="unknown espeak-ng voices.*MBROLA"):
            sw.load_spoken_words_arrays(voices=[voice], words=["go"], cache_dir=tmp_path,
                                        progress=False)
    assert list(tmp_path.iterdir()) == []


def test_default_voices_exist_in_espeak(espeak):
    sw._check_voices(sw.DEFAULT_VOICES)


# ---- without espeak-ng ---------------------------------------------------------------------


def test_missing_espeak_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(sw.shutil, "which", lambda name: None)
    available, message = sw.spoken_words_available()
    assert not available and "apt-get install espeak-ng" in message
    with pytest.raises(DataError, match="apt-get install espeak-ng"):
        sw.load_spoken_words_arrays(voices=VOICES, words=WORDS, cache_dir=tmp_path)


@pytest.mark.parametrize(("voices", "words", "message"), [
    (None, ["-v"], "lower-case letters"),
    (None, ["Yes"], "lower-case letters"),
    (None, [], "non-empty list"),
    (["en-us+m1", "en-us+m1"], None, "more than once"),
    ("en-us+m1", None, "non-empty list"),
])
def test_bad_choices_are_refused(voices, words, message, tmp_path):
    with pytest.raises(DataError, match=message):
        sw.load_spoken_words_arrays(voices=voices, words=words, cache_dir=tmp_path)


def test_default_set_has_48_voices_with_every_variant_in_two_accents():
    assert len(sw.DEFAULT_VOICES) == len(set(sw.DEFAULT_VOICES)) == 48
    languages = Counter(voice.split("+")[0] for voice in sw.DEFAULT_VOICES)
    variants = Counter(voice.split("+")[1] for voice in sw.DEFAULT_VOICES)
    assert len(languages) == 8 and set(languages.values()) == {6}
    assert len(variants) == 24 and set(variants.values()) == {2}
    sets = {language: {voice.split("+")[1] for voice in sw.DEFAULT_VOICES
                       if voice.startswith(language + "+")} for language in languages}
    assert max(len(sets[a] & sets[b]) for a in sets for b in sets if a != b) <= 2
    assert len(sw.renderings(sw.DEFAULT_VOICES, sw.KEYWORDS)) == 5040


def test_renderings_pick_distinct_settings_per_voice_and_word():
    chosen = sw.renderings(VOICES, WORDS)
    assert len(chosen) == len(VOICES) * len(WORDS) * sw.RENDERINGS_PER_WORD
    by_pair = {}
    for rendering in chosen:
        assert rendering.speed in sw.SPEEDS and rendering.pitch in sw.PITCHES
        by_pair.setdefault((rendering.voice, rendering.word), []).append(
            (rendering.speed, rendering.pitch))
    assert all(len(set(settings)) == 3 for settings in by_pair.values())
    assert len({tuple(settings) for settings in by_pair.values()}) > 1  # not one fixed choice
    assert sw.renderings(VOICES[:1], WORDS[:1]) == chosen[:3]  # a subset picks the same


def test_word_span_trims_silence_to_within_one_frame():
    audio = np.zeros(8000, dtype=np.float32)
    audio[1000:5000] = np.sin(np.arange(4000) * 0.3)
    audio[5000:5200] = 0.02 * np.sin(np.arange(200) * 2.0)  # a quiet tail above -40 dB
    start, end = sw._word_span(audio)
    assert 1000 - 2 * sw.FRAME <= start <= 1000
    assert 5200 <= end <= 5200 + 2 * sw.FRAME
    assert sw._word_span(np.zeros(8000, dtype=np.float32)) == (0, 0)


def test_npz_writer_is_deterministic_and_readable(tmp_path):
    arrays = {"b": np.arange(10, dtype=np.int16), "a": np.asarray(["x", "yz"]),
              "format": np.asarray("v1")}
    first, second = io.BytesIO(), io.BytesIO()
    sw.write_npz(first, arrays)
    sw.write_npz(second, arrays)
    assert first.getvalue() == second.getvalue()
    with zipfile.ZipFile(first) as archive:  # np.savez would stamp the current time
        assert {member.date_time for member in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    (tmp_path / "a.npz").write_bytes(first.getvalue())
    with np.load(tmp_path / "a.npz", allow_pickle=False) as archive:
        assert sorted(archive.files) == ["a", "b", "format"]
        np.testing.assert_array_equal(archive["b"], arrays["b"])
        assert archive["a"].tolist() == ["x", "yz"] and str(archive["format"]) == "v1"


def test_cache_path_follows_settings_and_version(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTRASTLEARN_CACHE", str(tmp_path))
    path = sw.spoken_words_cache_path(VOICES, WORDS, "1.51")
    assert path.parent == tmp_path / "audio" and path.suffix == ".npz"
    assert sw.spoken_words_cache_path(VOICES, WORDS, "1.52") != path
    assert sw.spoken_words_cache_path(VOICES[:2], WORDS, "1.51") != path
    assert sw.spoken_words_cache_path(VOICES, WORDS, "1.51") == path
