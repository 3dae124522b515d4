"""Tabular methods: VIME self-supervised (mask estimation plus feature reconstruction). SCARF
is the library's SimCLR with the `scarf_views` policy (recipe `scarf`)."""

from contrastlearn.modalities.tabular.methods import vime  # noqa: F401
