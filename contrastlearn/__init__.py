"""contrastlearn: contrastive self-supervised learning driven by data augmentation."""

__version__ = "0.1.0"
