"""The strength sweep in report.html and its plot's augmentation-complexity panel."""

from __future__ import annotations

import json

import pytest

from contrastlearn.report import plots
from contrastlearn.report.html import render_report

ROWS = [
    {"strength": 0.0, "positive_similarity": 0.99, "linear_probe_top1": 0.8,
     "augmentation_complexity": 22.6, "augmentation_complexity_mean": 15.25,
     "augmentation_kernel_eigenvalues": [1.0, 0.98, 0.97], "augmentation_complexity_features":
     "frozen encoder", "num_complexity": 512},
    {"strength": 1.0, "positive_similarity": 0.7, "linear_probe_top1": 0.6,
     "augmentation_complexity": 9.5, "augmentation_complexity_mean": 3.75,
     "augmentation_kernel_eigenvalues": [1.0, 0.5, 0.25], "augmentation_complexity_features":
     "frozen encoder", "num_complexity": 512},
]


def _sweep_section(page: str) -> str:
    start = page.index("<h2>Augmentation strength sweep</h2>")
    return page[start:page.index("<h2>", start + 1)]


def test_complexity_panel_beside_the_sweep():
    fig = plots._figure_strength_sweep(
        [1.0, 0.0], [0.7, 0.99], [0.6, 0.8], augmentation_complexity=[9.5, 22.6],
        augmentation_complexity_mean=[3.75, 15.25])
    similarity, accuracy, complexity = fig.axes
    assert complexity.get_ylabel() == "augmentation complexity kappa"
    assert [list(line.get_ydata()) for line in complexity.lines] == [[22.6, 9.5], [15.25, 3.75]]
    assert accuracy.get_legend() is not None  # the best strength is still starred
    with pytest.raises(ValueError, match="augmentation_complexity must have the same length"):
        plots._figure_strength_sweep([0.0, 1.0], [0.9, 0.8], [0.5, 0.6],
                                     augmentation_complexity=[3.0])


def test_report_shows_the_sweep_with_kappa(tmp_path):
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "sweep.json").write_text(json.dumps(ROWS))
    section = _sweep_section(render_report(tmp_path))
    assert "Stronger augmentation gives a smaller kappa" in section
    assert "512 inputs (frozen encoder as features)" in section
    assert "<td>22.6</td><td>15.25</td><td>1, 0.98, 0.97</td>" in section
    assert section.count("<img ") == 1
    assert (tmp_path / "plots" / "sweep.png").stat().st_size > 1000


def test_report_of_an_older_sweep_and_of_a_run_without_one(tmp_path):
    assert "strength sweep" not in render_report(tmp_path)  # no sweep: no section at all
    (tmp_path / "sweep").mkdir()
    older = [{key: row[key] for key in ("strength", "positive_similarity", "linear_probe_top1")}
             for row in ROWS]
    (tmp_path / "sweep" / "sweep.json").write_text(json.dumps(older))
    section = _sweep_section(render_report(tmp_path))
    assert "predates the augmentation complexity" in section and "<img " in section
