"""Modality-free methods: each a short composition of views, encoder, head and objective.
Methods that only make sense for one kind of data live in that room's `methods` package."""

from contrastlearn.methods.barlow_twins import BarlowTwins
from contrastlearn.methods.base import Method, encode_views
from contrastlearn.methods.byol import BYOL
from contrastlearn.methods.composed import Composed
from contrastlearn.methods.dcl import DecoupledContrastive
from contrastlearn.methods.moco import MoCoV2
from contrastlearn.methods.simclr import SimCLR
from contrastlearn.methods.simsiam import SimSiam
from contrastlearn.methods.supcon import SupervisedContrastive
from contrastlearn.methods.swav import SwAV
from contrastlearn.methods.vicreg import VICReg

__all__ = [
    "BYOL", "BarlowTwins", "Composed", "DecoupledContrastive", "Method", "MoCoV2", "SimCLR",
    "SimSiam", "SupervisedContrastive", "SwAV", "VICReg", "encode_views",
]
