"""Export an encoder of any room as an ONNX graph, to serve it without torch or this library.

The graph is the encoder in eval mode, with one output, ``embeddings`` float32 (batch, out_dim).
Its inputs depend on the kind of data:

- image (and rooms of fixed-shape tensors): ``inputs`` float32 (batch, C, H, W), scaled as the
  training data were (divided by the export's ``input_scale``); the batch axis is dynamic.
- timeseries: ``inputs`` float32 (batch, channels, length), NaN-padded at the end like the
  training data; batch and length are dynamic (the length only when the encoder allows it).
- text: ``input_ids`` int64 (batch, sequence), the ids the encoder's saved tokenizer gives
  (its own pad id at padding), and ``attention_mask`` int64 (batch, sequence), 1 on real
  tokens; both axes dynamic, sequence at most the encoder's ``max_length``.

Two exporters: torch's dynamo-based one (`torch.export`, the default since torch 2.9) and the
deprecated TorchScript one. `exporter="auto"` tries dynamo first and falls back; every graph is
checked with onnxruntime against the torch module on the example and on an input of another
batch size (and length), so a graph that loads but computes something else is never kept.
What was chosen is written into the graph's metadata (`read_onnx_metadata`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from contrastlearn.api import load_run_data, modality_of
from contrastlearn.config import load_recipe
from contrastlearn.core.atomic import staged_folder
from contrastlearn.data.modality import Modality
from contrastlearn.data.resolve import get_modality, prepare_for_encoder
from contrastlearn.export import load_encoder

OUTPUT_NAME = "embeddings"
TENSOR_INPUT = "inputs"
EXPORTERS = ("auto", "dynamo", "torchscript")
METADATA_PREFIX = "contrastlearn."
ONNX_FILE = "model.onnx"
ONNX_CONFIG_FILE = "onnx_config.json"
_EXTERNAL_DATA_BYTES = 1_800_000_000
"""Weights beyond this go to a side file (one ONNX protobuf holds at most 2 GB)."""
_QUIET_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "torch.fx.experimental")


class OnnxExportError(RuntimeError):
    """No exporter produced a graph that computes what the encoder computes."""


def _at_least_two(batch: Tensor) -> Tensor:
    """A batch of >= 2 rows: torch.export specialises axes of size 0 and 1."""
    return batch if len(batch) >= 2 else batch.repeat(2, *([1] * (batch.dim() - 1)))


class _Spec:
    """What one export needs: the module, example inputs, names and dynamic axes."""

    def __init__(self, module: nn.Module, inputs: tuple[Tensor, ...], names: tuple[str, ...],
                 axes: dict[str, dict[int, str]], limits: dict[str, int] | None = None) -> None:
        self.module, self.inputs, self.names, self.axes = module, inputs, names, axes
        self.limits = limits or {}

    def without(self, axis_name: str) -> _Spec:
        axes = {name: {axis: label for axis, label in spec.items() if label != axis_name}
                for name, spec in self.axes.items()}
        return _Spec(self.module, self.inputs, self.names, axes, self.limits)

    def varied(self) -> tuple[Tensor, ...]:
        """Inputs with one more row and another length on every dynamic non-batch axis, to
        check the graph did not keep the example's sizes."""
        varied = []
        for name, tensor in zip(self.names, self.inputs):
            tensor = torch.cat([tensor, tensor[:1]])
            for axis, label in self.axes[name].items():
                if axis == 0:
                    continue
                size = tensor.shape[axis]
                if label == "sequence":  # drop the last column, or add a padding one
                    tensor = (tensor.narrow(axis, 0, size - 1) if size > 2 else torch.cat(
                        [tensor, torch.zeros_like(tensor.narrow(axis, 0, 1))], dim=axis))
                else:  # repeat the last three steps
                    tail = tensor.narrow(axis, max(0, size - 3), min(3, size))
                    tensor = torch.cat([tensor, tail], dim=axis)
            varied.append(tensor)
        return tuple(varied)


def _spec(encoder: nn.Module, example: Any, modality: Modality) -> _Spec:
    """The room's own graph (`Modality.onnx_graph`: text reads token ids and a mask), or the
    encoder on one tensor input whose batch and the room's `free_axes` are dynamic."""
    if modality.onnx_graph is not None:
        module, inputs, axes, limits = modality.onnx_graph(encoder, example)
        return _Spec(module, tuple(inputs.values()), tuple(inputs), axes, limits)
    return _tensor_spec(encoder, example, modality.free_axes)


