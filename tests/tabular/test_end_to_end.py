"""The tabular room end to end: `pretrain` on a built-in table and on a CSV file, the exported
encoder embedding new DataFrames, `evaluate` of a table read afresh, the scikit-learn
transformer in a Pipeline, the views preview; and (slow) SCARF learning."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import contrastlearn
from contrastlearn.core.registry import MODALITIES
from contrastlearn.estimator import ContrastiveEncoder
from contrastlearn.modalities.tabular.augment import scarf_views, table_view_inputs
from contrastlearn.modalities.tabular.data import table_splits
from contrastlearn.modalities.tabular.encoders import TabularMLP
from contrastlearn.modalities.tabular.modality import table_encoder_inputs
from contrastlearn.modalities.tabular.preview import write_table_preview
from tests.learning import assert_learned, untrained_encoder

pytestmark = pytest.mark.usefixtures("one_thread", "no_report")

QUICK = {"train.steps": 3, "train.batch_size": 32, "eval.labels_per_class": [],
         "eval.protocols": ["linear_probe"], "encoder.kwargs.hidden_dims": [32, 32],
         "encoder.kwargs.out_dim": 16}

LEARNING = ("telco_churn", {"train.steps": 1500, "train.warmup_epochs": 0,
                            "eval.protocols": ["label_fraction"], "eval.labels_per_class": [],
                            "eval.few_label_seeds": [0, 1, 2], "eval.raw_baseline": False})
"""The learning fixture: telco_churn, where a linear probe on 10 % of the training labels reads
SCARF's embeddings about 0.07 better than its untrained encoder's (benchmarks/bench_tabular.py:
0.786 against 0.719, std about 0.01 over label draws)."""


def fraction_score(results, fraction: float) -> float:
    return next(r.value for r in results if r.protocol == "label_fraction_linear_probe"
                and r.settings["fraction"] == fraction)


def test_the_modality_is_registered_with_its_defaults():
    room = MODALITIES.get("tabular")
    assert room.default_recipe == "scarf" and room.protocols == ("linear_probe", "knn")
    assert set(room.file_readers) == {".csv", ".parquet"}
    assert room.parse_options({"label_column": "y"}).unseen_categories == "map"


def test_scarf_pretrains_on_a_builtin_table_and_embeds_new_rows(tmp_path):
    run = contrastlearn.pretrain("scarf", dataset="breast_cancer", out=tmp_path / "run",
                                 overrides={**QUICK, "method.kwargs.hidden_dim": 32},
                                 progress=False)
    found = {(r.protocol, r.settings.get("representation")) for r in run.results}
    assert {("linear_probe", "encoder"), ("linear_probe", "raw")} <= found
    raw = next(r for r in run.results if r.settings.get("representation") == "raw")
    assert "one-hot" in raw.settings["raw_features"]
    config = json.loads((tmp_path / "run" / "encoder" / "config.json").read_text())
    assert config["modality"] == "tabular" and "schema" in config["kwargs"]
    rows = load_breast_cancer(as_frame=True).data.head(7)
    embeddings = contrastlearn.embed(tmp_path / "run", rows)
    assert embeddings.shape == (7, 16)
    torch.testing.assert_close(contrastlearn.embed(tmp_path / "run", rows.to_numpy()),
                               embeddings)
    loaded = contrastlearn.load_encoder(tmp_path / "run")
    torch.testing.assert_close(contrastlearn.embed(loaded, rows), embeddings)


def test_vime_pretrains_on_a_csv_file_with_a_label_column(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"size": rng.normal(size=80), "shade": rng.choice(["a", "b"], 80),
                          "count": rng.integers(0, 50, 80), "kind": np.arange(80) % 2})
    frame.loc[3, "size"] = np.nan
    frame.to_csv(tmp_path / "table.csv", index=False)
    run = contrastlearn.pretrain(
        "vime", dataset=str(tmp_path / "table.csv"), out=tmp_path / "run", progress=False,
        overrides={**QUICK, "data.options": {"label_column": "kind"}})
    info = json.loads((tmp_path / "run" / "data.json").read_text())
    assert info["columns"]["missing_indicators"] == ["size"]
    assert info["columns"]["label"] == "kind"
    assert any(r.protocol == "linear_probe" for r in run.results)
    results = contrastlearn.evaluate(tmp_path / "run", protocols=["knn"])
    assert results[0].protocol == "knn"


def test_an_encoder_evaluates_a_table_read_afresh_with_its_own_schema(tmp_path):
    run = contrastlearn.pretrain("scarf", dataset="wine", out=tmp_path / "run",
                                 overrides=QUICK, progress=False)
    bunch = load_wine(as_frame=True)
    results = contrastlearn.evaluate(run.encoder, (bunch.data, bunch.target.to_numpy()),
                                     protocols=["linear_probe"], labels_per_class=())
    assert 0 <= results[0].value <= 1


def test_the_scikit_learn_transformer_reads_dataframes_in_a_pipeline(tmp_path):
    bunch = load_breast_cancer(as_frame=True)
    table = bunch.data.copy()
    table["band"] = pd.cut(table["mean radius"], 3, labels=["small", "mid", "large"]).astype(str)
    encoder = ContrastiveEncoder(modality="tabular", steps=3, batch_size=64,
                                 run_dir=str(tmp_path / "run"),
                                 recipe_overrides={k: v for k, v in QUICK.items()
                                                   if k.startswith(("encoder", "method"))})
    model = make_pipeline(encoder, LogisticRegression(max_iter=500)).fit(table, bunch.target)
    assert model.score(table, bunch.target) > 0.8
    assert model[0].transform(table.head(3)).shape == (3, 16)
    assert encoder.get_params()["modality"] == "tabular"
    assert model[0].recipe_.name == "scarf"


def test_the_tabular_encoder_takes_declared_column_kinds_in_a_pipeline(tmp_path):
    from sklearn.base import clone

    from contrastlearn import TabularEncoder

    bunch = load_breast_cancer(as_frame=True)
    table = bunch.data.iloc[:, :6].copy()
    table["grade"] = (table["mean radius"] > table["mean radius"].median()).astype(int)
    encoder = TabularEncoder(out_dim=8, steps=3, batch_size=64, categorical_columns=["grade"],
                             run_dir=str(tmp_path / "run"))
    model = make_pipeline(encoder, LogisticRegression(max_iter=500)).fit(table, bunch.target)
    assert model.score(table, bunch.target) > 0.7
    assert model[0].transform(table.head(4)).shape == (4, 8)
    kinds = model[0].recipe_.data.options
    assert kinds["categorical_columns"] == ["grade"]
    assert clone(encoder).get_params()["categorical_columns"] == ["grade"]
    with pytest.raises(ValueError, match="unknown tabular method"):
        TabularEncoder(method="tabnet").fit(table)


def test_the_preview_lists_the_changed_columns_by_name(tmp_path):
    frame = pd.DataFrame({"height": np.arange(20.0), "colour": ["red", "blue"] * 10})
    splits = table_splits(frame, name="t", holdout_fraction=0.5)
    encoder = TabularMLP(**table_encoder_inputs(splits), hidden_dims=[4], out_dim=2)
    views = scarf_views(corruption_rate=1.0,
                        **table_view_inputs((splits.train.x.shape[1],), encoder))
    text = write_table_preview(views, splits.train.x[:3], tmp_path, encoder=encoder).read_text()
    assert text.startswith("row 0:\n  view 1: 0 of 2 features changed")
    assert "height" in text and "colour" in text


@pytest.mark.slow
def test_scarf_beats_the_untrained_encoder_with_few_labels(tmp_path):
    dataset, overrides = LEARNING
    run = contrastlearn.pretrain("scarf", dataset=dataset, out=tmp_path / "run",
                                 overrides=overrides, progress=False)
    encoder, splits = untrained_encoder("scarf", dataset, overrides)
    before = contrastlearn.api.evaluate_splits(
        encoder, splits, protocols=["label_fraction"], labels_per_class=[],
        seeds=run.recipe.eval.few_label_seeds, raw_baseline=False, device="cpu",
        batch_size=512)
    assert_learned(fraction_score(run.results, 0.1), fraction_score(before, 0.1))


def test_the_transformer_methods_name_shipped_recipes():
    from contrastlearn.config import load_recipe
    from contrastlearn.modalities.tabular.sklearn_api import RECIPES, method_recipe

    assert all(load_recipe(method_recipe(name)).data.modality == "tabular" for name in RECIPES)
    with pytest.raises(ValueError, match="choose from"):
        method_recipe("simclr")
