"""Pre-training on a tuple-matching task through the library's front door: SimCLR with the
corruption views and the row encoder, scored by the matching protocol the data ships, and the
exported encoder read back. The slow test checks that training improves matching."""

from __future__ import annotations

import pytest
import torch

from contrastlearn import api
from contrastlearn.config import load_recipe, recipe_from_dict
from contrastlearn.core.registry import ENCODERS, MODALITIES
from contrastlearn.modalities.tabular.matching.chars import encode_table
from contrastlearn.modalities.tabular.matching.data import EXTRA_NAME, tuple_matching_splits
from tests.learning import assert_learned
from tests.tabular_matching.fixtures import places

pytestmark = pytest.mark.usefixtures("one_thread", "no_report")

ENCODER = {"char_dim": 32, "field_dim": 64, "out_dim": 32, "buckets": 4096}


def recipe(epochs: int, batch_size: int, **encoder):
    if "tabular" not in MODALITIES:
        pytest.skip("the tabular modality is not registered")
    return recipe_from_dict({
        "name": "tiny-tuple-matching", "data": {"modality": "tabular"},
        "views": {"name": "tuple_corruption_views"},
        "encoder": {"name": "row_encoder", "kwargs": {**ENCODER, **encoder}},
        "method": {"name": "simclr", "kwargs": {"projection_dim": 32, "hidden_dim": 64,
                                                "temperature": 0.1}},
        "train": {"epochs": epochs, "batch_size": batch_size, "lr": 0.003,
                  "warmup_epochs": 0, "accelerator": "cpu", "log_every_steps": 1},
        "eval": {"protocols": [], "raw_baseline": False}})


def f1_of(results, representation: str = "encoder") -> float:
    return next(r.value for r in results if r.protocol == "tuple_matching"
                and r.metric == "f1" and r.settings["representation"] == representation)


def test_pretrain_scores_matching_and_exports_an_encoder_that_reads_rows(tmp_path):
    splits = tuple_matching_splits(places(80), name="places", seed=0)
    run = api.pretrain(recipe(1, 16), dataset=splits, out=tmp_path / "run", progress=False)
    metrics = {(r.metric, r.settings["representation"]) for r in run.results}
    assert {("f1", "encoder"), ("precision", "encoder"), ("recall", "encoder"),
            ("f1", "char 3-gram TF-IDF")} <= metrics
    rows = splits.extras[EXTRA_NAME].test.queries
    loaded = api.load_encoder(tmp_path / "run")
    run.encoder.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(rows), run.encoder(rows))
    again = api.evaluate(loaded, splits)
    assert f1_of(again) == pytest.approx(f1_of(run.results))
    table = places(5)  # rows of a table embed as characters, as matching reads them
    embedded = api.embed(tmp_path / "run", table)
    with torch.no_grad():
        expected = loaded(encode_table(table))
    torch.testing.assert_close(embedded, expected)


def test_the_shipped_recipe_names_registered_parts():
    shipped = load_recipe("tuple-matching")
    assert shipped.data.dataset == "table-matching" and shipped.data.modality == "tabular"
    assert shipped.views.name in ("tuple_corruption_views",)
    assert shipped.encoder.name in ENCODERS
    ENCODERS.build(shipped.encoder.name, **shipped.encoder.kwargs)


@pytest.mark.slow
def test_training_improves_matching_over_the_untrained_encoder(tmp_path):
    splits = tuple_matching_splits(places(600), name="places", seed=0)
    tiny = recipe(40, 64)
    torch.manual_seed(tiny.seed)
    untrained = ENCODERS.build("row_encoder", **tiny.encoder.kwargs)
    before = f1_of(splits.extras[EXTRA_NAME].evaluate(untrained))
    run = api.pretrain(tiny, dataset=splits, out=tmp_path / "run", progress=False)
    assert_learned(f1_of(run.results), before)
