"""Objectives: one loss family per module, each registered in `OBJECTIVES` on import."""

from contrastlearn.objectives.alignment_uniformity import (
    AlignmentUniformity,
    alignment,
    uniformity,
)
from contrastlearn.objectives.amcl import AMCL
from contrastlearn.objectives.barlow_twins import BarlowTwins
from contrastlearn.objectives.base import LossOutput, default_ids, stack_views
from contrastlearn.objectives.blocked import BlockedInfoNCE
from contrastlearn.objectives.cacr import CACR
from contrastlearn.objectives.clip import CLIPLoss
from contrastlearn.objectives.contrastive_gap import ContrastiveGapLoss
from contrastlearn.objectives.dcl import DCL, DCLW
from contrastlearn.objectives.feature_negatives import AdversarialNegatives, NegativeInterpolation
from contrastlearn.objectives.hard_negatives import (
    ClusterNegatives,
    DebiasedWeights,
    FalseNegativeCancellation,
    HardNegativeMixing,
)
from contrastlearn.objectives.hierarchical import HierarchicalContrastive
from contrastlearn.objectives.hydra import Hydra
from contrastlearn.objectives.infonce import InfoNCE
from contrastlearn.objectives.local_global import LocalGlobalBCE
from contrastlearn.objectives.multiple_negatives import MultipleNegativesRanking
from contrastlearn.objectives.negative_cosine import NegativeCosine
from contrastlearn.objectives.pairwise import PairwiseContrast
from contrastlearn.objectives.queue import MemoryQueue
from contrastlearn.objectives.siglip import SigLIPLoss
from contrastlearn.objectives.soft_targets import SoftTargets
from contrastlearn.objectives.supcon import SupCon
from contrastlearn.objectives.swav import SwAV, sinkhorn_knopp
from contrastlearn.objectives.symile import SymileLoss, multilinear_inner_product
from contrastlearn.objectives.vicreg import VICReg
from contrastlearn.objectives.whitening import shuffled_group_whitening

__all__ = [
    "AMCL",
    "CACR",
    "DCL",
    "DCLW",
    "AdversarialNegatives",
    "AlignmentUniformity",
    "BarlowTwins",
    "BlockedInfoNCE",
    "CLIPLoss",
    "ClusterNegatives",
    "ContrastiveGapLoss",
    "DebiasedWeights",
    "FalseNegativeCancellation",
    "HardNegativeMixing",
    "HierarchicalContrastive",
    "Hydra",
    "InfoNCE",
    "LocalGlobalBCE",
    "LossOutput",
    "MemoryQueue",
    "MultipleNegativesRanking",
    "NegativeCosine",
    "NegativeInterpolation",
    "PairwiseContrast",
    "SigLIPLoss",
    "SoftTargets",
    "SupCon",
    "SwAV",
    "SymileLoss",
    "VICReg",
    "alignment",
    "default_ids",
    "multilinear_inner_product",
    "shuffled_group_whitening",
    "sinkhorn_knopp",
    "stack_views",
    "uniformity",
]
