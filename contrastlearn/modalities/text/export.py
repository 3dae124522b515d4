"""Export text encoders: to sentence-transformers and transformers folders, and to the
project's own format (safetensors + config, via `contrastlearn.export`) with the tokenizer.

`export_sentence_transformers` writes the folder layout of Sentence-BERT (Reimers & Gurevych
2019, arXiv 1908.10084): the transformer and tokenizer at the top, ``modules.json`` naming a
Transformer then a Pooling module, ``sentence_bert_config.json`` and ``1_Pooling/config.json``.
`SentenceTransformer(folder)` then gives the embeddings our encoder gives in eval mode.

A LoRA-adapted encoder is written with its adapters merged into the weights (`for_export`),
in every format, so the folders load as plain models.

The project's own format needs nothing here: `contrastlearn.export.export_encoder` calls the
text encoders' `export_assets` hook, so the tokenizer (and a pretrained model's config) are
written next to the weights and `load_encoder` rebuilds the encoder with no training corpus and
no access to the original model folder.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

from torch import nn

from contrastlearn.core.atomic import atomic_write, staged_folder
from contrastlearn.modalities.text.encoders import HFTextEncoder

POOLING_FOLDER = "1_Pooling"
_VERSIONED = (("sentence_transformers", "sentence-transformers"),
              ("transformers", "transformers"), ("pytorch", "torch"))


def _require_hf(encoder: nn.Module, what: str) -> HFTextEncoder:
    """`encoder` as a plain Hugging Face encoder (LoRA adapters merged into a copy)."""
    if not isinstance(encoder, HFTextEncoder):
        raise TypeError(
            f"{what} only exports Hugging Face encoders (hf_text_encoder); got "
            f"{type(encoder).__name__}. Export it with "
            "contrastlearn.export.export_encoder instead"
        )
    return encoder.for_export()


def _write_json(path: Path, content: Any) -> None:
    atomic_write(path, (json.dumps(content, indent=2) + "\n").encode())


def _versions() -> dict[str, str]:
    found = {}
    for key, distribution in _VERSIONED:
        try:
            found[key] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return found


def save_pretrained(encoder: nn.Module, folder: str | Path, overwrite: bool = False) -> Path:
    """Write an hf_text_encoder's transformer and tokenizer as a plain transformers folder
    (`AutoModel.from_pretrained(folder)` reads it; no pooling is stored)."""
    encoder = _require_hf(encoder, "save_pretrained")
    with staged_folder(folder, overwrite) as stage:
        encoder.model.save_pretrained(str(stage))
        encoder.tokenizer.save(stage)
    return Path(folder)


def export_sentence_transformers(encoder: nn.Module, folder: str | Path,
                                 overwrite: bool = False) -> Path:
    """Write an hf_text_encoder as a sentence-transformers folder: Transformer (with the
    encoder's max_length) then Pooling (its mean or CLS pooling), no normalisation. Written
    to a temporary folder then renamed; an existing non-empty `folder` needs overwrite=True."""
    encoder = _require_hf(encoder, "export_sentence_transformers")
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": POOLING_FOLDER,
         "type": "sentence_transformers.models.Pooling"},
    ]
    pooling = {
        "word_embedding_dimension": encoder.out_dim,
        "pooling_mode_cls_token": encoder.pooling == "cls",
        "pooling_mode_mean_tokens": encoder.pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    with staged_folder(folder, overwrite) as stage:
        encoder.model.save_pretrained(str(stage))
        encoder.tokenizer.save(stage)
        _write_json(stage / "modules.json", modules)
        _write_json(stage / "sentence_bert_config.json",
                    {"max_seq_length": encoder.max_length, "do_lower_case": False})
        _write_json(stage / POOLING_FOLDER / "config.json", pooling)
        _write_json(stage / "config_sentence_transformers.json", {
            "__version__": _versions(), "model_type": "SentenceTransformer", "prompts": {},
            "default_prompt_name": None, "similarity_fn_name": "cosine",
        })
    return Path(folder)
