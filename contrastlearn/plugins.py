"""Importing this module registers every built-in plug-in in the registries, then the rooms
other packages offer through the `contrastlearn.modalities` entry point group. The first read
of any registry imports it (`contrastlearn.core.registry.load_builtins`).

A built-in room whose optional dependency is missing stays unregistered; asking for it says
which extra installs it."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

import contrastlearn.augment.curriculum  # noqa: F401
import contrastlearn.encoders  # noqa: F401
import contrastlearn.engine.class_incremental  # noqa: F401
import contrastlearn.engine.samplers  # noqa: F401
import contrastlearn.evaluation  # noqa: F401
import contrastlearn.heads  # noqa: F401
import contrastlearn.methods  # noqa: F401
import contrastlearn.objectives  # noqa: F401
from contrastlearn.core.registry import MODALITIES
from contrastlearn.data.modality import Modality

ENTRY_POINT_GROUP = "contrastlearn.modalities"
BUILTIN_ROOMS = {"image": "image", "timeseries": "timeseries", "text": "text", "graph": "graph",
                 "recsys": "recsys", "audio": "audio", "multimodal": "all", "tabular": "tabular"}
"""Built-in room name -> the pip extra that installs its dependencies."""


def _register_builtin_room(name: str, extra: str) -> None:
    try:
        importlib.import_module(f"contrastlearn.modalities.{name}")
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] == "contrastlearn":
            raise
        MODALITIES.mark_unavailable(
            name, f"it needs the Python package {error.name!r}: "
                  f"pip install 'contrastlearn[{extra}]'")


def _register_entry_point_rooms() -> None:
    """Each entry point names a `Modality` (or a module that registers one when imported)."""
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry_point.load()
        if isinstance(loaded, Modality) and loaded.name not in MODALITIES:
            MODALITIES.register(loaded.name)(loaded)


for _name, _extra in BUILTIN_ROOMS.items():
    _register_builtin_room(_name, _extra)
_register_entry_point_rooms()