def _tensor_spec(encoder: nn.Module, example: Any, free_axes: tuple[int, ...]) -> _Spec:
    if example is None:
        shape = getattr(encoder, "config", {}).get("input_shape")
        if not shape:
            raise ValueError(f"{type(encoder).__name__} records no input_shape: pass example=... "
                             "(a small batch of inputs as the encoder reads them)")
        example = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    if isinstance(example, np.ndarray):
        example = torch.from_numpy(np.ascontiguousarray(example))
    inputs = _at_least_two(torch.as_tensor(example).float())
    axes = {0: "batch", **{axis: "length" for axis in free_axes if axis < inputs.dim()}}
    return _Spec(encoder, (inputs,), (TENSOR_INPUT,), {TENSOR_INPUT: axes})


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' progress logs and deprecation chatter; real failures raise."""
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _export_dynamo(spec: _Spec, path: Path, opset: int | None) -> None:
    dims: dict[str, Any] = {}
    shapes = []
    for name in spec.names:
        shape = {}
        for axis, label in spec.axes[name].items():
            if label not in dims:
                dims[label] = torch.export.Dim(label, max=spec.limits.get(label))
            shape[axis] = dims[label]
        shapes.append(shape)
    size = sum(p.numel() * p.element_size() for p in spec.module.parameters())
    torch.onnx.export(spec.module, spec.inputs, str(path), input_names=list(spec.names),
                      output_names=[OUTPUT_NAME], dynamo=True, dynamic_shapes=tuple(shapes),
                      opset_version=opset, external_data=size > _EXTERNAL_DATA_BYTES,
                      verbose=False, optimize=True)


def _export_torchscript(spec: _Spec, path: Path, opset: int | None) -> None:
    axes = {name: dict(spec.axes[name]) for name in spec.names}
    axes[OUTPUT_NAME] = {0: "batch"}
    torch.onnx.export(spec.module, spec.inputs, str(path), input_names=list(spec.names),
                      output_names=[OUTPUT_NAME], dynamo=False, dynamic_axes=axes,
                      opset_version=opset, do_constant_folding=True)


def _check_graph(spec: _Spec, path: Path) -> float | None:
    """Max abs difference between onnxruntime and torch over the example and a varied input
    (None without onnxruntime); OnnxExportError when they disagree."""
    try:
        import onnxruntime
    except ImportError:
        return None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # failures are reported by the caller
    session = onnxruntime.InferenceSession(str(path), options,
                                           providers=["CPUExecutionProvider"])
    worst = 0.0
    for inputs in (spec.inputs, spec.varied()):
        with torch.no_grad():
            expected = spec.module(*inputs).float().numpy()
        got = session.run([OUTPUT_NAME], {name: tensor.numpy()
                                          for name, tensor in zip(spec.names, inputs)})[0]
        if got.shape != expected.shape:
            raise OnnxExportError(f"the graph gives shape {got.shape} for inputs of shape "
                                  f"{[tuple(t.shape) for t in inputs]}; torch gives "
                                  f"{expected.shape}")
        if not np.allclose(got, expected, rtol=1e-3, atol=1e-4, equal_nan=True):
            difference = float(np.nanmax(np.abs(got - expected)))
            raise OnnxExportError(f"the graph's output differs from torch's by up to "
                                  f"{difference:.3g} on inputs of shape "
                                  f"{[tuple(t.shape) for t in inputs]}")
        worst = max(worst, float(np.nanmax(np.abs(got - expected))) if got.size else 0.0)
    return worst


