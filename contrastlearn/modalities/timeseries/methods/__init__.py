"""Methods of the time-series room: TS2Vec, SoftCLT and TS-TCC."""

from contrastlearn.modalities.timeseries.methods.softclt import SoftCLT
from contrastlearn.modalities.timeseries.methods.ts2vec import TS2Vec
from contrastlearn.modalities.timeseries.methods.ts_tcc import TSTCC

__all__ = ["TS2Vec", "SoftCLT", "TSTCC"]
