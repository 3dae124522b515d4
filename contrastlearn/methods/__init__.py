"""Methods: each a short composition of views, encoder, head and objective."""

from contrastlearn.methods.barlow_twins import BarlowTwins
from contrastlearn.methods.base import Method, encode_views
from contrastlearn.methods.byol import BYOL
from contrastlearn.methods.dcl import DecoupledContrastive
from contrastlearn.methods.moco import MoCoV2
from contrastlearn.methods.simclr import SimCLR
from contrastlearn.methods.simsiam import SimSiam
from contrastlearn.methods.supcon import SupervisedContrastive
from contrastlearn.methods.swav import SwAV
from contrastlearn.methods.ts2vec import TS2Vec
from contrastlearn.methods.ts_tcc import TSTCC
from contrastlearn.methods.vicreg import VICReg

__all__ = [
    "BYOL", "BarlowTwins", "DecoupledContrastive", "Method", "MoCoV2", "SimCLR", "SimSiam",
    "SupervisedContrastive", "SwAV", "TS2Vec", "TSTCC", "VICReg", "encode_views",
]
