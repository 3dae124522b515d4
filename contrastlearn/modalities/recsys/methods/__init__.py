"""Recommendation methods: LightGCN with BPR, and the contrastive methods built on it."""

from contrastlearn.modalities.recsys.methods import common, lightgcn  # noqa: F401
