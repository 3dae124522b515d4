"""The run report, training diagnostics in metrics.jsonl, and the files a run leaves."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess

import pytest
import torch
from PIL import Image
from torch import nn

import contrastlearn
from contrastlearn.config import recipe_from_dict
from contrastlearn.report import html as report_html
from contrastlearn.report.html import render_report, run_warnings, write_report
from tests.conftest import require_system_data, tiny_recipe_dict

DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _decode_images(page: str) -> list[Image.Image]:
    images = []
    for payload in DATA_URI.findall(page):
        image = Image.open(io.BytesIO(base64.b64decode(payload)))
        image.load()
        images.append(image)
    return images


def _records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    recipe = recipe_from_dict({**tiny_recipe_dict(), "train": {
        **tiny_recipe_dict()["train"], "histograms": 3}})
    out = tmp_path_factory.mktemp("runs") / "tiny"
    return contrastlearn.pretrain(recipe, out=out, progress=False)


def test_metrics_hold_diagnostics_and_histograms(run):
    records = _records(run.run_dir)
    keys = {"diag_pos_similarity", "diag_neg_similarity", "diag_contrastive_accuracy",
            "diag_alignment", "diag_uniformity", "diag_effective_rank", "diag_dim_std_mean",
            "diag_std_ratio", "lr", "grad_norm", "samples_per_second", "temperature",
            "contrastive_accuracy"}
    assert keys <= set(records[-1])
    with_histograms = [r for r in records if "similarity_histogram" in r]
    assert len(with_histograms) == 3
    assert with_histograms[-1]["step"] == run.training.steps
    histogram = with_histograms[-1]["similarity_histogram"]
    assert sum(histogram["positive"]) == 64  # batch of 64, one positive per anchor


def test_run_directory_holds_report_and_plots(run):
    summary = json.loads((run.run_dir / "training.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == run.training.steps
    for name in ("views.png", "curves.png", "similarity_histograms.png", "embedding_map.png"):
        assert (run.run_dir / "plots" / name).stat().st_size > 1000
    page = (run.run_dir / "report.html").read_text()
    for heading in ("Summary", "Warnings", "Evaluation", "Training curves",
                    "Augmentation preview", "Embedding map", "Data", "Recipe"):
        assert f"<h2>{heading}</h2>" in page
    assert "linear_probe" in page and "tiny-simclr" in page
    assert "Not applicable" not in page
    assert len(_decode_images(page)) == 4
    assert not re.search(r'(src|href)="(https?:)?//', page), "the report must not use the network"


def test_report_without_metrics_says_not_applicable(run, tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(run.run_dir / "recipe.yaml", partial / "recipe.yaml")
    (partial / "results.json").write_text("[]")
    page = render_report(partial)
    assert "Not applicable: metrics.jsonl is missing" in page
    assert "no evaluation" in page
    assert "no training.json" in page
    write_report(partial)
    assert (partial / "report.html").is_file()


def test_report_is_replaced_atomically(run, monkeypatch):
    path = run.run_dir / "report.html"
    before = path.read_bytes()

    def crash(*args):
        raise RuntimeError("boom: killed before the rename")

    monkeypatch.setattr("contrastlearn.core.atomic.os.replace", crash)
    with pytest.raises(RuntimeError, match="boom"):
        write_report(run.run_dir)
    assert path.read_bytes() == before
    assert not list(run.run_dir.glob(".report.html.*"))


def test_report_of_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_report(tmp_path / "nope")


class ConstantEncoder(nn.Module):
    """Maps every input to the same vector: the textbook collapse."""

    out_dim = 8

    def __init__(self) -> None:
        super().__init__()
        self.vector = nn.Parameter(torch.ones(8))

    def forward(self, x):
        return self.vector.expand(x.shape[0], -1) + 0.0 * x.flatten(1).mean(1, keepdim=True)


def test_collapse_is_warned_and_reported(tmp_path):
    recipe = recipe_from_dict(tiny_recipe_dict())
    with pytest.warns(RuntimeWarning, match="collapsed"):
        run = contrastlearn.pretrain(recipe, encoder=ConstantEncoder(), out=tmp_path / "c",
                                     progress=False, overrides={"train.epochs": 1})
    assert run.training.warnings and "collapsed" in run.training.warnings[0]
    records = _records(run.run_dir)
    # a grace of min(10, planned // 2) steps: 4 planned steps -> warnings from step 3 on
    assert [bool(r.get("collapse_warning")) for r in records] == [False, False, True, True]
    assert any("collapse warnings" in w for w in run_warnings(run.run_dir))
    page = (run.run_dir / "report.html").read_text()
    assert 'class="warning"' in page and "collapsed" in page


def test_stopped_early_is_a_warning(tmp_path):
    recipe = recipe_from_dict(tiny_recipe_dict())
    run = contrastlearn.pretrain(recipe, out=tmp_path / "s", progress=False,
                                 overrides={"train.max_steps": 2}, evaluate_after=False)
    assert run.training.status == "stopped_early"
    assert any("stopped early: 2 of" in w for w in run_warnings(run.run_dir))


@pytest.mark.browser
def test_report_renders_in_headless_chromium(run, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    require_system_data(chromium is not None, "sudo apt-get install -y chromium")
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--disable-background-networking", f"--screenshot={screenshot}",
         "--window-size=1200,2400", (run.run_dir / "report.html").resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    image = Image.open(screenshot).convert("L")
    low, high = image.getextrema()
    assert high - low > 100, "the screenshot is blank"
    histogram = image.histogram()
    assert max(histogram) < 0.99 * sum(histogram), "the screenshot is almost one colour"
    for decoded in _decode_images((run.run_dir / "report.html").read_text()):
        assert decoded.size[0] > 50 and decoded.size[1] > 50


def test_a_section_that_breaks_becomes_not_applicable(run, monkeypatch):
    def broken(run_dir):
        raise TypeError("unexpected value in a metrics file")

    monkeypatch.setattr(report_html, "SECTIONS", [("Summary", report_html._section_summary),
                                                  ("Broken", broken)])
    page = render_report(run.run_dir)
    assert "Not applicable: TypeError: unexpected value" in page and "<h2>Summary</h2>" in page


def test_malformed_training_summary_does_not_break_warnings(run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run.run_dir, copy)
    (copy / "training.json").write_text("[1, 2]")
    assert any("no training.json" in w for w in run_warnings(copy))
    assert "<h2>Summary</h2>" in render_report(copy)


def test_preview_and_report_failures_only_warn(tmp_path, monkeypatch):
    import contrastlearn.api as api

    def fail(*args, **kwargs):
        raise RuntimeError("no renderer")

    monkeypatch.setattr(api, "write_views_preview", fail)
    monkeypatch.setattr(api, "write_report", fail)
    recipe = recipe_from_dict(tiny_recipe_dict())
    with pytest.warns(RuntimeWarning) as caught:
        run = contrastlearn.pretrain(recipe, out=tmp_path / "w", progress=False,
                                     overrides={"train.max_steps": 1}, evaluate_after=False)
    messages = " | ".join(str(warning.message) for warning in caught)
    assert "could not write the augmentation preview" in messages
    assert "could not write the report: RuntimeError: no renderer" in messages
    assert (run.run_dir / "encoder" / "model.safetensors").is_file()
    assert not (run.run_dir / "report.html").exists()
