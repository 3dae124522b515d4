"""The whole evaluation suite through the public API and the CLI: every protocol on a real
(tiny) run, explicit pairs, not-applicable entries, the report and augment commands."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import contrastlearn
from contrastlearn.api import load_run_data
from contrastlearn.cli import main
from contrastlearn.config import PROTOCOLS, recipe_from_dict
from tests.conftest import tiny_recipe_dict
from tests.learning import assert_learned, untrained_scores


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    recipe = tiny_recipe_dict()
    recipe["eval"]["protocols"] = list(PROTOCOLS)
    recipe["eval"]["raw_baseline"] = False
    recipe["train"].update(epochs=25, lr=0.01)  # 100 steps: enough to beat the untrained CNN
    return contrastlearn.pretrain(recipe_from_dict(recipe), progress=False,
                                  out=tmp_path_factory.mktemp("suite") / "run")


CLASSIFIERS = ("linear_probe", "logistic_regression", "svm", "knn")


def test_every_protocol_runs_in_pretrain(run):
    by_protocol = {}
    for result in run.results:
        if result.settings["representation"] == "encoder":
            by_protocol.setdefault(result.protocol, []).append(result)
    expected = {"linear_probe", "knn", "logistic_regression", "svm", "retrieval", "clustering",
                "anomaly", "label_fraction_linear_probe", "few_label_linear_probe",
                "few_label_svm", "few_label_logistic_regression", "few_label_knn"}
    assert expected <= set(by_protocol)
    assert {r.metric for r in by_protocol["retrieval"]} == {
        "recall@1", "recall@5", "recall@10", "mrr", "map"}
    assert {r.metric for r in by_protocol["clustering"]} == {"nmi", "ari"}
    fractions = sorted(r.settings["fraction"] for r in by_protocol["label_fraction_linear_probe"])
    assert fractions == [0.01, 0.1, 1.0]
    for results in by_protocol.values():
        for result in results:
            assert math.isfinite(result.value) and result.split == "holdout_0.2_seed0"
    # every classifier sees what training added: the same CNN untrained (its batch-norm
    # statistics measured on the data) scores 0.64 to 0.85 on digits, the trained one more
    untrained = untrained_scores(run.recipe, CLASSIFIERS)
    for name in CLASSIFIERS:
        assert_learned(by_protocol[name][0].value, untrained[name])
    saved = json.loads((run.run_dir / "results.json").read_text())
    assert len(saved) == len(run.results)
    assert "svm" in (run.run_dir / "report.html").read_text()


def test_protocol_that_cannot_run_is_not_applicable(tmp_path):
    generator = np.random.default_rng(0)
    x = generator.random((120, 1, 8, 8)).astype(np.float32)
    y = np.repeat(np.arange(4), 30)
    y[:27] = 1  # class 0 keeps 3 samples: fewer than anomaly's k=5 neighbours
    data = tmp_path / "data.npz"
    np.savez(data, x=x, y=y, x_test=x[:40], y_test=np.arange(40) % 4)
    recipe = tiny_recipe_dict()
    recipe["eval"] = {"protocols": ["knn", "anomaly"], "labels_per_class": [],
                      "raw_baseline": False}
    run = contrastlearn.pretrain(recipe_from_dict(recipe), dataset=str(data), progress=False,
                                 out=tmp_path / "run", overrides={"train.epochs": 1})
    anomaly = [r for r in run.results if r.protocol == "anomaly"]
    assert anomaly[0].metric == "not_applicable" and math.isnan(anomaly[0].value)
    assert "k=5" in anomaly[0].settings["reason"] or "k" in anomaly[0].settings["reason"]
    knn = run.result("knn")  # still measured, next to the protocol that could not run
    assert knn.metric == "top1" and math.isfinite(knn.value)
    page = (run.run_dir / "report.html").read_text()
    assert "not applicable" in page


def test_evaluate_pairs_similarity_and_retrieval(run):
    generator = np.random.default_rng(1)
    images = generator.random((30, 1, 8, 8)).astype(np.float32)
    noisy = np.clip(images + 0.05 * generator.standard_normal(images.shape), 0, 1)
    # human scores that rank the pairs as the encoder's cosine does (a monotone, non-linear
    # function of it): Spearman is 1 (up to a swap of two nearly equal cosines), Pearson is
    # not; with unrelated scores both would be near 0
    cosine = torch.nn.functional.cosine_similarity(
        contrastlearn.embed(run.run_dir, images), contrastlearn.embed(run.run_dir, noisy))
    scores = (5 * (cosine.double() - cosine.min()) ** 3).numpy()
    results = contrastlearn.evaluate(
        run.run_dir, {"a": images, "b": noisy, "scores": scores}, protocols=["similarity"])
    by_metric = {r.metric: r.value for r in results}
    assert set(by_metric) == {"spearman", "pearson"}
    assert by_metric["spearman"] == pytest.approx(1.0, abs=0.01)
    assert 0.5 < by_metric["pearson"] < 1 - 1e-6
    retrieval = contrastlearn.evaluate(
        run.run_dir, {"queries": noisy, "gallery": images, "query_ids": np.arange(30),
                      "gallery_ids": np.arange(30)}, protocols=["retrieval"])
    recall = {r.metric: r.value for r in retrieval}
    # a slightly noisy copy finds its own original far more often than chance (1/30)
    assert recall["recall@1"] > 0.3 and recall["recall@10"] >= recall["recall@1"]
    with pytest.raises(ValueError, match="unknown protocol"):
        contrastlearn.evaluate(run.run_dir, {"a": images, "b": noisy, "scores": scores},
                               protocols=["knn"])


def test_evaluate_strict_errors(run):
    encoder = contrastlearn.load_encoder(run.run_dir)
    with pytest.raises(ValueError, match="unknown protocol"):
        contrastlearn.evaluate(encoder, "digits", protocols=["telepathy"])


def test_cli_evaluate_protocols_and_pairs(run, tmp_path, capsys):
    output = tmp_path / "results.json"
    assert main(["evaluate", str(run.run_dir), "--protocol", "svm", "--protocol", "knn",
                 "--protocol", "clustering", "--labels-per-class", "5",
                 "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "svm" in printed and "clustering nmi" in printed
    saved = json.loads(output.read_text())
    assert {"svm", "knn", "few_label_svm", "clustering"} <= {r["protocol"] for r in saved}
    svm = next(r for r in saved if r["protocol"] == "svm")
    assert "C" in svm["settings"] or any(k.lower().startswith("c") for k in svm["settings"])

    pairs = tmp_path / "pairs.npz"
    images = np.random.default_rng(2).random((20, 1, 8, 8)).astype(np.float32)
    np.savez(pairs, a=images, b=images[::-1], scores=np.linspace(0, 1, 20))
    assert main(["evaluate", str(run.run_dir), "--pairs", str(pairs)]) == 0
    assert "similarity spearman" in capsys.readouterr().out
    bad = tmp_path / "bad.npz"
    np.savez(bad, a=images)
    assert main(["evaluate", str(run.run_dir), "--pairs", str(bad)]) == 2
    assert "pairs need a, b, scores" in capsys.readouterr().err


def test_cli_report(run, capsys):
    (run.run_dir / "report.html").unlink()
    assert main(["report", str(run.run_dir), "--map", "pca"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (run.run_dir / "report.html").stat().st_size > 10_000
    assert main(["report", str(run.run_dir / "missing")]) == 2


def _recipe_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_recipe_dict()))
    return path


def test_cli_augment_preview(tmp_path, capsys):
    out = tmp_path / "views.png"
    assert main(["augment", "--recipe", str(_recipe_file(tmp_path)), "--out", str(out),
                 "--num-samples", "4"]) == 0
    assert "4 samples x 2 views" in capsys.readouterr().out
    image = Image.open(out).convert("L")
    low, high = image.getextrema()
    assert high - low > 100


@pytest.mark.slow  # a strength sweep of runs
def test_cli_augment_sweep_trains_and_plots(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["augment", "--recipe", str(_recipe_file(tmp_path)), "--out", str(out),
                 "--sweep", "--strengths", "0", "1", "--steps", "2", "--no-progress"]) == 0
    rows = json.loads((out / "sweep.json").read_text())
    assert [row["strength"] for row in rows] == [0.0, 1.0]
    # each row probes the encoder that strength trained (the export in its run directory)
    splits = load_run_data(recipe_from_dict(tiny_recipe_dict()))
    for row in rows:
        encoder = contrastlearn.load_encoder(out / f"strength-{row['strength']:g}")
        probe = contrastlearn.evaluate(encoder, splits, protocols=["linear_probe"],
                                       labels_per_class=[])[0]
        assert row["linear_probe_top1"] == pytest.approx(probe.value)
    assert (out / "sweep.png").stat().st_size > 1000
    assert (out / "strength-1" / "report.html").is_file()
    # the augmentation complexity on the raw inputs (kappa^2 at most the sample size, reached
    # when every view names its input): stronger views forget more of the input
    assert {row["augmentation_complexity_features"] for row in rows} == {"raw inputs"}
    assert rows[0]["augmentation_complexity"] <= math.sqrt(rows[0]["num_complexity"]) + 1e-9
    assert rows[0]["augmentation_complexity"] > rows[1]["augmentation_complexity"]
    assert rows[0]["augmentation_complexity_mean"] > rows[1]["augmentation_complexity_mean"]
    assert "kappa (sup)" in capsys.readouterr().out


def test_augment_sweep_with_frozen_encoder(run, tmp_path, capsys):
    out = run.run_dir / "sweep"  # inside the run: its report.html shows the sweep
    report = run.run_dir / "report.html"
    before = report.read_bytes()
    try:
        assert main(["augment", "--recipe", str(_recipe_file(tmp_path)), "--out", str(out),
                     "--sweep", "--strengths", "0", "0.5", "1", "--encoder",
                     str(run.run_dir)]) == 0
        rows = json.loads((out / "sweep.json").read_text())
        page = report.read_text()
    finally:
        shutil.rmtree(out, ignore_errors=True)
        report.write_bytes(before)
    assert "<h2>Augmentation strength sweep</h2>" in page and "smaller kappa" in page
    # stronger views: positives drift apart and less class information survives
    assert rows[0]["positive_similarity"] > rows[-1]["positive_similarity"]
    assert rows[0]["linear_probe_top1"] > rows[-1]["linear_probe_top1"]
    assert {row["encoder"] for row in rows} == {"frozen encoder"}
    # kappa in the frozen encoder's space falls as the views get stronger
    kappas = [row["augmentation_complexity_mean"] for row in rows]
    assert kappas[0] > kappas[1] > kappas[2]
    assert len(rows[0]["augmentation_kernel_eigenvalues"]) == 10
    printed = capsys.readouterr().out
    assert "kappa (mean)" in printed and f"{rows[-1]['augmentation_complexity']:11.3f}" in printed


def test_table_shows_every_label_fraction(run):
    from contrastlearn.evaluation.table import comparison_table

    table = comparison_table(run.results)
    for used in ("1%", "10%", "all"):
        assert any(line.startswith("label_fraction_linear_probe") and f" {used} " in line
                   for line in table.splitlines())


def test_pair_evaluation_defaults_and_save(run, tmp_path):
    images = np.random.default_rng(3).random((12, 1, 8, 8)).astype(np.float32)
    before = (run.run_dir / "results.json").read_text()
    try:
        results = contrastlearn.evaluate(run.run_dir, {"a": images, "b": images,
                                                       "scores": np.arange(12.0)}, save=True)
        assert {r.protocol for r in results} == {"similarity"}
        # identical sides: every cosine is 1, so no correlation exists
        assert all(r.settings["constant_similarity"] and math.isnan(r.value) for r in results)
        saved = json.loads((run.run_dir / "results.json").read_text())
        assert {r["protocol"] for r in saved} == {"similarity"}
    finally:
        (run.run_dir / "results.json").write_text(before)
    with pytest.raises(ValueError, match="needs the arrays"):
        contrastlearn.evaluate(run.run_dir, {"a": images, "b": images, "scores": np.ones(12)},
                               protocols=["retrieval"])


def test_brief_schedule_spans_the_steps():
    from contrastlearn.sweep import brief_schedule

    recipe = recipe_from_dict(tiny_recipe_dict())  # batch 64, warmup 0.5 epochs
    overrides = brief_schedule(recipe, num_train=256, steps=10)  # 4 steps per epoch
    assert overrides == pytest.approx(
        {"train.epochs": 3, "train.max_steps": 10, "train.warmup_epochs": 0.3})
    with pytest.raises(ValueError, match="steps"):
        brief_schedule(recipe, 256, 0)