def _write_metadata(path: Path, metadata: dict[str, Any]) -> None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    existing = {entry.key: entry for entry in model.metadata_props}
    for key, value in metadata.items():
        text = value if isinstance(value, str) else json.dumps(value)
        entry = existing.get(METADATA_PREFIX + key) or model.metadata_props.add()
        entry.key, entry.value = METADATA_PREFIX + key, text
    onnx.save(model, str(path))


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """What `export_onnx` recorded in the graph: modality, exporter, inputs, dynamic axes,
    out_dim, input_scale, max_abs_difference (JSON values decoded)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    found = {}
    for entry in model.metadata_props:
        if entry.key.startswith(METADATA_PREFIX):
            try:
                found[entry.key[len(METADATA_PREFIX):]] = json.loads(entry.value)
            except json.JSONDecodeError:
                found[entry.key[len(METADATA_PREFIX):]] = entry.value
    return found


def export_onnx(encoder: nn.Module, path: str | Path, *, example: Any = None,
                modality: str | None = None, exporter: str = "auto",
                opset: int | None = None) -> Path:
    """Write `encoder` (eval mode) as an ONNX graph at `path` (see the module docstring for its
    inputs and output) and return the path.

    `example`: a small batch as the encoder reads it (image/series arrays; for text a list of
    strings, or token ids), which the graph is traced with and checked on; default: random
    inputs of the export's recorded `input_shape`, or a few sentences for text. `modality`
    defaults to the encoder's (`contrastlearn.api.modality_of`). `exporter`: "dynamo",
    "torchscript", or "auto" (dynamo, else TorchScript). A room's length axis (time series)
    is kept fixed when no exporter gives a graph that varies it correctly."""
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}; got {exporter!r}")
    modality = modality_of(encoder, modality)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = encoder.training
    encoder.eval()
    try:
        spec = _spec(encoder, example, get_modality(modality))
        candidates = [spec] + [spec.without(label) for label in _optional_axes(spec)]
        chosen = ("dynamo", "torchscript") if exporter == "auto" else (exporter,)
        failures = []
        for candidate in candidates:  # a dynamic length matters more than the exporter
            for name in chosen:
                try:
                    difference = _export_checked(name, candidate, path, opset)
                except Exception as error:  # noqa: BLE001 - collected, reported below
                    failures.append(f"{name} with dynamic axes {_axes_text(candidate)}: "
                                    f"{type(error).__name__}: {str(error)[:300]}")
                    continue
                if failures:
                    warnings.warn("ONNX export: " + "; ".join(failures) + f"; exported with "
                                  f"{name} and dynamic axes {_axes_text(candidate)}",
                                  RuntimeWarning, stacklevel=2)
                config = getattr(encoder, "config", {}) or {}
                _write_metadata(path, {
                    "modality": modality, "exporter": name,
                    "inputs": list(candidate.names), "output": OUTPUT_NAME,
                    "dynamic_axes": candidate.axes,
                    "out_dim": int(getattr(encoder, "out_dim", 0)) or None,
                    "input_scale": config.get("input_scale"),
                    "max_abs_difference": difference,
                })
                return path
        raise OnnxExportError("no exporter gave a graph that matches the encoder: "
                              + "; ".join(failures))
    finally:
        encoder.train(was_training)


def _optional_axes(spec: _Spec) -> list[str]:
    """The room's free axes (a series' length), which a graph may have to keep fixed."""
    labels = {label for axes in spec.axes.values() for label in axes.values()}
    return sorted(label for label in labels if label == "length")


def _axes_text(spec: _Spec) -> str:
    return json.dumps({name: list(axes.values()) for name, axes in spec.axes.items()})


def _export_checked(exporter: str, spec: _Spec, path: Path, opset: int | None) -> float | None:
    """Export in a scratch folder beside `path`, check the graph, then move it into place
    (with its external weights file, if any)."""
    scratch = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        target = scratch / path.name
        with _quiet():
            if exporter == "dynamo":
                _export_dynamo(spec, target, opset)
            else:
                _export_torchscript(spec, target, opset)
        spec.module.eval()  # the TorchScript exporter restores train() on the whole module
        difference = _check_graph(spec, target)
        produced = sorted(scratch.iterdir())
        weights = path.parent / f"{path.name}.data"
        if weights.exists() and weights.name not in {item.name for item in produced}:
            weights.unlink()  # an earlier export's external weights
        for item in produced:
            os.replace(item, path.parent / item.name)
        return difference
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_onnx_folder(encoder: nn.Module, folder: str | Path, *, example: Any = None,
                      modality: str | None = None, exporter: str = "auto",
                      overwrite: bool = False) -> Path:
    """`folder`/model.onnx (`export_onnx`), `folder`/onnx_config.json (what the graph takes:
    inputs, dynamic axes, input_scale, out_dim, exporter) and what the room saves beside the
    graph (`Modality.onnx_assets`; text: the tokenizer whose ids it reads); returns the
    folder."""
    modality = modality_of(encoder, modality)
    with staged_folder(folder, overwrite) as stage:
        export_onnx(encoder, stage / ONNX_FILE, example=example, modality=modality,
                    exporter=exporter)
        config = {"format": "contrastlearn-onnx-v1", "file": ONNX_FILE,
                  **read_onnx_metadata(stage / ONNX_FILE)}
        save_assets = get_modality(modality).onnx_assets
        if save_assets is not None:
            config.update(save_assets(encoder, stage))
        (stage / ONNX_CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return Path(folder)


def export_run_onnx(run_dir: str | Path, folder: str | Path, *, modality: str | None = None,
                    exporter: str = "auto", overwrite: bool = False
                    ) -> tuple[Path, dict[str, Any]]:
    """`write_onnx_folder` for a run directory (or an encoder export folder); returns the
    folder and its onnx_config.json. An encoder that records no input shape (in a room without
    a graph of its own) is traced on a few training samples of the run's recipe data."""

    encoder = load_encoder(run_dir)
    modality = modality_of(encoder, modality)
    example = None
    if get_modality(modality).onnx_graph is None and not encoder.config.get("input_shape"):
        recipe_file = Path(run_dir) / "recipe.yaml"
        if not recipe_file.is_file():
            raise ValueError(f"{run_dir} records no input shape and has no recipe.yaml to read "
                             "example inputs from; call export_onnx(encoder, path, example=...)")
        splits = prepare_for_encoder(load_run_data(load_recipe(recipe_file)), encoder)
        example = splits.train.x[:4]
    folder = write_onnx_folder(encoder, folder, example=example, modality=modality,
                               exporter=exporter, overwrite=overwrite)
    return folder, json.loads((folder / ONNX_CONFIG_FILE).read_text())
