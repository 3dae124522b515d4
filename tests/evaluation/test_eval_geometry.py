"""Alignment and uniformity of a run's test embeddings: views that give the same input twice
(dropout-only text views) get no alignment, which would be 0 by construction."""

from __future__ import annotations

import torch
from torch import nn

from contrastlearn.api import geometry_results
from contrastlearn.augment.base import Augmentation, Identity
from contrastlearn.augment.views import Views
from contrastlearn.data.arrays import ArrayDataset
from contrastlearn.evaluation.table import comparison_table


class Noise(Augmentation):
    """Adds Gaussian noise of standard deviation `sigma`."""

    def __init__(self, sigma: float = 0.5) -> None:
        self.sigma = sigma

    def apply(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        return x + self.sigma * noise


def _geometry(views: Views):
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Dropout(0.5), nn.Linear(6, 4))
    test = ArrayDataset(torch.randn(32, 6))
    return geometry_results(encoder, test, views, split="test", device="cpu")


def test_identical_views_give_uniformity_and_a_note_but_no_alignment():
    results = _geometry(Views([Identity(), Identity()]))
    assert [r.protocol for r in results] == ["uniformity"]
    assert "alignment left out" in results[0].settings["note"]
    printed = comparison_table(results)
    assert "alignment =" not in printed and "note: alignment left out" in printed


def test_different_views_give_alignment_and_uniformity():
    results = _geometry(Views([Identity(), Noise()]))
    assert [r.protocol for r in results] == ["alignment", "uniformity"]
    assert results[0].value > 0 and "note" not in results[1].settings
    assert results[0].settings["views"] == "view 1: Identity(); view 2: Noise(sigma=0.5)"
