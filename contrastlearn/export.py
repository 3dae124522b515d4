"""Export an encoder as safetensors + a JSON config, and rebuild it without training code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch import nn

from contrastlearn.core.atomic import staged_folder
from contrastlearn.core.registry import ENCODERS

ENCODER_FORMAT = "contrastlearn-encoder-v1"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def export_encoder(
    encoder: nn.Module, folder: str | Path, *, name: str = "custom",
    kwargs: dict[str, Any] | None = None, modality: str | None = None,
    input_shape: list[int] | None = None, extra: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `folder/model.safetensors` and `folder/config.json` (what rebuilds the encoder).

    `modality` (default: the encoder's own `modality` attribute) is recorded so that
    `evaluate` and `embed` read the data as the encoder was trained on it.
    `name`/`kwargs` are the ENCODERS registry entry; an encoder the registry does not know is
    saved with name "custom" and loads only into a module the caller supplies. An encoder with
    `export_assets(folder)` (text encoders: their tokenizer and model config) writes those files
    itself and returns the registry entry that rebuilds it from them (`asset_paths` names the
    kwargs that are paths relative to the folder).

    The folder is written whole beside its place and renamed into it, so a crash never leaves
    weights and a config that do not belong together; an existing export is replaced only
    with `overwrite`, and never a folder contrastlearn did not make. An encoder with
    `for_export()` is exported as the plain module that method returns (a LoRA-adapted text
    encoder: its adapters merged into the weights), so the export rebuilds without them."""
    folder = Path(folder)
    for_export = getattr(encoder, "for_export", None)
    if for_export is not None:  # e.g. LoRA adapters folded into plain weights
        encoder = for_export()
    with staged_folder(folder, overwrite) as stage:
        export_assets = getattr(encoder, "export_assets", None)
        if export_assets is not None:
            spec = export_assets(stage)
            name, kwargs = spec["encoder"], spec["kwargs"]
            extra = {**(extra or {}), "asset_paths": spec["asset_paths"]}
        kwargs = kwargs or {}
        state = {key: value.detach().cpu().contiguous()
                 for key, value in encoder.state_dict().items()}
        config = {
            "format": ENCODER_FORMAT, "encoder": name, "kwargs": kwargs,
            "modality": modality or getattr(encoder, "modality", None),
            "out_dim": int(encoder.out_dim), "input_shape": input_shape, **(extra or {}),
        }
        (stage / WEIGHTS_FILE).write_bytes(save(state))
        (stage / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    return folder



def _encoder_folder(path: str | Path) -> Path:
    path = Path(path)
    for candidate in (path, path / "encoder"):
        if (candidate / CONFIG_FILE).is_file() and (candidate / WEIGHTS_FILE).is_file():
            return candidate
    raise FileNotFoundError(
        f"no exported encoder in {str(path)!r}: expected {CONFIG_FILE} and {WEIGHTS_FILE} there "
        "or in its encoder/ folder"
    )


def read_encoder_config(path: str | Path) -> dict[str, Any]:
    config = json.loads((_encoder_folder(path) / CONFIG_FILE).read_text())
    if config.get("format") != ENCODER_FORMAT:
        raise ValueError(f"{path} does not hold a contrastlearn encoder")
    return config


def resolve_asset_paths(config: dict[str, Any], folder: str | Path) -> dict[str, Any]:
    """The encoder kwargs of an exported `config`, with its `asset_paths` kwargs (written
    relative to the export folder) made absolute under `folder`."""
    kwargs = dict(config["kwargs"])
    for key in config.get("asset_paths", []):
        kwargs[key] = str(Path(folder) / kwargs[key])
    return kwargs


def load_encoder(
    path: str | Path, module: nn.Module | None = None, device: str | torch.device = "cpu"
) -> nn.Module:
    """Rebuild an exported encoder (a run directory or its encoder/ folder) in eval mode.

    Weights come from safetensors, so loading never executes code from the file. Pass `module`
    to load the weights into your own encoder instance (required for "custom" encoders)."""
    folder = _encoder_folder(path)
    config = read_encoder_config(folder)
    if module is None:
        if config["encoder"] == "custom":
            raise ValueError(
                f"{folder} holds a custom encoder: pass module=<an instance of your encoder>"
            )
        module = ENCODERS.build(config["encoder"], **resolve_asset_paths(config, folder))
    module.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    module.config = config
    return module.to(device).eval()
