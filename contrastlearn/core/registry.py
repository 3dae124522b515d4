"""One registry class for every kind of plug-in (augmentations, encoders, heads, objectives,
methods, datasets, evaluators, modalities), so that recipes can name any part by a string.

A registry fills itself on first read: it imports `BUILTINS` (the module that registers every
built-in part and the third-party modalities of the `contrastlearn.modalities` entry point
group), so `METHODS.names()` lists every method without the caller importing anything."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from contrastlearn.core.sentences import first_sentence

T = TypeVar("T")

BUILTINS = "contrastlearn.plugins"
"""Imported by the first read of any registry; named by string so this module stays a leaf."""
_loaded = False


def load_builtins() -> None:
    """Register every built-in plug-in (once; later calls return at once)."""
    global _loaded
    if not _loaded:
        _loaded = True
        importlib.import_module(BUILTINS)


class Registry(Generic[T]):
    """A named table of factories of one kind; `build(name, **kwargs)` makes one."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._descriptions: dict[str, str] = {}
        self._unavailable: dict[str, str] = {}
        self._tags: dict[str, dict[str, str]] = {}

    def register(self, name: str | None = None, description: str = "",
                 **tags: str) -> Callable[[T], T]:
        """Decorator that registers a class or function under `name` (default: its own name);
        `tags` are facts about it that callers may ask for (a dataset's `modality`)."""

        def decorate(factory: T) -> T:
            key = name or getattr(factory, "__name__", None)
            if not key:
                raise ValueError(f"cannot infer a {self.kind} name for {factory!r}")
            if key in self._entries and self._entries[key] is not factory:
                raise ValueError(f"{self.kind} {key!r} is already registered")
            self._entries[key] = factory
            doc = getattr(factory, "__doc__", None) or ""
            self._descriptions[key] = description or first_sentence(doc)
            self._tags[key] = dict(tags)
            return factory

        return decorate

    def mark_unavailable(self, name: str, reason: str) -> None:
        """`name` is a known built-in that cannot be used here (a missing optional dependency):
        asking for it raises `reason`, which says how to install it."""
        self._unavailable[name] = reason

    def unavailable(self) -> dict[str, str]:
        """Known parts that cannot be used here, each with how to make it usable."""
        load_builtins()
        return dict(self._unavailable)

    def get(self, name: str) -> T:
        load_builtins()
        try:
            return self._entries[name]
        except KeyError:
            if name in self._unavailable:
                raise KeyError(f"{self.kind} {name!r} is not available: "
                               f"{self._unavailable[name]}") from None
            close = difflib.get_close_matches(name, list(self._entries), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}.{hint} Known: {known}") from None

    def build(self, name: str, **kwargs: Any) -> Any:
        factory = self.get(name)
        if not callable(factory):
            raise TypeError(f"{self.kind} {name!r} is not callable")
        return factory(**kwargs)

    def describe(self, name: str) -> str:
        self.get(name)
        return self._descriptions[name]

    def tags(self, name: str) -> dict[str, str]:
        """The facts `name` was registered with (empty when none)."""
        self.get(name)
        return dict(self._tags.get(name, {}))

    def names(self) -> list[str]:
        load_builtins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        load_builtins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        load_builtins()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


AUGMENTATIONS: Registry[Any] = Registry("augmentation")
ENCODERS: Registry[Any] = Registry("encoder")
VIEW_GENERATORS: Registry[Any] = Registry("view generator")
HEADS: Registry[Any] = Registry("head")
OBJECTIVES: Registry[Any] = Registry("objective")
METHODS: Registry[Any] = Registry("method")
METHOD_OPTIONS: Registry[Any] = Registry("method option")
DATASETS: Registry[Any] = Registry("dataset")
EVALUATORS: Registry[Any] = Registry("evaluator")
MODALITIES: Registry[Any] = Registry("modality")
BATCH_SAMPLERS: Registry[Any] = Registry("batch sampler")
STRENGTH_SCHEDULES: Registry[Any] = Registry("strength schedule")
