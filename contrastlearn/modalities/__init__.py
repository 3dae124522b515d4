"""Modality packages; importing this registers every modality's parts."""

from contrastlearn.modalities import image, text, timeseries  # noqa: F401
