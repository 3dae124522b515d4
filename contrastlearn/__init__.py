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
    "RunResult": "contrastlearn.api",
    "load_encoder": "contrastlearn.export",
    "export_encoder": "contrastlearn.export",
    "load_ensemble": "contrastlearn.ensemble",
    "EnsembleEncoder": "contrastlearn.ensemble",
    "load_recipe": "contrastlearn.config",
    "Recipe": "contrastlearn.config",
    "Views": "contrastlearn.augment.views",
    "TimeSeriesEncoder": "contrastlearn.modalities.timeseries.sklearn_api",
    "Method": "contrastlearn.methods.base",
    "AUGMENTATIONS": "contrastlearn.registry",
    "DATASETS": "contrastlearn.registry",
    "ENCODERS": "contrastlearn.registry",
    "EVALUATORS": "contrastlearn.registry",
    "HEADS": "contrastlearn.registry",
    "METHODS": "contrastlearn.registry",
    "VIEW_GENERATORS": "contrastlearn.registry",
    "OBJECTIVES": "contrastlearn.registry",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """Import the public API on first use, so `contrastlearn --help` stays fast."""
    if name not in _LAZY:
        raise AttributeError(f"module 'contrastlearn' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    if name.isupper() or name in {"pretrain", "evaluate", "embed", "load_encoder",
                                  "load_ensemble", "TimeSeriesEncoder"}:
        import contrastlearn.plugins  # noqa: F401
    return getattr(module, name)
