"""Methods of the text room: SimCSE and its descendants, and pair/triple training."""

from contrastlearn.modalities.text.methods.esimcse import ESimCSE
from contrastlearn.modalities.text.methods.pairs import Pairs
from contrastlearn.modalities.text.methods.simcse import SimCSE, SupervisedSimCSE
from contrastlearn.modalities.text.methods.whitenedcse import WhitenedCSE

__all__ = ["ESimCSE", "Pairs", "SimCSE", "SupervisedSimCSE", "WhitenedCSE"]
