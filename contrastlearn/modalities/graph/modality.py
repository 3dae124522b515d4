"""The graph room's `Modality`: one graph whose nodes are the samples (node level) or many
graphs that are the samples (graph level), as PyTorch Geometric data, edge lists, `.pt` files
and molecule files; drawings of the views; node classification at 1/10/80 % labels, link
prediction and clustering (node level) or the 10-fold SVM (graph level) after every run."""

from __future__ import annotations

from typing import Any

from contrastlearn.core.registry import MODALITIES
from contrastlearn.data.arrays import DatasetSplits
from contrastlearn.data.modality import Modality
from contrastlearn.modalities.graph.data import graph_samples, graph_split_arrays
from contrastlearn.modalities.graph.files import FILE_READERS, read_molecule_folder
from contrastlearn.modalities.graph.options import GraphOptions
from contrastlearn.modalities.graph.preview import write_graph_preview


def graph_encoder_inputs(splits: DatasetSplits) -> dict[str, Any]:
    """Graph encoders read `num_features` node features, which only the data knows."""
    return {"num_features": splits.train.num_features}


GRAPH = MODALITIES.register("graph")(Modality(
    name="graph",
    description="graphs: PyG Data (node level) or lists of Data (graph level), edge lists "
                "(.csv/.tsv/.edges/.txt), .pt files, .sdf/.smi molecule files and folders",
    split_arrays=graph_split_arrays,
    to_samples=graph_samples,
    options=GraphOptions,
    file_readers=FILE_READERS,
    read_folder=read_molecule_folder,
    accepts_objects=True,
    encoder_inputs=graph_encoder_inputs,
    preview=write_graph_preview,
    default_recipe="grace",
    protocols=("logistic_regression",),
    extra="graph",
))
