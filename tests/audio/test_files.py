"""Reading user audio: one file, and folders in each layout, with every bad-input path."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from contrastlearn.data.arrays import DataError
from contrastlearn.modalities.audio import files as audio_files
from contrastlearn.modalities.audio.files import read_audio_file, read_audio_folder

pytestmark = pytest.mark.usefixtures("one_thread")

RATE = 16_000


def tone(seconds: float, rate: int = RATE, frequency: float = 440.0, amplitude: float = 0.5,
         channels: int = 1) -> np.ndarray:
    time = np.arange(round(seconds * rate)) / rate
    wave = (amplitude * np.sin(2 * np.pi * frequency * time)).astype(np.float32)
    return wave if channels == 1 else np.stack([wave * (c + 1) / channels
                                                for c in range(channels)], axis=1)


def write(path, data, rate=RATE, subtype="PCM_16"):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), data, rate, subtype=subtype)
    return path


def snapshot(folder):
    return sorted((str(path.relative_to(folder)), path.stat().st_size, path.stat().st_mtime_ns)
                  for path in folder.rglob("*"))


def dominant_frequency(wave: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[np.argmax(spectrum)])


# ---- one file ------------------------------------------------------------------------------


def test_int16_and_float_files_read_as_float_in_unit_range(tmp_path):
    samples = np.array([0, 16384, -16384, 32767, -32768] * 100, dtype=np.int16)
    write(tmp_path / "int.wav", samples)
    wave, notes = read_audio_file(tmp_path / "int.wav")
    assert wave.dtype == np.float32 and wave.shape == (500,) and notes == []
    np.testing.assert_allclose(wave[:5], samples[:5] / 32768.0)
    floats = tone(0.1, amplitude=0.25)
    write(tmp_path / "float.wav", floats, subtype="FLOAT")
    wave, _ = read_audio_file(tmp_path / "float.wav")
    np.testing.assert_array_equal(wave, floats)


def test_stereo_is_downmixed_with_a_note(tmp_path):
    stereo = tone(0.2, channels=2)
    write(tmp_path / "stereo.flac", stereo)
    wave, notes = read_audio_file(tmp_path / "stereo.flac")
    np.testing.assert_allclose(wave, stereo.mean(axis=1), atol=2 / 32768)
    assert notes == [f"{tmp_path / 'stereo.flac'}: 2 channels downmixed to mono"]


@pytest.mark.parametrize("rate", [44_100, 8_000])
def test_other_rates_are_resampled_with_a_note(tmp_path, rate):
    write(tmp_path / "clip.wav", tone(0.5, rate=rate), rate=rate)
    wave, notes = read_audio_file(tmp_path / "clip.wav")
    assert len(wave) == int(RATE * round(0.5 * rate) / rate) == 8000
    assert notes == [f"{tmp_path / 'clip.wav'}: resampled from {rate} Hz to {RATE} Hz"]
    assert dominant_frequency(wave, RATE) == pytest.approx(440, abs=3)
    assert np.abs(wave).max() == pytest.approx(0.5, abs=0.02)


def test_a_custom_sample_rate(tmp_path):
    write(tmp_path / "clip.wav", tone(0.5))
    wave, notes = read_audio_file(tmp_path / "clip.wav", sample_rate=8000)
    assert len(wave) == 4000 and "to 8000 Hz" in notes[0]
    with pytest.raises(DataError, match="sample_rate"):
        read_audio_file(tmp_path / "clip.wav", sample_rate=0)


def test_unusual_rate_is_refused_with_a_fix(tmp_path):
    write(tmp_path / "odd.wav", tone(0.1, rate=22_051), rate=22_051)
    with pytest.raises(DataError, match=r"odd\.wav.*unusual sample rate 22051 Hz.*re-export"):
        read_audio_file(tmp_path / "odd.wav")


def test_corrupt_empty_and_sampleless_files_are_named(tmp_path):
    (tmp_path / "noise.wav").write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(DataError, match=r"noise\.wav.*not audio.*re-export it as 16-bit PCM"):
        read_audio_file(tmp_path / "noise.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.wav.*empty \(0 bytes\)"):
        read_audio_file(tmp_path / "empty.wav")
    write(tmp_path / "none.wav", np.zeros(0, dtype=np.int16))
    with pytest.raises(DataError, match=r"none\.wav.*holds no samples"):
        read_audio_file(tmp_path / "none.wav")
    with pytest.raises(DataError, match=r"missing\.wav.*does not exist"):
        read_audio_file(tmp_path / "missing.wav")


# ---- class sub-folders ---------------------------------------------------------------------


def test_class_folders_give_sorted_classes_and_padded_clips(tmp_path):
    write(tmp_path / "yes" / "a.wav", tone(0.5, frequency=300))
    write(tmp_path / "no" / "b.flac", tone(0.25, frequency=500))
    write(tmp_path / "no" / "deeper" / "c.wav", tone(0.75, frequency=700))
    write(tmp_path / "_background_noise_" / "noise.wav", tone(2.0))
    data = read_audio_folder(tmp_path)
    assert data["classes"] == ["no", "yes"]
    assert data["files"] == ["no/b.flac", "no/deeper/c.wav", "yes/a.wav"]
    np.testing.assert_array_equal(data["y"], [0, 0, 1])
    assert data["x"].shape == (3, 1, RATE) and data["x"].dtype == np.float32
    assert data["lengths"].dtype == np.int64 and data["y"].dtype == np.int64
    np.testing.assert_array_equal(data["lengths"], [4000, 12000, 8000])
    for row, length in enumerate(data["lengths"]):
        assert np.all(data["x"][row, 0, length:] == 0)
        assert np.abs(data["x"][row, 0, :length]).max() > 0.4
    np.testing.assert_allclose(data["x"][2, 0, :8000], tone(0.5, frequency=300), atol=1e-4)
    assert data["groups"] is None and data["group_names"] is None
    assert data["sample_rate"] == RATE
    assert any("_background_noise_" in note for note in data["notes"])


def test_long_clips_are_cropped_from_their_start(tmp_path):
    long = tone(1.5)
    long[RATE:] = 0.9  # what lies after the first second must be gone
    write(tmp_path / "long" / "a.wav", long, subtype="FLOAT")
    data = read_audio_folder(tmp_path)
    assert data["lengths"].tolist() == [RATE]
    np.testing.assert_array_equal(data["x"][0, 0], long[:RATE])
    assert any("1 file longer than 1 s and cropped" in note for note in data["notes"])
    shorter = read_audio_folder(tmp_path, clip_seconds=0.5)
    assert shorter["x"].shape == (1, 1, 8000)


def test_folder_notes_downmix_and_resampling_once_per_kind(tmp_path):
    write(tmp_path / "a" / "stereo1.wav", tone(0.5, channels=2))
    write(tmp_path / "a" / "stereo2.wav", tone(0.5, channels=2))
    write(tmp_path / "b" / "fast.wav", tone(0.5, rate=44_100), rate=44_100)
    write(tmp_path / "b" / "slow.flac", tone(0.5, rate=8_000), rate=8_000)
    data = read_audio_folder(tmp_path)
    assert "2 files 2 channels downmixed to mono: a/stereo1.wav, a/stereo2.wav" in data["notes"]
    assert "1 file resampled from 44100 Hz to 16000 Hz: b/fast.wav" in data["notes"]
    assert "1 file resampled from 8000 Hz to 16000 Hz: b/slow.flac" in data["notes"]
    np.testing.assert_array_equal(data["lengths"], [8000] * 4)
    assert dominant_frequency(data["x"][2, 0, :8000], RATE) == pytest.approx(440, abs=3)


def test_speech_commands_names_give_speaker_groups(tmp_path):
    write(tmp_path / "yes" / "0a7c2a8d_nohash_0.wav", tone(0.5))
    write(tmp_path / "yes" / "0b09edd3_nohash_1.wav", tone(0.5))
    write(tmp_path / "no" / "0a7c2a8d_nohash_1.wav", tone(0.5))
    data = read_audio_folder(tmp_path)
    assert data["group_names"] == ["0a7c2a8d", "0b09edd3"]
    np.testing.assert_array_equal(data["groups"], [0, 0, 1])


def test_files_beside_class_folders_are_refused(tmp_path):
    write(tmp_path / "yes" / "a.wav", tone(0.5))
    write(tmp_path / "stray.wav", tone(0.5))
    with pytest.raises(DataError, match=r"files that lie beside class sub-folders.*: "
                                        r"stray\.wav \(1 in all\); move"):
        read_audio_folder(tmp_path)


def test_flat_folder_without_labels_is_unlabelled(tmp_path):
    write(tmp_path / "b.wav", tone(0.5))
    write(tmp_path / "a.wav", tone(0.5))
    data = read_audio_folder(tmp_path)
    assert data["files"] == ["a.wav", "b.wav"] and data["y"] is None and data["classes"] == []
    assert any("no labels" in note for note in data["notes"])


# ---- flat folder + CSV ---------------------------------------------------------------------


def test_csv_labels_and_groups(tmp_path):
    for name in ("one.wav", "two.wav", "sub/three.flac", "extra.wav"):
        write(tmp_path / name, tone(0.5))
    (tmp_path / "labels.csv").write_text(
        "Filename,Keyword,Speaker\none.wav,yes,bob\ntwo.wav,no,alice\nsub/three.flac,yes,alice\n")
    data = read_audio_folder(tmp_path)
    assert data["files"] == ["one.wav", "two.wav", "sub/three.flac"]
    assert data["classes"] == ["no", "yes"]
    np.testing.assert_array_equal(data["y"], [1, 0, 1])
    assert data["group_names"] == ["alice", "bob"]
    np.testing.assert_array_equal(data["groups"], [1, 0, 0])
    assert data["groups"].dtype == np.int64
    assert data["notes"] == ["1 file not in labels.csv and left out: extra.wav"]


def test_labels_file_outside_the_folder(tmp_path):
    audio = tmp_path / "audio"
    write(audio / "a.wav", tone(0.5))
    write(audio / "b.wav", tone(0.5))
    labels = tmp_path / "my_labels.csv"
    labels.write_text("path,class\nb.wav,2\na.wav,10\n")
    data = read_audio_folder(audio, labels_file=labels)
    assert data["classes"] == ["2", "10"]  # numbers in numeric order
    np.testing.assert_array_equal(data["y"], [0, 1])
    assert data["groups"] is None
    with pytest.raises(DataError, match="labels_file .* does not exist"):
        read_audio_folder(audio, labels_file=tmp_path / "nope.csv")


def test_csv_naming_missing_files_is_refused_before_decoding(tmp_path, monkeypatch):
    write(tmp_path / "a.wav", tone(0.5))
    (tmp_path / "labels.csv").write_text("file,label\na.wav,x\nb.wav,y\nc.wav,y\n")
    monkeypatch.setattr(audio_files, "_decode", lambda *args: pytest.fail("decoded"))
    with pytest.raises(DataError, match=r"files that are named in labels\.csv but do not "
                                        r"exist: b\.wav, c\.wav \(2 in all\)"):
        read_audio_folder(tmp_path)


@pytest.mark.parametrize(("text", "message"), [
    ("name,label\na.wav,x\n", "no file/path/filename column"),
    ("file,label\n", "no rows"),
    ("file,label\na.wav,\n", "rows that have an empty cell: line 2"),
    ("file,label\na.wav,x\na.wav,y\n", "more than once"),
    ("file,label,class\na.wav,x,y\n", "more than one of the columns"),
    ("file,other\na.wav,x\n", "no label column"),
    ("", "is empty"),
])
def test_bad_csv_files(tmp_path, text, message):
    write(tmp_path / "a.wav", tone(0.5))
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        read_audio_folder(tmp_path)


# ---- bad clips -----------------------------------------------------------------------------


def test_problems_of_one_kind_are_collected_before_decoding(tmp_path, monkeypatch):
    write(tmp_path / "yes" / "good.wav", tone(0.5))
    for index in range(7):
        (tmp_path / "yes" / f"bad{index}.wav").write_bytes(b"RIFF not really a wave file")
    monkeypatch.setattr(audio_files, "_decode", lambda *args: pytest.fail("decoded"))
    with pytest.raises(DataError, match=r"files that are not audio soundfile can read: "
                                        r"yes/bad0\.wav.*bad4\.wav and 2 more \(7 in all\); "
                                        "re-export them"):
        read_audio_folder(tmp_path)


def test_empty_file_in_a_folder(tmp_path):
    write(tmp_path / "yes" / "good.wav", tone(0.5))
    (tmp_path / "yes" / "zero.wav").write_bytes(b"")
    with pytest.raises(DataError, match=r"files that are empty \(0 bytes\): yes/zero\.wav"):
        read_audio_folder(tmp_path)


def test_silent_clips_are_an_error_or_skipped(tmp_path):
    write(tmp_path / "yes" / "loud.wav", tone(0.5))
    write(tmp_path / "no" / "quiet.wav", tone(0.5, amplitude=1e-5), subtype="FLOAT")
    write(tmp_path / "no" / "zeros.wav", np.zeros(8000, dtype=np.int16))
    with pytest.raises(DataError, match=r"files that are silent.*: no/quiet\.wav, no/zeros\.wav "
                                        r"\(2 in all\); .*skip_silent=True"):
        read_audio_folder(tmp_path)
    data = read_audio_folder(tmp_path, skip_silent=True)
    assert data["files"] == ["yes/loud.wav"] and data["classes"] == ["yes"]
    assert data["x"].shape == (1, 1, RATE) and data["y"].tolist() == [0]
    assert any("2 files silent" in note and "no/zeros.wav" in note for note in data["notes"])
    assert read_audio_folder(tmp_path, min_rms=1e-6, skip_silent=True)["files"] == [
        "no/quiet.wav", "yes/loud.wav"]


def test_clips_shorter_than_one_window_are_refused(tmp_path, monkeypatch):
    write(tmp_path / "yes" / "good.wav", tone(0.5))
    write(tmp_path / "yes" / "blip.wav", tone(300 / RATE))
    write(tmp_path / "yes" / "upsampled.wav", tone(250 / 8000, rate=8000), rate=8000)  # 500
    monkeypatch.setattr(audio_files, "_decode", lambda *args: pytest.fail("decoded"))
    with pytest.raises(DataError, match=r"files that are shorter than one 400-sample analysis"
                                        r" window.*25 ms\): yes/blip\.wav \(1 in all\)"):
        read_audio_folder(tmp_path)


def test_folders_without_audio(tmp_path):
    (tmp_path / "notes.txt").write_text("no audio here")
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(DataError, match="holds no audio files.*one sub-folder per class.*labels"
                                        r"\.csv"):
        read_audio_folder(tmp_path)
    with pytest.raises(DataError, match="is not a folder"):
        read_audio_folder(tmp_path / "missing")
    with pytest.raises(DataError, match="fewer than one 400-sample"):
        read_audio_folder(tmp_path, clip_seconds=0.01)


def test_reading_never_writes_into_the_folder(tmp_path):
    write(tmp_path / "classes" / "yes" / "a.wav", tone(0.5, channels=2))
    write(tmp_path / "classes" / "no" / "b.wav", tone(0.5, rate=44_100), rate=44_100)
    write(tmp_path / "flat" / "a.flac", tone(1.5))
    write(tmp_path / "flat" / "b.wav", tone(0.5))
    (tmp_path / "flat" / "labels.csv").write_text("file,label,group\na.flac,x,1\nb.wav,y,2\n")
    before = snapshot(tmp_path)
    read_audio_folder(tmp_path / "classes")
    read_audio_folder(tmp_path / "flat")
    read_audio_file(tmp_path / "classes" / "yes" / "a.wav")
    assert snapshot(tmp_path) == before
