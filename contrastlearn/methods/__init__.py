"""Methods: each a short composition of views, encoder, head and objective."""

from contrastlearn.methods.barlow_twins import BarlowTwins
from contrastlearn.methods.base import Method, encode_views
from contrastlearn.methods.byol import BYOL
from contrastlearn.methods.dcl import DecoupledContrastive
from contrastlearn.methods.esimcse import ESimCSE
from contrastlearn.methods.moco import MoCoV2
from contrastlearn.methods.pairs import Pairs
from contrastlearn.methods.simclr import SimCLR
from contrastlearn.methods.simcse import SimCSE, SupervisedSimCSE
from contrastlearn.methods.simsiam import SimSiam
from contrastlearn.methods.softclt import SoftCLT
from contrastlearn.methods.supcon import SupervisedContrastive
from contrastlearn.methods.swav import SwAV
from contrastlearn.methods.ts2vec import TS2Vec
from contrastlearn.methods.ts_tcc import TSTCC
from contrastlearn.methods.vicreg import VICReg
from contrastlearn.methods.whitenedcse import WhitenedCSE

__all__ = [
    "BYOL", "BarlowTwins", "DecoupledContrastive", "ESimCSE", "Method", "MoCoV2", "Pairs",
    "SimCLR", "SimCSE", "SimSiam", "SoftCLT", "SupervisedContrastive", "SupervisedSimCSE", "SwAV",
    "TS2Vec", "TSTCC", "VICReg", "WhitenedCSE", "encode_views",
]
