"""The contract every room fulfils: one `Modality` object, registered in `MODALITIES`, owns
everything that depends on the kind of data, so nothing else in the library guesses it."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from contrastlearn.data.arrays import DataError, DatasetSplits

ArraySplitter = Callable[..., DatasetSplits]
"""`(x, y=None, x_test=None, y_test=None, ..., *, name, holdout_fraction, seed) -> splits`."""
FolderReader = Callable[..., DatasetSplits]
"""`(path, *, holdout_fraction, seed, **options it accepts) -> splits`."""
FileReader = Callable[..., dict[str, Any]]
"""`(path, **options it accepts) -> arrays the splitter takes` (x, y, x_test, y_test, ...)."""


class NoOptions(BaseModel):
    """A modality without options of its own: any key under `data.options` is an error."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Modality:
    """One kind of data (a room). Required: `name`, `split_arrays` (arrays -> train/test
    splits) and `to_samples` (raw inputs -> validated samples to embed). Everything else has a
    default that fits array data whose samples are tensors.

    - `options`: the pydantic schema of the recipe's `data.options` for this modality.
    - `file_readers`: lower-case suffix (".ts") -> reader; `read_folder`: reads a folder.
    - `accepts_objects`: `split_arrays` also takes objects `resolve_dataset` does not know
      (a list of strings).
    - `encoder_inputs(splits)`: encoder kwargs the data decides (a corpus for a tokenizer);
      `prepare_splits(splits, encoder)` / `prepare_samples(samples, encoder)`: the data as the
      built encoder reads it (token ids); `training_data(data, options)`: the training split
      as the engine should draw it (length buckets).
    - `view_inputs(sample_shape, encoder)`: kwargs offered to the view factory (image size,
      tokenizer), passed only to factories that accept them.
    - `preview`: a picture style name of `contrastlearn.report.plots.PREVIEW_STYLES`, or a
      function `(views, samples, plots_dir, *, encoder, seed)` that writes the room's own.
    - `read_pairs(path, options)`: scored pairs for the similarity protocol from a file that is
      not a .npz.
    - `free_axes`: batch axes besides the first whose size may differ between inputs (a
      series' length, axis 2): embedding does not hold inputs to the trained shape there, and
      an ONNX graph keeps them dynamic.
    - `onnx_graph(encoder, example)`: for encoders that do not read one tensor (text), the
      module to export, its named example inputs, their dynamic axes and axis limits;
      `onnx_assets(encoder, folder)` saves what the graph needs beside it (a tokenizer).
    - `exporters`: extra `contrastlearn export` formats, name -> `(encoder, folder, *,
      overwrite) -> folder`; the first is the room's default format (else onnx).
    - `raw_features(x)`: the raw-input baseline's features of a batch and a note on how they
      were made (default: the flattened samples); series fill their NaN padding.
    - `default_recipe`, `protocols`: what `ContrastiveEncoder` and `evaluate` use by default.
    - `extra`: the pip extra that installs the room's dependencies.
    """

    name: str
    split_arrays: ArraySplitter
    to_samples: Callable[..., Any]
    description: str = ""
    options: type[BaseModel] = NoOptions
    file_readers: Mapping[str, FileReader] = field(default_factory=dict)
    read_folder: FolderReader | None = None
    accepts_objects: bool = False
    encoder_inputs: Callable[[DatasetSplits], dict[str, Any]] | None = None
    prepare_splits: Callable[[DatasetSplits, Any], DatasetSplits] | None = None
    prepare_samples: Callable[[Any, Any], Any] | None = None
    training_data: Callable[[Any, BaseModel], Any] | None = None
    view_inputs: Callable[[tuple[int, ...], Any], dict[str, Any]] | None = None
    preview: str | Callable[..., None] = "image"
    read_pairs: Callable[[Path, BaseModel], dict[str, Any]] | None = None
    raw_features: Callable[[Any], tuple[Any, str]] | None = None
    free_axes: tuple[int, ...] = ()
    onnx_graph: Callable[[Any, Any], tuple[Any, dict, dict, dict]] | None = None
    onnx_assets: Callable[[Any, Path], dict[str, Any]] | None = None
    exporters: Mapping[str, Callable[..., Path]] = field(default_factory=dict)
    default_recipe: str | None = None
    protocols: tuple[str, ...] = ("linear_probe", "knn")
    extra: str | None = None

    def parse_options(self, options: Mapping[str, Any] | None,
                      where: str = "data.options") -> BaseModel:
        """`options` validated against this modality's schema; errors name the key."""
        try:
            return self.options.model_validate(dict(options or {}))
        except ValidationError as error:
            accepted = ", ".join(self.options.model_fields) or "(none)"
            lines = []
            for item in error.errors():
                key = ".".join(str(part) for part in item["loc"])
                if item["type"] == "extra_forbidden":
                    lines.append(f"unknown key '{where}.{key}' for the {self.name} modality; "
                                 f"accepted: {accepted}")
                else:
                    lines.append(f"{where}.{key}: {item['msg']} (got {item.get('input')!r})")
            raise DataError("; ".join(lines)) from None

    def file_reader(self, path: Path) -> FileReader | None:
        """The reader for this file's suffix (case-insensitive), if the modality has one."""
        return self.file_readers.get(path.suffix.lower())


def call_with_accepted(function: Callable[..., Any], *args: Any,
                       options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
    """`function(*args, **kwargs, **options)` with only the `options` it accepts that are set
    (not None) and that `kwargs` do not already give: readers take the recipe options they
    understand and ignore the rest."""
    try:
        accepted = inspect.signature(function).parameters
    except (TypeError, ValueError):
        accepted = {}
    given = {key: value for key, value in (options or {}).items()
             if value is not None and key in accepted and key not in kwargs}
    return function(*args, **kwargs, **given)
