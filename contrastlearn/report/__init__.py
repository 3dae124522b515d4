"""Run reporting: the pictures of a run (training curves, similarity histograms, embedding maps,
augmentation previews, strength sweeps), each written as a PNG and returned as bytes."""

from contrastlearn.report.plots import (
    PREVIEW_STYLES,
    plot_augmentation_preview,
    plot_embedding_map,
    plot_similarity_histograms,
    plot_strength_sweep,
    plot_training_curves,
)

__all__ = [
    "PREVIEW_STYLES",
    "plot_augmentation_preview",
    "plot_embedding_map",
    "plot_similarity_histograms",
    "plot_strength_sweep",
    "plot_training_curves",
]
