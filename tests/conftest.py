"""Shared fixtures: a tiny, fast recipe on the embedded digits."""

from __future__ import annotations

import os

import pytest

from contrastlearn.config import recipe_from_dict


def require_system_data(available: bool, install: str) -> None:
    """Skip when optional system data is absent, except in CI where it must be installed."""
    if available:
        return
    if os.environ.get("CONTRASTLEARN_REQUIRE_SYSTEM_DATA"):
        pytest.fail(f"system data missing in CI; install with: {install}")
    pytest.skip(f"system data missing; install with: {install}")


def tiny_recipe_dict(method: str = "simclr", **method_kwargs) -> dict:
    return {
        "name": f"tiny-{method}",
        "data": {"dataset": "digits", "limit": 256},
        "views": {"name": "simclr_views", "kwargs": {"scale": [0.5, 1.0], "strength": 0.5}},
        "encoder": {"name": "small_cnn", "kwargs": {"width": 8, "out_dim": 16}},
        "method": {"name": method, "kwargs": method_kwargs},
        "train": {"epochs": 2, "batch_size": 64, "lr": 0.003, "log_every_steps": 1,
                  "warmup_epochs": 0.5, "accelerator": "cpu"},
        "eval": {"labels_per_class": [5], "few_label_seeds": [0, 1]},
    }


@pytest.fixture
def tiny_recipe():
    return recipe_from_dict(tiny_recipe_dict())


@pytest.fixture
def no_report(monkeypatch):
    """`pretrain` writes no report.html and no views picture: seconds of plotting per run
    that tests of training do not look at (tests/report and the rooms' own tests cover
    both). Modules opt in with `pytestmark = pytest.mark.usefixtures("no_report")`."""
    from contrastlearn import api

    monkeypatch.setattr(api, "write_report", lambda *args, **kwargs: None)
    monkeypatch.setattr(api, "_write_preview", lambda *args, **kwargs: None)


@pytest.fixture
def one_thread():
    """Tiny models gain nothing from threads; one thread keeps their tests fast on a busy
    machine (modules opt in with `pytestmark = pytest.mark.usefixtures("one_thread")`)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
