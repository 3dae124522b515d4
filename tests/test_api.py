"""The Python API end to end: pretrain, load_encoder, evaluate, embed, user data and encoders."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import contrastlearn
from contrastlearn.api import load_run_data
from contrastlearn.config import recipe_from_dict
from contrastlearn.data.arrays import DataError
from contrastlearn.evaluation import extract_embeddings, load_results
from tests.conftest import tiny_recipe_dict
from tests.learning import assert_learned, untrained_score


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    recipe = tiny_recipe_dict()
    recipe["train"].update(epochs=25, lr=0.01)  # 100 steps: enough to beat the untrained CNN
    recipe = recipe_from_dict(recipe)
    return contrastlearn.pretrain(recipe, out=tmp_path_factory.mktemp("runs") / "run",
                                  progress=False)


def test_run_directory_holds_everything(tiny_run):
    run_dir = tiny_run.run_dir
    for name in ("results.json", "metrics.jsonl", "recipe.yaml", "data.json",
                 "encoder/model.safetensors", "encoder/config.json", "checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), name
    results = load_results(run_dir / "results.json")
    protocols = {(r.protocol, r.settings["representation"]) for r in results}
    assert {("linear_probe", "encoder"), ("knn", "encoder"), ("linear_probe", "raw"),
            ("few_label_linear_probe", "encoder"), ("few_label_knn", "raw")} <= protocols
    assert all(result.split == "holdout_0.2_seed0" for result in results)
    assert [(r.protocol, r.metric, r.settings) for r in results] == [
        (r.protocol, r.metric, r.settings) for r in tiny_run.results]
    assert [r.value for r in results] == pytest.approx([r.value for r in tiny_run.results],
                                                       nan_ok=True)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records and all(np.isfinite(r["loss"]) for r in records if "loss" in r)


def test_pretraining_beats_the_untrained_encoder(tiny_run):
    """The same CNN before its first step (its batch-norm statistics measured on the data, as
    steps with a zero learning rate would) probes at about 0.75 on digits; 100 SimCLR steps
    lift that above 0.9. The raw pixels (0.98) stay out of reach for so small an encoder."""
    trained = tiny_run.result("linear_probe").value
    assert_learned(trained, untrained_score(tiny_run.recipe, "linear_probe"))


def test_load_encoder_gives_same_embeddings(tiny_run):
    loaded = contrastlearn.load_encoder(tiny_run.run_dir)
    assert not loaded.training
    x = torch.rand(7, 1, 8, 8)
    tiny_run.encoder.eval()
    with torch.no_grad():
        assert torch.allclose(loaded(x), tiny_run.encoder(x), atol=1e-6)


def test_evaluate_run_dir_reproduces_results(tiny_run):
    results = contrastlearn.evaluate(tiny_run.run_dir, protocols=["knn"], labels_per_class=[])
    saved = tiny_run.result("knn")
    assert results[0].protocol == "knn" and results[0].value == pytest.approx(saved.value)


def test_embed_arrays_and_wrong_shape(tiny_run, tmp_path):
    x = np.random.default_rng(0).random((5, 8, 8)).astype(np.float32)
    embeddings = contrastlearn.embed(tiny_run.run_dir, x)
    assert embeddings.shape == (5, 16) and torch.isfinite(embeddings).all()
    with pytest.raises(DataError, match="trained on"):
        contrastlearn.embed(tiny_run.run_dir, np.zeros((2, 12, 12), dtype=np.float32))


def test_user_arrays_and_user_encoder(tmp_path):
    class TinyEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.out_dim = 12
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 12))

        def forward(self, x):
            return self.net(x)

    rng = np.random.default_rng(0)
    x = rng.random((120, 8, 8)).astype(np.float32)
    y = np.repeat(np.arange(4), 30)
    recipe = recipe_from_dict(tiny_recipe_dict())
    run = contrastlearn.pretrain(recipe, dataset=(x, y), encoder=TinyEncoder(),
                                 out=tmp_path / "run", progress=False)
    assert run.results and run.encoder.out_dim == 12
    with pytest.raises(ValueError, match="custom encoder"):
        contrastlearn.load_encoder(run.run_dir)
    loaded = contrastlearn.load_encoder(run.run_dir, module=TinyEncoder())
    assert torch.equal(loaded.net[1].weight, run.encoder.net[1].weight)


def test_user_torch_dataset_trains(tmp_path):
    dataset = torch.utils.data.TensorDataset(torch.rand(96, 1, 8, 8), torch.arange(96) % 3)
    recipe = recipe_from_dict(tiny_recipe_dict())
    run = contrastlearn.pretrain(recipe, dataset=dataset, out=tmp_path / "run", progress=False,
                                 overrides={"eval.labels_per_class": []})
    assert run.training.steps > 0
    assert {r.protocol for r in run.results} == {"linear_probe", "knn"}


def test_channel_mismatch_is_clear(tmp_path):
    data = recipe_from_dict(tiny_recipe_dict())
    recipe = recipe_from_dict({**tiny_recipe_dict(), "encoder": {
        "name": "small_cnn", "kwargs": {"width": 8, "in_channels": 3}}})
    assert data.encoder.kwargs.get("in_channels") is None
    with pytest.raises(DataError, match="1 channel"):
        contrastlearn.pretrain(recipe, out=tmp_path / "run", progress=False)


def test_supervised_method_without_labels_is_refused(tmp_path):
    recipe_dict = tiny_recipe_dict("supcon")
    recipe_dict["train"]["batch_size"] = 32  # 51 samples are left after the holdout
    recipe = recipe_from_dict(recipe_dict)
    with pytest.raises(DataError, match="needs labels"):
        contrastlearn.pretrain(recipe, dataset=np.random.default_rng(0).random((64, 8, 8)),
                               out=tmp_path / "run", progress=False)


def test_geometry_results_recorded(tiny_run):
    by_protocol = {r.protocol: r for r in tiny_run.results}
    test = load_run_data(tiny_run.recipe).test
    embeddings = F.normalize(extract_embeddings(tiny_run.encoder, test.x), dim=1)
    squared = torch.cdist(embeddings, embeddings).pow(2)
    others = ~torch.eye(len(test), dtype=torch.bool)
    uniformity = torch.log(torch.exp(-2 * squared[others]).mean())  # every test digit
    assert by_protocol["uniformity"].value == pytest.approx(float(uniformity), rel=1e-4)
    # two views of one digit lie closer than two different digits do
    different = (embeddings - embeddings.roll(1, dims=0)).pow(2).sum(dim=1).mean()
    assert by_protocol["alignment"].value < float(different)


def test_in_memory_run_needs_its_data_to_evaluate(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.random((80, 8, 8)).astype(np.float32), np.repeat(np.arange(4), 20)
    recipe = recipe_from_dict(tiny_recipe_dict())
    run = contrastlearn.pretrain(recipe, dataset=(x, y), out=tmp_path / "run", progress=False,
                                 evaluate_after=False)
    with pytest.raises(DataError, match="in-memory data"):
        contrastlearn.evaluate(run.run_dir)
    results = contrastlearn.evaluate(run.run_dir, (x, y), protocols=["knn"], labels_per_class=[])
    assert results[0].protocol == "knn"


def test_embed_uses_the_training_scale(tiny_run):
    """Raw digits (0..16) given to embed are scaled exactly as the training data was."""
    from sklearn.datasets import load_digits

    from contrastlearn.data.resolve import resolve_dataset

    raw = load_digits().images[:5]
    splits = resolve_dataset("digits")
    scaled = torch.as_tensor(raw, dtype=torch.float32).unsqueeze(1) / 16.0
    assert float(splits.train.x.max()) == 1.0
    embedded = contrastlearn.embed(tiny_run.run_dir, raw)
    loaded = contrastlearn.load_encoder(tiny_run.run_dir)
    with torch.no_grad():
        assert torch.allclose(embedded, loaded(scaled), atol=1e-5)


def test_method_default_views_are_used_when_recipe_has_none(tmp_path):
    from contrastlearn.api import build_views

    raw = tiny_recipe_dict("byol", hidden_dim=16, predictor_hidden_dim=16)
    raw.pop("views")
    views = build_views(recipe_from_dict(raw), (1, 8, 8))
    assert len(views.pipelines) == 2  # BYOL's two asymmetric pipelines
    assert repr(views.pipelines[0]) != repr(views.pipelines[1])
