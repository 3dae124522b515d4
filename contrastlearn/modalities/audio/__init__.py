"""Audio: (n, 1, samples) mono waveforms of a fixed length. Importing this package registers
its views, encoders, methods, modality and the built-in `spoken-words` keyword set."""

from contrastlearn.modalities.audio import (  # noqa: F401
    augment,
    builtin,
    encoders,
    features,
    methods,
    modality,
)
