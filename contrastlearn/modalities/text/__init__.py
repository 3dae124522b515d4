"""Text: sentences as token ids of the encoder's own tokenizer. Importing this package registers
its views, its modality, its file readers, its encoders and the built-in corpora."""

from contrastlearn.modalities.text import (  # noqa: F401
    augment,
    builtin,
    data,
    encoders,
    learned_augmentation,
    methods,
    modality,
    pipeline,
    scratch,
)
