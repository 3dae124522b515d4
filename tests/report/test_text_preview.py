"""A room that draws no picture of its views (text) writes plots/views.txt; the report shows
it, escaped, and its header describes every view whole."""

from __future__ import annotations

import torch

from contrastlearn.augment.base import Identity
from contrastlearn.augment.views import Views
from contrastlearn.report.html import render_report
from contrastlearn.report.preview import TEXT_PREVIEW_NAME, write_decoded_views_preview


def _preview_section(page: str) -> str:
    start = page.index("<h2>Augmentation preview</h2>")
    return page[start:page.index("<h2>", start + 1)]


def test_report_shows_the_text_preview_escaped(tmp_path):
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / TEXT_PREVIEW_NAME).write_text("view 1: Identity()\n\ninput : a <b>bold</b> & x\n"
                                           "view 1: a <b>bold</b> & x\n")
    section = _preview_section(render_report(tmp_path))
    assert "Not applicable" not in section and "missing" not in section
    assert "<pre>view 1: Identity()" in section
    assert "input : a &lt;b&gt;bold&lt;/b&gt; &amp; x" in section and "<b>" not in section


def test_report_without_any_preview_names_both_files(tmp_path):
    section = _preview_section(render_report(tmp_path))
    assert "views.png" in section and "views.txt" in section


def test_text_preview_header_describes_every_view(tmp_path):
    class Drop(Identity):
        def __init__(self, p: float = 0.1, note: str = "x" * 400) -> None:
            self.p, self.note = p, note

    views = Views([Identity(), Drop()])
    samples = torch.tensor([[5, 6, 7], [8, 9, 0]])
    text = write_decoded_views_preview(views, samples, lambda ids: " ".join(map(str, ids.tolist())),
                                       tmp_path / TEXT_PREVIEW_NAME)
    assert text.startswith("view 1: Identity()\nview 2: Drop(p=0.1, note='" + "x" * 400 + "')\n\n")
    assert "input : 5 6 7\nview 1: 5 6 7\nview 2: 5 6 7" in text
