"""Time series: (n, channels, length) arrays, NaN-padded when lengths differ. Importing this
package registers its views, its modality and the aeon-bundled datasets."""

from contrastlearn.modalities.timeseries import (  # noqa: F401
    augment,
    conv_encoders,
    data,
    encoders,
    files,
    learned_augmentation,
    long_series,
    methods,
    modality,
    transformer_encoder,
)
