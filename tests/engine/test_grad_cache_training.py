"""Gradient caching inside the trainer: a run with `train.gradient_cache_chunk` trains to the
same weights as the plain run, and methods or models it would get wrong are refused."""

from __future__ import annotations

import pytest
import torch

import contrastlearn
from contrastlearn.config import recipe_from_dict
from contrastlearn.engine.trainer import Trainer

pytestmark = pytest.mark.usefixtures("no_report")

TEXTS = [f"{animal} {verb} the {place}" for animal in ("cat", "dog", "bird", "cow")
         for verb in ("sees", "leaves") for place in ("barn", "field", "house")]


def text_run(tmp_path, name: str, **train) -> torch.nn.Module:
    overrides = {"encoder.name": "scratch_text_encoder",
                 "encoder.kwargs": {"vocab_size": 80, "dim": 16, "depth": 1, "heads": 2,
                                    "max_length": 12, "dropout": 0.0, "min_frequency": 1},
                 "train.steps": 2, "train.batch_size": 8, "train.lr": 0.1,
                 "train.optimizer": "sgd",  # Adam would magnify float32 rounding in ~0 grads
                 "train.warmup_epochs": 0, **{f"train.{key}": value
                                              for key, value in train.items()}}
    return contrastlearn.pretrain("simcse", dataset=TEXTS, out=tmp_path / name,
                                  overrides=overrides, progress=False,
                                  evaluate_after=False).encoder


def test_cached_training_matches_the_full_batch(tmp_path):
    plain = text_run(tmp_path, "plain")
    for chunk in (1, 3, 8):
        cached = text_run(tmp_path, f"chunk{chunk}", gradient_cache_chunk=chunk)
        for key, value in plain.state_dict().items():
            torch.testing.assert_close(cached.state_dict()[key], value, atol=2e-5, rtol=1e-4,
                                       msg=f"{key} differs with chunk {chunk}")


def tiny_trainer(tmp_path, method: str, **method_kwargs) -> Trainer:
    from contrastlearn.api import build_encoder, build_method, build_views, load_run_data

    recipe = recipe_from_dict({
        "data": {"dataset": "digits", "limit": 64},
        "encoder": {"name": "mlp", "kwargs": {"hidden_dims": [16], "out_dim": 8}},
        "method": {"name": method, "kwargs": method_kwargs},
        "train": {"steps": 1, "batch_size": 16, "gradient_cache_chunk": 4,
                  "accelerator": "cpu"},
    })
    splits = load_run_data(recipe)
    encoder, _ = build_encoder(recipe, splits)
    shape = tuple(splits.train.x.shape[1:])
    return Trainer(build_method(recipe, encoder, shape), build_views(recipe, shape),
                   recipe.train, run_dir=tmp_path / "run", progress=False)


def test_methods_and_models_that_caching_would_get_wrong_are_refused(tmp_path):
    with pytest.raises(ValueError, match="does not support gradient caching"):
        tiny_trainer(tmp_path, "byol")
    with pytest.raises(ValueError, match="BatchNorm"):
        tiny_trainer(tmp_path, "simclr")  # its projector normalises each chunk on its own
