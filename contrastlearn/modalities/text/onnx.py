"""The text room's ONNX graph: token ids and an attention mask in, embeddings out.

`onnx_graph` is the text Modality's hook for `contrastlearn.onnx_export`: it wraps the encoder
so that the graph reads the ids the encoder's saved tokenizer gives (`input_ids`, int64,
(batch, sequence)) and `attention_mask` (int64, 1 on real tokens), both axes dynamic and the
sequence at most the encoder's `max_length`; `onnx_assets` saves that tokenizer beside it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from contrastlearn.modalities.text.encoders import HFTextEncoder, TextTransformerEncoder, pool
from contrastlearn.modalities.text.tokens import token_ids, trim_padding

TEXT_INPUTS = ("input_ids", "attention_mask")
EXAMPLE_TEXTS = ("a short example sentence to trace the encoder",
                 "another one, shorter", "and a third")
"""What a text graph is traced with when no example is given."""


class TextGraph(nn.Module):
    """(input_ids, attention_mask) -> (batch, out_dim): a text encoder's eval forward without
    the value checks and padding trim that would tie a traced graph to one input's values.

    Knows `hf_text_encoder` (native ids read the pretrained table) and `text_transformer` /
    `scratch_text_encoder` (native ids mapped back to the encoder's own, pad = 0); another
    text encoder can provide `onnx_forward(input_ids, attention_mask)` itself."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        if callable(getattr(encoder, "onnx_forward", None)):
            self.kind = "own"
        elif isinstance(encoder, HFTextEncoder):
            self.kind = "hf"
        elif isinstance(encoder, TextTransformerEncoder):
            self.kind = "transformer"
        else:
            raise ValueError(
                f"ONNX export of text encoders knows hf_text_encoder and text_transformer; "
                f"{type(encoder).__name__} needs an onnx_forward(input_ids, attention_mask) "
                "method")
        tokenizer = getattr(encoder, "tokenizer", None)
        native = getattr(tokenizer, "pad_id_native", None)
        self.pad_native = 0 if native is None else int(native)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        encoder = self.encoder
        if self.kind == "own":
            return encoder.onnx_forward(input_ids, attention_mask)
        mask = attention_mask != 0
        if self.kind == "hf":
            embeds = encoder.model.get_input_embeddings()(input_ids)
            states = encoder.model(inputs_embeds=embeds,
                                   attention_mask=mask.long()).last_hidden_state
            return pool(states, mask, encoder.pooling)
        ids = input_ids
        if self.pad_native != 0:  # the tokenizer's pad swap (see TextTokenizer.to_model_ids)
            ids = torch.where(ids == self.pad_native, torch.zeros_like(ids),
                              torch.where(ids == 0, torch.full_like(ids, self.pad_native), ids))
        ids = ids.masked_fill(~mask, 0)
        embeds = encoder.token_embedding(ids)
        positions = encoder.position_embedding.weight[: ids.shape[1]]
        states = encoder.layers(encoder.dropout(embeds + positions), src_key_padding_mask=~mask)
        token_weights = encoder.token_weights[ids] if encoder.pooling == "sif" else None
        return pool(encoder.norm(states), mask, encoder.pooling, token_weights)


def text_inputs(encoder: nn.Module, texts: Sequence[str] | Tensor) -> dict[str, np.ndarray]:
    """The text graph's inputs for `texts` (or a (B, L) tensor of the encoder's token ids):
    native ids of the encoder's tokenizer and the attention mask, as numpy arrays."""
    ids = _token_ids(encoder, texts)
    tokenizer = getattr(encoder, "tokenizer", None)
    native = tokenizer.to_model_ids(ids) if tokenizer is not None else ids
    return {"input_ids": native.numpy(), "attention_mask": (ids != 0).long().numpy()}


def _token_ids(encoder: nn.Module, example: Any) -> Tensor:
    """The encoder's own (B, L) ids (pad 0) for texts, a TokenBatch or an id tensor."""
    if isinstance(example, str):
        example = [example]
    if isinstance(example, (list, tuple)) and all(isinstance(item, str) for item in example):
        tokenizer = getattr(encoder, "tokenizer", None)
        if tokenizer is None:
            raise ValueError(f"{type(encoder).__name__} has no tokenizer to read texts; pass "
                             "token ids as the example")
        return tokenizer(list(example))
    ids = torch.as_tensor(token_ids(example))
    if ids.dim() != 2 or ids.is_floating_point():
        raise ValueError(f"a text example is a list of strings or (batch, length) integer ids; "
                         f"got shape {tuple(ids.shape)}, dtype {ids.dtype}")
    return trim_padding(ids.long())


def onnx_graph(encoder: nn.Module, example: Any
               ) -> tuple[nn.Module, dict[str, Tensor], dict[str, dict[int, str]], dict[str, int]]:
    """The graph module, its named example inputs (at least two rows: torch.export
    specialises axes of size 1), their dynamic axes and the axes' upper limits."""
    ids = _token_ids(encoder, list(EXAMPLE_TEXTS) if example is None else example)
    if len(ids) < 2:
        ids = ids.repeat(2, 1)
    arrays = text_inputs(encoder, ids)
    inputs = {name: torch.from_numpy(arrays[name]) for name in TEXT_INPUTS}
    axes = {name: {0: "batch", 1: "sequence"} for name in TEXT_INPUTS}
    limit = getattr(encoder, "max_length", None)
    return TextGraph(encoder).eval(), inputs, axes, ({"sequence": int(limit)} if limit else {})


def onnx_assets(encoder: nn.Module, folder: Path) -> dict[str, Any]:
    """Save the tokenizer whose ids the graph reads; what onnx_config.json records of it."""
    tokenizer = getattr(encoder, "tokenizer", None)
    if tokenizer is None:
        return {}
    tokenizer.save(folder)
    return {"max_length": getattr(encoder, "max_length", None),
            "pad_id": int(getattr(tokenizer, "pad_id_native", 0) or 0)}
