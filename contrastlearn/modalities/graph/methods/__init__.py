"""Methods of the graph room: DGI, MVGRL, GraphMAE and GRACE (with POT)."""

from contrastlearn.modalities.graph.methods.dgi import DGI
from contrastlearn.modalities.graph.methods.grace import GRACE
from contrastlearn.modalities.graph.methods.graphmae import GraphMAE, graph_identity_views
from contrastlearn.modalities.graph.methods.mvgrl import MVGRL

__all__ = ["DGI", "GRACE", "MVGRL", "GraphMAE", "graph_identity_views"]
