"""Feature-space views: positives made from the embeddings themselves rather than from the
data (positive extrapolation, HaLP, Hallucinator, adversarial positives), as modules a method
applies to its view embeddings just before its loss.

A `FeatureView` maps the list of (B, D) view embeddings (rows of one item aligned across
views) to a new list: it may replace views or append new ones, which the loss then treats as
further views of the same items. Its randomness comes from torch's default generator, whose
state the engine saves and restores, so a resumed run draws the same feature views.
"""

from __future__ import annotations

from torch import Tensor, nn


class FeatureView(nn.Module):
    """Base of every feature-space view generator: `forward(z_views) -> z_views`."""

    def forward(self, z_views: list[Tensor]) -> list[Tensor]:
        raise NotImplementedError
