"""Recommendation methods: LightGCN with BPR, and the contrastive methods built on it;
SASRec with next-item cross-entropy, and the contrastive methods built on it."""

from contrastlearn.modalities.recsys.methods import (  # noqa: F401
    common,
    dccf,
    icsrec,
    lightgcl,
    lightgcn,
    mclrec,
    ncl,
    sequential,
    sgl,
    simgcl,
    xsimgcl,
)
