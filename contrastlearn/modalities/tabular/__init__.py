"""Tables: numeric and categorical columns as (n, width) float rows (see `schema`). Importing
this package registers its views, encoders, methods, modality and built-in tables."""

from contrastlearn.modalities.tabular import (  # noqa: F401
    augment,
    builtin,
    encoders,
    matching,
    methods,
    modality,
)
