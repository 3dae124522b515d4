"""The graph room: node-level graphs (nodes are the samples) and graph-level data (graphs are
the samples) as `GraphBatch`es."""

import torch_geometric  # noqa: F401  (first: without it the room registers nothing)

from contrastlearn.modalities.graph import (  # noqa: F401
    augment,
    builtin,
    community,
    data,
    diffusion,
    encoders,
    files,
    knowledge,
    methods,
    modality,
)
