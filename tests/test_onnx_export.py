"""ONNX export of every room's encoder: onnxruntime gives torch's embeddings on batch sizes
(and series lengths) other than the export example's; the CLI writes a run's graph."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from contrastlearn.cli import main
from contrastlearn.modalities.image.encoders import SmallCNN
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder
from contrastlearn.onnx_export import export_onnx, read_onnx_metadata
from tests.conftest import tiny_recipe_dict

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

ATOL = 1e-4


def run_graph(path, feed: dict) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["embeddings"], feed)[0]


def trained_bn(encoder: nn.Module, x: torch.Tensor) -> nn.Module:
    """Batch-norm statistics that are not the initial ones, so eval mode matters."""
    encoder.train()
    with torch.no_grad():
        for _ in range(3):
            encoder(x)
    return encoder.eval()


def test_image_encoder_graph_matches_torch(tmp_path):
    torch.manual_seed(0)
    encoder = trained_bn(SmallCNN(in_channels=1, width=8, out_dim=16), torch.rand(16, 1, 8, 8))
    path = export_onnx(encoder, tmp_path / "image.onnx", example=torch.rand(3, 1, 8, 8),
                       exporter="torchscript")
    x = torch.rand(7, 1, 8, 8)
    with torch.no_grad():
        expected = encoder(x).numpy()
    got = run_graph(path, {"inputs": x.numpy()})
    assert got.shape == (7, 16)
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)
    metadata = read_onnx_metadata(path)
    assert metadata["modality"] == "image" and metadata["exporter"] == "torchscript"
    assert metadata["dynamic_axes"] == {"inputs": {"0": "batch"}}


def test_series_encoder_graph_has_dynamic_batch_and_length(tmp_path):
    torch.manual_seed(0)
    encoder = TS2VecEncoder(in_channels=2, hidden_dim=8, out_dim=16, depth=2).eval()
    path = export_onnx(encoder, tmp_path / "series.onnx", example=torch.randn(3, 2, 40))
    metadata = read_onnx_metadata(path)
    assert metadata["exporter"] == "dynamo"  # the default exporter works for series
    assert metadata["dynamic_axes"] == {"inputs": {"0": "batch", "2": "length"}}
    for batch, length in ((5, 57), (1, 23)):
        x = torch.randn(batch, 2, length)
        x[0, :, length - 6:] = float("nan")  # a shorter series, NaN-padded at the end
        with torch.no_grad():
            expected = encoder(x).numpy()
        got = run_graph(path, {"inputs": x.numpy()})
        assert got.shape == (batch, 16) and np.isfinite(got).all()
        np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)


class FlatSeries(nn.Module):
    """A series encoder bound to one length (a Linear over every timestamp)."""

    def __init__(self, length: int) -> None:
        super().__init__()
        self.out_dim = 4
        self.linear = nn.Linear(length, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


def test_a_length_the_encoder_fixes_stays_fixed(tmp_path):
    encoder = FlatSeries(12)
    with pytest.warns(RuntimeWarning, match="exported with torchscript"):
        path = export_onnx(encoder, tmp_path / "flat.onnx", example=torch.randn(2, 1, 12),
                           modality="timeseries", exporter="torchscript")
    assert read_onnx_metadata(path)["dynamic_axes"] == {"inputs": {"0": "batch"}}
    x = torch.randn(6, 1, 12)
    np.testing.assert_allclose(run_graph(path, {"inputs": x.numpy()}),
                               encoder(x).detach().numpy(), atol=ATOL, rtol=0)


def test_auto_falls_back_to_torchscript_and_bad_input_is_clear(tmp_path, monkeypatch):
    import contrastlearn.onnx_export as onnx_export

    def broken(*args, **kwargs):
        raise RuntimeError("no dynamo here")

    monkeypatch.setattr(onnx_export, "_export_dynamo", broken)
    encoder = SmallCNN(in_channels=1, width=4, out_dim=8).train()
    with pytest.warns(RuntimeWarning, match="no dynamo here"):
        path = export_onnx(encoder, tmp_path / "m.onnx", example=np.random.rand(1, 1, 8, 8))
    assert read_onnx_metadata(path)["exporter"] == "torchscript"
    assert encoder.training  # the caller's mode comes back
    with pytest.raises(ValueError, match="input_shape"):
        export_onnx(encoder, tmp_path / "n.onnx")
    with pytest.raises(ValueError, match="exporter"):
        export_onnx(encoder, tmp_path / "n.onnx", example=torch.rand(2, 1, 8, 8),
                    exporter="tflite")


@pytest.fixture
def no_pictures(monkeypatch):
    """Runs here are only exported: skip their report and view preview (seconds of plots)."""
    import contrastlearn.api

    monkeypatch.setattr(contrastlearn.api, "write_report", lambda *args, **kwargs: None)
    monkeypatch.setattr(contrastlearn.api, "_write_preview", lambda *args, **kwargs: None)


def test_cli_exports_an_image_run(tmp_path, capsys, no_pictures):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(json.dumps(tiny_recipe_dict()))
    run = tmp_path / "run"
    assert main(["pretrain", "--recipe", str(recipe), "--max-steps", "2", "--batch-size", "32",
                 "--out", str(run), "--no-progress", "--set", "data.limit=64",
                 "--set", "eval.protocols=[knn]", "--set", "eval.labels_per_class=[]",
                 "--set", "eval.raw_baseline=false"]) == 0
    capsys.readouterr()
    assert main(["export", str(run), "--format", "onnx", "--exporter", "torchscript",
                 "--output", str(tmp_path / "onnx")]) == 0
    assert "model.onnx" in capsys.readouterr().out
    config = json.loads((tmp_path / "onnx" / "onnx_config.json").read_text())
    assert config["modality"] == "image" and config["input_scale"] == 16.0
    x = np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32)
    import contrastlearn

    expected = contrastlearn.embed(run, x * 16.0).numpy()  # embed divides by the input scale
    np.testing.assert_allclose(run_graph(tmp_path / "onnx" / "model.onnx", {"inputs": x}),
                               expected, atol=ATOL, rtol=0)

    assert main(["export", str(run), "--format", "safetensors",
                 "--output", str(tmp_path / "st")]) == 0
    assert (tmp_path / "st" / "model.safetensors").is_file()
    torch.testing.assert_close(contrastlearn.embed(tmp_path / "st", x * 16.0,
                                                   modality="image"), torch.from_numpy(expected))
    assert main(["export", str(run), "--format", "safetensors",
                 "--output", str(tmp_path / "st")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["export", str(run), "--format", "transformers",
                 "--output", str(tmp_path / "hf")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not fit" in err and "image run" in err
    assert "its formats: onnx, safetensors" in err


TEXTS = ["the cat sleeps on the warm mat", "a dog barks at the mailman",
         "the bank raised interest rates", "stocks fell sharply on monday",
         "birds sing in the old tree", "investors sold their shares"] * 2


def test_cli_exports_a_text_run_that_runs_with_its_tokenizer(tmp_path, monkeypatch,
                                                          no_pictures):
    monkeypatch.setenv("CONTRASTLEARN_CACHE", str(tmp_path / "cache"))
    import contrastlearn

    overrides = {"encoder.name": "scratch_text_encoder",
                 "encoder.kwargs": {"vocab_size": 200, "dim": 16, "depth": 1, "heads": 2,
                                    "max_length": 24, "min_frequency": 1, "pooling": "sif"},
                 "train.steps": 2, "train.batch_size": 4, "train.accelerator": "cpu"}
    run = contrastlearn.pretrain("simcse", dataset=TEXTS, out=tmp_path / "run",
                                 overrides=overrides, progress=False, evaluate_after=False)
    assert main(["export", str(run.run_dir), "--format", "onnx",
                 "--output", str(tmp_path / "onnx")]) == 0
    folder = tmp_path / "onnx"
    config = json.loads((folder / "onnx_config.json").read_text())
    assert config["inputs"] == ["input_ids", "attention_mask"] and config["max_length"] == 24
    # what a consumer without contrastlearn does: the saved tokenizer, padded, plus the mask
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_padding(pad_id=config["pad_id"])
    tokenizer.enable_truncation(config["max_length"])
    texts = ["the warm cat", "stocks and shares fell sharply again on monday", "a dog",
             "birds", "the mailman sold the old tree"]
    encodings = tokenizer.encode_batch(texts)
    feed = {"input_ids": np.array([item.ids for item in encodings], dtype=np.int64),
            "attention_mask": np.array([item.attention_mask for item in encodings],
                                       dtype=np.int64)}
    got = run_graph(folder / "model.onnx", feed)
    expected = contrastlearn.embed(run.run_dir, texts).numpy()
    assert got.shape == (5, 16)
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)


@pytest.mark.slow
def test_minilm_graph_matches_torch(tmp_path):
    from contrastlearn.core.registry import ENCODERS
    from contrastlearn.modalities.text.onnx import text_inputs

    encoder = ENCODERS.build("hf_text_encoder", max_length=32).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = export_onnx(encoder, tmp_path / "minilm.onnx")
    texts = ["a much longer sentence than any of the traced examples", "hi", "three words"]
    with torch.no_grad():
        expected = encoder(encoder.tokenizer(texts)).numpy()
    np.testing.assert_allclose(run_graph(path, text_inputs(encoder, texts)), expected,
                               atol=ATOL, rtol=0)
