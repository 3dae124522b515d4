"""contrastlearn: contrastive self-supervised learning driven by data augmentation.

    import contrastlearn
    run = contrastlearn.pretrain()                      # SimCLR on the embedded digits
    encoder = contrastlearn.load_encoder(run.run_dir)
    results = contrastlearn.evaluate(encoder, "digits")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "pretrain": "contrastlearn.api",
    "evaluate": "contrastlearn.api",
    "embed": "contrastlearn.api",
    "recommend": "contrastlearn.api",
    "RunResult": "contrastlearn.api",
    "load_encoder": "contrastlearn.export",
    "export_encoder": "contrastlearn.export",
    "load_ensemble": "contrastlearn.ensemble",
    "EnsembleEncoder": "contrastlearn.ensemble",
    "load_recipe": "contrastlearn.config",
    "Recipe": "contrastlearn.config",
    "Views": "contrastlearn.augment.views",
    "ContrastiveEncoder": "contrastlearn.estimator",
    "TimeSeriesEncoder": "contrastlearn.estimator",
    "TabularEncoder": "contrastlearn.estimator",
    "Method": "contrastlearn.methods.base",
    "AUGMENTATIONS": "contrastlearn.core.registry",
    "DATASETS": "contrastlearn.core.registry",
    "ENCODERS": "contrastlearn.core.registry",
    "EVALUATORS": "contrastlearn.core.registry",
    "HEADS": "contrastlearn.core.registry",
    "METHODS": "contrastlearn.core.registry",
    "VIEW_GENERATORS": "contrastlearn.core.registry",
    "OBJECTIVES": "contrastlearn.core.registry",
    "MODALITIES": "contrastlearn.core.registry",
    "Modality": "contrastlearn.data.modality",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """Import the public API on first use, so `contrastlearn --help` stays fast."""
    if name not in _LAZY:
        raise AttributeError(f"module 'contrastlearn' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
