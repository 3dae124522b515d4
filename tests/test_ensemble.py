"""Ensembles of runs: embeddings side by side, through the API and `contrastlearn evaluate`."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

import contrastlearn
from contrastlearn.cli import main
from contrastlearn.ensemble import EnsembleEncoder, load_ensemble
from contrastlearn.export import load_encoder
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder
from tests.conftest import tiny_recipe_dict


def test_ensemble_encoder_concatenates_members():
    first = TS2VecEncoder(in_channels=1, hidden_dim=4, out_dim=3, depth=1)
    second = TS2VecEncoder(in_channels=1, hidden_dim=4, out_dim=5, depth=1)
    ensemble = EnsembleEncoder([first, second]).eval()  # training mode masks timestamps
    x = torch.randn(6, 1, 10)
    assert ensemble.out_dim == 8
    torch.testing.assert_close(ensemble(x), torch.cat([first(x), second(x)], dim=1))
    features, valid = ensemble.timestamps(x)
    assert features.shape == (6, 10, 8) and valid.shape == (6, 10)
    torch.testing.assert_close(features[..., 3:], second.timestamps(x)[0])
    with pytest.raises(ValueError, match="at least 2"):
        EnsembleEncoder([first])
    with pytest.raises(TypeError, match="out_dim"):
        EnsembleEncoder([first, torch.nn.Linear(2, 2)])
    with pytest.raises(TypeError, match="timestamps"):
        flat = torch.nn.Linear(10, 2)
        flat.out_dim = 2
        EnsembleEncoder([first, flat]).timestamps(x)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ensemble")
    runs = []
    for seed in (0, 1):
        recipe = tiny_recipe_dict()
        recipe.update(seed=seed)
        recipe["train"]["epochs"] = 1
        recipe["eval"] = {"protocols": ["knn"], "labels_per_class": []}
        run = contrastlearn.pretrain(contrastlearn.config.recipe_from_dict(recipe),
                                     out=folder / f"seed{seed}", progress=False)
        runs.append(run.run_dir)
    return runs


def test_evaluate_an_ensemble_of_runs(two_runs, tmp_path):
    ensemble = contrastlearn.load_ensemble(two_runs)
    assert isinstance(ensemble, contrastlearn.EnsembleEncoder)
    x = torch.rand(5, 1, 8, 8)
    expected = torch.cat([load_encoder(run)(x) for run in two_runs], dim=1)
    torch.testing.assert_close(ensemble(x), expected)
    assert ensemble.out_dim == 32 and not ensemble.training

    results = contrastlearn.evaluate(two_runs, protocols=["knn"], labels_per_class=())
    assert results[0].protocol == "knn" and 0.5 < results[0].value <= 1.0
    with pytest.raises(ValueError, match="save=True"):
        contrastlearn.evaluate(two_runs, protocols=["knn"], save=True)

    output = tmp_path / "ensemble.json"
    assert main(["evaluate", *map(str, two_runs), "--protocol", "knn", "--output",
                 str(output)]) == 0
    assert json.loads(output.read_text())[0]["value"] == pytest.approx(results[0].value)


def test_ensemble_refuses_runs_of_other_modalities(two_runs, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    for item in two_runs[0].iterdir():
        target = other / item.name
        if item.is_dir():
            target.symlink_to(item, target_is_directory=True)
        else:
            target.write_bytes(item.read_bytes())
    recipe = yaml.safe_load((other / "recipe.yaml").read_text())
    recipe["data"]["modality"] = "timeseries"
    (other / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(ValueError, match="share modality"):
        load_ensemble([two_runs[1], other])
