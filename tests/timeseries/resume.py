"""A shared check: a run stopped half way and resumed ends where an uninterrupted one does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

import contrastlearn


def assert_resumes_exactly(full_run: Any, recipe: str, dataset: str, overrides: dict,
                           folder: Path, stop_at: int) -> None:
    """Train `recipe` to step `stop_at` in folder/half, resume it to the end, and compare
    every tensor of the method's state with `full_run`'s (same recipe and overrides)."""
    half = contrastlearn.pretrain(recipe, dataset=dataset, out=folder / "half",
                                  overrides={**overrides, "train.max_steps": stop_at},
                                  progress=False, evaluate_after=False)
    assert half.training.status == "stopped_early"
    resumed = contrastlearn.pretrain(out=folder / "half", dataset=dataset, resume=True,
                                     overrides={"train.max_steps": None}, progress=False,
                                     evaluate_after=False)
    for (name, a), b in zip(full_run.method.state_dict().items(),
                            resumed.method.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
