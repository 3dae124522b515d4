"""The text room's `Modality`: sentences (lists of strings, .txt, .csv/.tsv/.jsonl tables,
built-in corpora) that become token ids only through the encoder's own tokenizer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict

from contrastlearn.core.registry import MODALITIES
from contrastlearn.data.modality import Modality
from contrastlearn.modalities.text.data import (
    FILE_SUFFIXES,
    read_scored_pairs,
    read_text_file,
    text_samples,
    text_splits,
)
from contrastlearn.modalities.text.export import export_sentence_transformers, save_pretrained
from contrastlearn.modalities.text.onnx import onnx_assets, onnx_graph
from contrastlearn.modalities.text.pipeline import (
    corpus_of,
    tokenize_samples,
    tokenize_splits,
    tokenizer_of,
)


class TextOptions(BaseModel):
    """`data.options` of a text recipe."""

    model_config = ConfigDict(extra="forbid")
    encoding: str | None = None
    """Text encoding of text data files (default UTF-8), e.g. latin-1."""
    columns: list[str] | None = None
    """Text columns of a .csv/.tsv/.jsonl file: sentence, or anchor and positive (pairs), or
    anchor, positive and hard negative (triples). Default: the first of sentence/text,
    sentence1+sentence2, anchor+positive(+negative) the file has."""
    label_column: str | None = None
    """Column of class labels in a text table (default: `label` when present)."""
    bucket_by_length: bool = True
    """Draw each batch from texts of similar length (less padding, faster); False draws
    batches uniformly at random."""


def text_view_inputs(sample_shape: tuple[int, ...], encoder: Any) -> dict[str, Any]:
    """Token views need the encoder's tokenizer (special ids, decoding) and its length cap;
    learned views (`autotcl_text`) its vocabulary size."""
    tokenizer = getattr(encoder, "tokenizer", None)
    inputs: dict[str, Any] = {} if tokenizer is None else {"tokenizer": tokenizer}
    if getattr(encoder, "max_length", None) is not None:
        inputs["max_length"] = encoder.max_length  # views that lengthen token rows
    if getattr(encoder, "vocab_size", None) is not None:
        inputs["vocab_size"] = encoder.vocab_size
    return inputs


def token_training_data(data: Any, options: TextOptions) -> Any:
    """Token rows drawn in length buckets unless the recipe turns that off."""
    if hasattr(data, "bucket_by_length"):
        return replace(data, bucket_by_length=options.bucket_by_length)
    return data


def write_decoded_preview(views: Any, samples: torch.Tensor, plots_dir: Path, *,
                          encoder: Any, seed: int) -> None:
    """plots/views.txt: each sample and its views decoded back to text (pairs and triples,
    which have no views, get none)."""
    from contrastlearn.report.preview import TEXT_PREVIEW_NAME, write_decoded_views_preview

    if samples.dim() == 2:
        write_decoded_views_preview(views, samples, tokenizer_of(encoder).decode,
                                    plots_dir / TEXT_PREVIEW_NAME, seed=seed)


def scored_pairs(path: Path, options: TextOptions) -> dict[str, Any]:
    """Sentence pairs with scores from a table, read in the recipe's encoding."""
    return read_scored_pairs(path, encoding=options.encoding or "utf-8")


TEXT = MODALITIES.register("text")(Modality(
    name="text",
    description="text: lists of strings, .txt, .csv/.tsv/.jsonl tables, built-in corpora",
    split_arrays=text_splits,
    to_samples=text_samples,
    options=TextOptions,
    file_readers={suffix: read_text_file for suffix in FILE_SUFFIXES},
    accepts_objects=True,
    encoder_inputs=corpus_of,
    prepare_splits=tokenize_splits,
    prepare_samples=tokenize_samples,
    training_data=token_training_data,
    view_inputs=text_view_inputs,
    preview=write_decoded_preview,
    read_pairs=scored_pairs,
    free_axes=(1,),
    onnx_graph=onnx_graph,
    onnx_assets=onnx_assets,
    exporters={"sentence-transformers": export_sentence_transformers,
               "transformers": save_pretrained},
    default_recipe="simcse",
    protocols=("linear_probe", "knn"),
    extra="text",
))
