"""Recommendation methods: LightGCN with BPR, and the contrastive methods built on it."""

from contrastlearn.modalities.recsys.methods import common, dccf, lightgcn  # noqa: F401
