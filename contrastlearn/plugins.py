"""Importing this module registers every built-in plug-in in the registries."""

import contrastlearn.encoders  # noqa: F401
import contrastlearn.evaluation  # noqa: F401
import contrastlearn.heads  # noqa: F401
import contrastlearn.methods  # noqa: F401
import contrastlearn.modalities  # noqa: F401
import contrastlearn.objectives  # noqa: F401
