"""The audio room end to end: the built-in spoken-words set and a user's folder of WAV files
through `pretrain` (views, encoder, method, protocols, query by example, report), and a
supervised-contrast run that beats its own untrained encoder on voices it never heard."""

import json

import numpy as np
import pytest
import soundfile

import contrastlearn
from contrastlearn import api
from contrastlearn.modalities.audio.spoken_words import spoken_words_available
from tests.conftest import require_system_data
from tests.learning import assert_learned, untrained_score

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"data.options.words": ["up", "down", "left", "right"], "data.options.voices": 6,
        "train.batch_size": 16, "eval.few_label_seeds": [0], "eval.labels_per_class": [1]}


@pytest.fixture
def espeak():
    require_system_data(*spoken_words_available())


@pytest.fixture
def no_html_report(monkeypatch):
    """No report.html (tests/report covers it); the views picture is still drawn."""
    monkeypatch.setattr(api, "write_report", lambda *args, **kwargs: None)


def test_kws_cab_on_spoken_words_reports_every_protocol(espeak, no_html_report, tmp_path):
    run = contrastlearn.pretrain("kws-cab", overrides={**TINY, "train.steps": 2},
                                 out=tmp_path / "run", progress=False)
    found = {(r.protocol, r.settings.get("representation")) for r in run.results}
    assert {("linear_probe", "encoder"), ("linear_probe", "raw"), ("knn", "encoder"),
            ("few_label_linear_probe", "encoder"), ("query_by_example", "encoder"),
            ("query_by_example", "MFCC + DTW")} <= found
    raw = next(r for r in run.results if r.settings.get("representation") == "raw")
    assert raw.settings["raw_features"].startswith("MFCC")
    data = json.loads((tmp_path / "run" / "data.json").read_text())
    info = data.get("info", data)
    assert info["test_split"].startswith("holdout_speakers") and info["test_speakers"]
    assert (tmp_path / "run" / "plots" / "views.png").is_file()
    waveforms = np.random.default_rng(0).normal(0, 0.1, (3, 16000)).astype(np.float32)
    embeddings = contrastlearn.embed(tmp_path / "run", waveforms)
    assert embeddings.shape == (3, run.encoder.out_dim)


def write_clips(folder, rng):
    """Two 'words' (a low and a high tone with a glide), four speakers; one stereo file and
    one at 8 kHz among them."""
    for word, base in (("low", 300.0), ("high", 1200.0)):
        (folder / word).mkdir(parents=True)
        for speaker in range(4):
            rate = 8000 if (word, speaker) == ("low", 3) else 16000
            t = np.arange(int(0.8 * rate)) / rate
            pitch = base * (1 + 0.1 * speaker)
            clip = 0.3 * np.sin(2 * np.pi * (pitch + 200 * t) * t) + rng.normal(0, 0.01, len(t))
            if (word, speaker) == ("high", 2):
                clip = np.stack([clip, clip], axis=1)
            soundfile.write(folder / word / f"s{speaker}.wav", clip, rate)


def test_a_folder_of_wav_clips_is_read_and_never_changed(no_report, tmp_path):
    folder = tmp_path / "clips"
    write_clips(folder, np.random.default_rng(0))
    before = {path: path.stat().st_mtime_ns for path in folder.rglob("*")}
    run = contrastlearn.pretrain(
        "kws-simclr", dataset=folder, out=tmp_path / "run", progress=False,
        overrides={"train.steps": 1, "train.batch_size": 4,
                   "eval.labels_per_class": [], "eval.protocols": ["knn"],
                   "data.holdout_fraction": 0.5,
                   "data.options.qbe_per_class": None})
    assert {path: path.stat().st_mtime_ns for path in folder.rglob("*")} == before
    text = (tmp_path / "run" / "data.json").read_text()
    assert "downmixed to mono" in text and "resampled" in text
    assert any(r.protocol == "query_by_example" for r in run.results)


@pytest.mark.slow
def test_supcon_learns_keywords_of_unseen_voices(espeak, no_report, tmp_path):
    overrides = {**TINY, "data.options.voices": 8, "train.steps": 100,
                 "train.batch_size": 32, "eval.labels_per_class": []}
    run = contrastlearn.pretrain("kws-supcon", overrides=overrides, out=tmp_path / "run",
                                 progress=False)
    assert_learned(run.result("knn").value, untrained_score("kws-supcon", "knn",
                                                            overrides=overrides))


def test_kws_continual_logs_old_keyword_accuracy_after_each_stage(espeak, no_report, tmp_path):
    overrides = {**TINY, "train.epochs": 2, "eval.protocols": ["knn"], "eval.labels_per_class": [],
                 "train.batch_sampler.kwargs.stages": 2,
                 "train.batch_sampler.kwargs.epochs_per_stage": 1}
    run = contrastlearn.pretrain("kws-continual", overrides=overrides, out=tmp_path / "run",
                                 progress=False)
    stages = [record for record in run.training.history if "stage" in record]
    assert [record["stage"] for record in stages] == [0.0, 1.0]
    assert "old_classes_knn_top1" in stages[1] and "old_classes_knn_top1" not in stages[0]
    logged = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert logged.count("first_stage_knn_top1") == 2
