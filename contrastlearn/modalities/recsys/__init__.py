"""The recommendation room: user-item interaction logs, graph and sequential recommenders,
and full-sort ranking evaluation."""

from contrastlearn.modalities.recsys import (  # noqa: F401
    builtin,
    dccf_encoder,
    encoders,
    methods,
    modality,
    sequence_encoder,
    sequence_views,
)
