"""Time series: (n, channels, length) arrays, NaN-padded when lengths differ. Importing this
package registers its views, its modality and the aeon-bundled datasets."""

from contrastlearn.modalities.timeseries import augment, data, encoders  # noqa: F401
