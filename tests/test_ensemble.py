"""Ensembles of runs: embeddings side by side, through the API and `contrastlearn evaluate`."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
import yaml

import contrastlearn
from contrastlearn.cli import main
from contrastlearn.ensemble import EnsembleEncoder, load_ensemble
from contrastlearn.evaluation.features import extract_embeddings
from contrastlearn.evaluation.knn import knn_classifier
from contrastlearn.export import load_encoder
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder
from tests.conftest import tiny_recipe_dict

pytestmark = pytest.mark.usefixtures("no_report")


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


class Scaled(torch.nn.Module):
    """A member whose embedding is a fixed linear map of a flat input, times `gain`."""

    def __init__(self, out_dim: int, gain: float, seed: int) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.weight = torch.nn.Parameter(
            gain * torch.randn(4, out_dim, generator=torch.Generator().manual_seed(seed)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight


def test_balance_gives_every_member_unit_total_variance():
    small, large = Scaled(3, 0.01, seed=0), Scaled(5, 100.0, seed=1)
    ensemble = EnsembleEncoder([small, large])
    x = torch.randn(200, 4)
    assert ensemble.balance(lambda module: module(x)) is ensemble
    embeddings = ensemble(x).double()
    torch.testing.assert_close(embeddings[:, :3].var(dim=0).sum().item(), 1.0)
    torch.testing.assert_close(embeddings[:, 3:].var(dim=0).sum().item(), 1.0)
    expected = small(x).double().var(dim=0).sum().rsqrt() * small(x).double()
    torch.testing.assert_close(embeddings[:, :3], expected, rtol=1e-5, atol=1e-6)
    # balancing again from the balanced state measures the raw members, not the scaled ones
    scales = ensemble.member_scales.clone()
    torch.testing.assert_close(ensemble.balance(lambda module: module(x)).member_scales, scales)


def test_balance_scales_timestamps_and_refuses_constant_members():
    first = TS2VecEncoder(in_channels=1, hidden_dim=4, out_dim=3, depth=1)
    second = TS2VecEncoder(in_channels=1, hidden_dim=4, out_dim=5, depth=1)
    ensemble = EnsembleEncoder([first, second]).eval()
    x = torch.randn(12, 1, 10)
    ensemble.balance(lambda module: extract_embeddings(module, x))
    features, _ = ensemble.timestamps(x)
    scaled_first = ensemble.member_scales[0] * first.timestamps(x)[0]
    torch.testing.assert_close(features[..., :3], scaled_first)
    dead = Scaled(2, 0.0, seed=2)
    with pytest.raises(ValueError, match="constant embeddings"):
        EnsembleEncoder([Scaled(2, 1.0, seed=3), dead]).balance(lambda m: m(torch.randn(10, 4)))
    with pytest.raises(ValueError, match="at least 2 inputs"):
        EnsembleEncoder([Scaled(2, 1.0, seed=3), Scaled(2, 1.0, seed=4)]).balance(
            lambda module: module(torch.randn(1, 4)))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ensemble")
    runs = []
    for seed in (0, 1):
        recipe = tiny_recipe_dict()
        recipe.update(seed=seed)
        recipe["train"]["epochs"] = 1
        recipe["eval"] = {"protocols": ["knn"], "labels_per_class": []}
        with pytest.MonkeyPatch.context() as patch:  # no report: seconds of plotting
            patch.setattr(contrastlearn.api, "write_report", lambda *args, **kwargs: None)
            patch.setattr(contrastlearn.api, "_write_preview", lambda *args, **kwargs: None)
            run = contrastlearn.pretrain(contrastlearn.config.recipe_from_dict(recipe),
                                         out=folder / f"seed{seed}", progress=False)
        runs.append(run.run_dir)
    return runs


def members_knn(runs: list[Path], balanced: bool = False) -> float:
    """kNN top-1 of the members' embeddings side by side, each member divided by the square
    root of its total variance on the train split when `balanced`."""
    splits = contrastlearn.api.load_run_data(
        contrastlearn.config.load_recipe(runs[0] / "recipe.yaml"), None)
    train, test = [], []
    for run in runs:
        encoder = load_encoder(run)
        member_train = contrastlearn.api.embed_data(encoder, splits.train)[0]
        member_test = contrastlearn.api.embed_data(encoder, splits.test)[0]
        scale = member_train.double().var(dim=0).sum().rsqrt() if balanced else 1.0
        train.append(member_train * scale)
        test.append(member_test * scale)
    return knn_classifier(torch.cat(train, dim=1), splits.train.y, torch.cat(test, dim=1),
                          splits.test.y).value


def test_evaluate_an_ensemble_of_runs(two_runs, tmp_path):
    ensemble = contrastlearn.load_ensemble(two_runs)
    assert isinstance(ensemble, contrastlearn.EnsembleEncoder)
    x = torch.rand(5, 1, 8, 8)
    expected = torch.cat([load_encoder(run)(x) for run in two_runs], dim=1)
    torch.testing.assert_close(ensemble(x), expected)
    assert ensemble.out_dim == 32 and not ensemble.training

    results = contrastlearn.evaluate(two_runs, protocols=["knn"], labels_per_class=())
    assert results[0].protocol == "knn"
    assert results[0].value == pytest.approx(members_knn(two_runs))
    with pytest.raises(ValueError, match="save=True"):
        contrastlearn.evaluate(two_runs, protocols=["knn"], save=True)

    output = tmp_path / "ensemble.json"
    assert main(["evaluate", *map(str, two_runs), "--protocol", "knn", "--output",
                 str(output)]) == 0
    assert json.loads(output.read_text())[0]["value"] == pytest.approx(results[0].value)


def test_evaluate_a_balanced_ensemble(two_runs, tmp_path, monkeypatch):
    measured = []
    original = EnsembleEncoder.balance

    def spy(self, embed):
        measured.append(embed(self))
        return original(self, embed)

    monkeypatch.setattr(EnsembleEncoder, "balance", spy)
    results = contrastlearn.evaluate(two_runs, protocols=["knn"], labels_per_class=(),
                                     balance=True)
    train = contrastlearn.api.load_run_data(
        contrastlearn.config.load_recipe(two_runs[0] / "recipe.yaml"), None).train
    ensemble = contrastlearn.load_ensemble(two_runs)
    expected, _ = contrastlearn.api.embed_data(ensemble, train)
    assert len(measured) == 1  # the unlabeled train split, as the protocols embed it
    torch.testing.assert_close(measured[0], expected)
    assert results[0].value == pytest.approx(members_knn(two_runs, balanced=True))
    output = tmp_path / "balanced.json"
    assert main(["evaluate", *map(str, two_runs), "--balance", "--protocol", "knn",
                 "--output", str(output)]) == 0
    assert json.loads(output.read_text())[0]["value"] == pytest.approx(results[0].value)
    with pytest.raises(ValueError, match="several run directories"):
        contrastlearn.evaluate(two_runs[0], protocols=["knn"], balance=True)


def test_an_ensemble_of_different_recipes_warns_without_balance(two_runs, tmp_path):
    other = copy_run(two_runs[1], tmp_path / "other",
                     lambda recipe: recipe.update(name="another-recipe"))
    with pytest.warns(UserWarning, match="balance=True"):
        contrastlearn.evaluate([two_runs[0], other], protocols=["knn"], labels_per_class=())
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        contrastlearn.evaluate([two_runs[0], other], protocols=["knn"], labels_per_class=(),
                               balance=True)
        contrastlearn.evaluate(two_runs, protocols=["knn"], labels_per_class=())


def copy_run(run: Path, other: Path, change) -> Path:
    """A copy of `run` (folders linked) whose recipe dict `change` edits in place."""
    other.mkdir()
    for item in run.iterdir():
        target = other / item.name
        if item.is_dir():
            target.symlink_to(item, target_is_directory=True)
        else:
            target.write_bytes(item.read_bytes())
    recipe = yaml.safe_load((other / "recipe.yaml").read_text())
    change(recipe)
    (other / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return other


def test_ensemble_refuses_runs_of_other_modalities(two_runs, tmp_path):
    other = copy_run(two_runs[0], tmp_path / "other",
                     lambda recipe: recipe["data"].update(modality="timeseries"))
    with pytest.raises(ValueError, match="share modality"):
        load_ensemble([two_runs[1], other])
