"""One encoder per modality, each the registered encoder of its own room, plus a linear
projection of each into one shared space (as CLIP does, Radford et al. 2021, arXiv 2103.00020).

The rooms' encoders are built through the ENCODERS registry with what their own room decides
from the data (a tokenizer's corpus, an image's channels), so this room knows none of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import ENCODERS
from contrastlearn.data.arrays import DataError, DatasetSplits
from contrastlearn.data.resolve import filled_encoder_kwargs, sample_shape_of
from contrastlearn.export import load_encoder
from contrastlearn.modalities.multimodal.batch import MultiBatch


class MultimodalEncoder(nn.Module):
    """`encoders[m]` reads modality m's batches; `embed(m, x)` is its (B, embed_dim) embedding
    in the shared space (unnormalised); `forward(records)` is the fused representation used by
    the single-vector protocols: the L2-normalised embeddings of every modality the batch holds,
    concatenated in the encoder's modality order (data fusion at inference only, as the
    modality-pairwise paper does)."""

    modality = "multimodal"

    def __init__(self, encoders: dict[str, nn.Module], embed_dim: int,
                 specs: dict[str, dict[str, Any]], sample_shapes: dict[str, tuple]) -> None:
        super().__init__()
        if len(encoders) < 2:
            raise ValueError(f"a multimodal encoder needs at least two modalities; got "
                             f"{list(encoders)}")
        if int(embed_dim) < 1:
            raise ValueError(f"multimodal_encoder embed_dim must be >= 1; got {embed_dim}")
        self.encoders = nn.ModuleDict(encoders)
        self.projections = nn.ModuleDict({
            name: nn.Linear(int(encoder.out_dim), int(embed_dim), bias=False)
            for name, encoder in encoders.items()})
        self.names = list(encoders)
        self.embed_dim = int(embed_dim)
        self.out_dim = self.embed_dim * len(self.names)
        self.specs = specs
        self.sample_shapes = sample_shapes

    def embed(self, name: str, x: Any) -> Tensor:
        """Modality `name`'s batch `x` -> (B, embed_dim) in the shared space."""
        if name not in self.encoders:
            raise KeyError(f"this encoder has no {name!r} modality; it has {self.names}")
        return self.projections[name](self.encoders[name](x))

    def forward(self, records: MultiBatch) -> Tensor:
        if not isinstance(records, MultiBatch):
            raise TypeError(f"a multimodal encoder reads records (a MultiBatch), got "
                            f"{type(records).__name__}; embed one modality with "
                            f"encoder.embed(name, x), name one of {self.names}")
        return torch.cat([F.normalize(self.embed(name, records.parts[name]), dim=-1)
                          for name in self.names if name in records.parts], dim=-1)

    def export_assets(self, folder: str | Path) -> dict[str, Any]:
        """Each room's encoder writes its own assets (a tokenizer) into `folder`/<modality>;
        the returned registry entry rebuilds the whole encoder from them."""
        specs = {}
        for name, encoder in self.encoders.items():
            spec = dict(self.specs[name])
            own_assets = getattr(encoder, "export_assets", None)
            if own_assets is not None:
                written = own_assets(Path(folder) / name)
                spec = {"name": written["encoder"], "kwargs": written["kwargs"],
                        "asset_paths": written.get("asset_paths", [])}
            specs[name] = spec
        return {"encoder": "multimodal_encoder",
                "kwargs": {"encoders": specs, "embed_dim": self.embed_dim, "assets": ".",
                           "sample_shapes": {k: list(v) for k, v in self.sample_shapes.items()}},
                "asset_paths": ["assets"]}


def _room_encoder(name: str, spec: dict[str, Any], splits: DatasetSplits | None,
                  assets: str | None) -> tuple[nn.Module, dict[str, Any]]:
    if not isinstance(spec, dict) or "name" not in spec:
        raise DataError(f"encoder.kwargs.encoders.{name} must be {{name: <encoder>, kwargs: "
                        f"{{...}}}} (e.g. {{name: small_cnn}}); got {spec!r}")
    factory = ENCODERS.get(spec["name"])
    kwargs = dict(spec.get("kwargs") or {})
    for key in spec.get("asset_paths", []):  # an exported room encoder's own files
        kwargs[key] = str(Path(assets or ".") / name / kwargs[key])
    if splits is not None:
        kwargs = filled_encoder_kwargs(factory, kwargs, splits)
    built = factory(**kwargs)
    recorded = {key: value for key, value in kwargs.items() if key != "corpus"}
    return built, {"name": spec["name"], "kwargs": recorded}


def _shape(data: Any) -> tuple[int, ...]:
    try:
        return sample_shape_of(data)
    except (TypeError, KeyError, IndexError, AttributeError):
        return ()  # e.g. texts before tokenising: their room's views need no shape


@ENCODERS.register("multimodal_encoder")
def multimodal_encoder(encoders: dict[str, dict[str, Any]], embed_dim: int = 128,
                       modality_splits: dict[str, DatasetSplits] | None = None,
                       assets: str | None = None, init_from: str | None = None,
                       sample_shapes: dict[str, list[int]] | None = None) -> MultimodalEncoder:
    """`encoders`: modality -> {name, kwargs} of that room's registered encoder (e.g. image:
    {name: small_cnn}, text: {name: scratch_text_encoder}); `embed_dim`: the shared space.
    `modality_splits` (filled in from the data) lets each room decide its encoder's inputs;
    `init_from`: a run directory or exported encoder whose weights start this one (fine-tuning
    a pretrained model, e.g. with the contrastive-gap objective)."""
    if not isinstance(encoders, dict) or len(encoders) < 2:
        raise DataError("encoder.kwargs.encoders must name an encoder for each of at least two "
                        "modalities, e.g. {image: {name: small_cnn}, text: {name: "
                        f"scratch_text_encoder}}; got {encoders!r}")
    splits = modality_splits or {}
    missing = [name for name in splits if name not in encoders]
    if missing:
        raise DataError(f"the data has modalities {missing} with no encoder: add them to "
                        "encoder.kwargs.encoders")
    built, specs, shapes = {}, {}, {}
    for name, spec in encoders.items():
        if splits and name not in splits:
            raise DataError(f"encoder.kwargs.encoders names {name!r}, which the data does not "
                            f"have (it has {sorted(splits)})")
        built[name], specs[name] = _room_encoder(name, spec, splits.get(name), assets)
        shapes[name] = (_shape(splits[name].train) if name in splits
                        else tuple((sample_shapes or {}).get(name, ())))
    encoder = MultimodalEncoder(built, embed_dim, specs, shapes)
    if init_from is not None:
        _load_weights(encoder, init_from)
    return encoder


def _load_weights(encoder: MultimodalEncoder, source: str) -> None:
    """Copy a pretrained multimodal encoder's weights (same architecture) into `encoder`."""
    try:
        pretrained = load_encoder(source)
    except FileNotFoundError as error:
        raise DataError(f"encoder.kwargs.init_from: {error}") from None
    try:
        encoder.load_state_dict(pretrained.state_dict())
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise DataError(f"encoder.kwargs.init_from {source!r} is not the same architecture as "
                        f"encoder.kwargs ({first}); use the pretrained run's encoder settings"
                        ) from None
