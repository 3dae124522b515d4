"""Modality-free view machinery; importing it registers the feature-space positives in
`METHOD_OPTIONS`."""

import contrastlearn.augment.feature_positives  # noqa: F401
