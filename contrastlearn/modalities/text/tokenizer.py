"""Text -> token ids under the token contract of `text.tokens`, with an on-disk cache.

`TextTokenizer` wraps a Hugging Face fast tokenizer (a local folder read by transformers'
AutoTokenizer, a ``tokenizer.json`` file, or a `tokenizers.Tokenizer`) and turns a list of
texts into one int64 (n, L) tensor: ``[CLS] ... [SEP]`` rows padded at the end with id 0 to the
longest row, cut at `max_length` tokens. The whole list is encoded in one Rust batch call.

A tokenizer whose pad id is not 0 (RoBERTa's is 1) is remapped by swapping its pad id with id 0
everywhere (ids, vocabulary, decoding); `to_model_ids` swaps back before a pretrained embedding
table is read.

Large lists are cached on disk, keyed by the tokenizer's serialized JSON, `max_length` and the
texts, so re-running a recipe does not tokenize the corpus again.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import Tensor

from contrastlearn.core.atomic import atomic_write
from contrastlearn.modalities.text.tokens import CUT_ID, PAD_ID

logger = logging.getLogger(__name__)

CACHE_ENV = "CONTRASTLEARN_CACHE"
CACHE_FORMAT = b"contrastlearn-tokens-v1"
CUT_TOKEN = "[CUT]"
_PAD_NAMES = ("[PAD]", "<pad>")
_MASK_NAMES = ("[MASK]", "<mask>")
_UNK_NAMES = ("[UNK]", "<unk>")


def default_cache_dir() -> Path:
    """$CONTRASTLEARN_CACHE/tokens, or ~/.cache/contrastlearn/tokens."""
    root = os.environ.get(CACHE_ENV)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "contrastlearn"
    return base / "tokens"


def _load_source(source: Any) -> tuple[Tokenizer, Any]:
    """(Rust tokenizer, transformers tokenizer or None) from a path or a tokenizer object."""
    if isinstance(source, Tokenizer):
        return source, None
    backend = getattr(source, "backend_tokenizer", None)
    if isinstance(backend, Tokenizer):
        return backend, source
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            f"TextTokenizer needs a local folder, a tokenizer.json path, a tokenizers.Tokenizer "
            f"or a transformers fast tokenizer; got {type(source).__name__}"
        )
    path = Path(source).expanduser()
    if path.is_file():
        return Tokenizer.from_file(str(path)), None
    if not path.is_dir():
        raise FileNotFoundError(
            f"no tokenizer at {str(path)!r}: give a local folder saved with save_pretrained or a "
            "tokenizer.json file (models are never downloaded)"
        )
    if not (path / "tokenizer_config.json").is_file() and (path / "tokenizer.json").is_file():
        return Tokenizer.from_file(str(path / "tokenizer.json")), None
    from transformers import AutoTokenizer

    try:
        hf_tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as error:
        raise ValueError(f"no usable tokenizer in {str(path)!r}: {error}") from error
    backend = getattr(hf_tokenizer, "backend_tokenizer", None)
    if not isinstance(backend, Tokenizer):
        raise ValueError(
            f"the tokenizer in {str(path)!r} ({type(hf_tokenizer).__name__}) is not a fast "
            "(Rust) tokenizer; save a tokenizer.json with it"
        )
    return backend, hf_tokenizer


def _find_token(backend: Tokenizer, hf_tokenizer: Any, attribute: str,
                names: Sequence[str]) -> int | None:
    """Native id of a special token: the transformers attribute, else a usual name."""
    native = getattr(hf_tokenizer, attribute, None) if hf_tokenizer is not None else None
    if native is not None:
        return int(native)
    for name in names:
        found = backend.token_to_id(name)
        if found is not None:
            return int(found)
    return None


class TextTokenizer:
    """Texts -> int64 (n, L) token ids: ``[CLS] ... [SEP]``, padded with 0 at the end.

    `source` is a local folder (transformers' AutoTokenizer, offline), a ``tokenizer.json``
    path, a `tokenizers.Tokenizer` or a transformers fast tokenizer; its post-processor must
    add the CLS/SEP frame. Texts longer than `max_length` tokens (frame included) are cut, and
    `last_truncated` holds how many were. Lists of at least `cache_min_texts` texts are cached
    in `cache_dir` (default: `default_cache_dir()` at call time); `cache=False` turns it off.
    """

    def __init__(self, source: Any, max_length: int = 128, cache_dir: str | Path | None = None,
                 cache: bool = True, cache_min_texts: int = 1000) -> None:
        if int(max_length) < 2:
            raise ValueError(f"TextTokenizer max_length must be >= 2 (CLS and SEP); got "
                             f"{max_length}")
        backend, self.hf_tokenizer = _load_source(source)
        self.max_length = int(max_length)
        self.cache_dir = cache_dir
        self.cache = bool(cache)
        self.cache_min_texts = int(cache_min_texts)
        self.last_truncated = 0
        self.pad_id_native = _find_token(backend, self.hf_tokenizer, "pad_token_id", _PAD_NAMES)
        if self.pad_id_native is None:
            raise ValueError(
                "TextTokenizer needs a padding token ([PAD] or <pad>) in the vocabulary; this "
                "tokenizer has none"
            )
        self._backend = Tokenizer.from_str(backend.to_str())
        self._backend.no_padding()
        self._backend.no_truncation()
        self._fingerprint = self._backend.to_str().encode()
        frame = self._backend.encode("")
        if len(frame.ids) != 2 or frame.special_tokens_mask != [1, 1]:
            raise ValueError(
                "TextTokenizer needs a tokenizer that frames every text as [CLS] ... [SEP] (a "
                "post-processor such as tokenizers.processors.TemplateProcessing); this one "
                f"encodes an empty text as {frame.tokens}"
            )
        self.cls_id, self.sep_id = (self._swap_pad(native) for native in frame.ids)
        self.mask_id = self._optional(_find_token(backend, self.hf_tokenizer, "mask_token_id",
                                                  _MASK_NAMES))
        self.unk_id = self._optional(_find_token(backend, self.hf_tokenizer, "unk_token_id",
                                                 _UNK_NAMES))
        self._backend.enable_truncation(self.max_length)

    def _swap_pad(self, value: int) -> int:
        """Native id -> our id, and back: swaps the native pad id with 0 (an involution)."""
        if value == self.pad_id_native:
            return PAD_ID
        return self.pad_id_native if value == PAD_ID else value

    def _optional(self, native: int | None) -> int | None:
        return None if native is None else self._swap_pad(native)

    @property
    def vocab_size(self) -> int:
        """Number of ids, added tokens included (every id is below it)."""
        return self._backend.get_vocab_size(with_added_tokens=True)

    @property
    def special_ids(self) -> frozenset[int]:
        """Our ids of the special tokens (CLS, SEP, PAD, MASK, UNK, ...)."""
        decoder = self._backend.get_added_tokens_decoder()
        return frozenset(self._swap_pad(native) for native, token in decoder.items()
                         if token.special)

    def get_vocab(self) -> dict[str, int]:
        """Token -> our id (pad remapped to 0)."""
        return {token: self._swap_pad(native)
                for token, native in self._backend.get_vocab(with_added_tokens=True).items()}

    def to_model_ids(self, ids: Tensor) -> Tensor:
        """Our ids -> the tokenizer's native ids (undo the pad swap; CUT_ID stays)."""
        if self.pad_id_native == PAD_ID:
            return ids
        native = torch.full_like(ids, self.pad_id_native)
        return torch.where(ids == PAD_ID, native,
                           torch.where(ids == self.pad_id_native, torch.zeros_like(ids), ids))

    def decode(self, ids: Tensor | Sequence[int], skip_special_tokens: bool = True
               ) -> str | list[str]:
        """Text of one row of ids (a list for a 2-D tensor); padding is dropped, cut tokens
        show as [CUT]."""
        if isinstance(ids, Tensor) and ids.dim() == 2:
            return [self.decode(row, skip_special_tokens) for row in ids]
        values = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        special = self.special_ids if skip_special_tokens else frozenset({PAD_ID})
        tokens = [CUT_TOKEN if value == CUT_ID else self._backend.id_to_token(self._swap_pad(value))
                  for value in values if value == CUT_ID or value not in special]
        decoder = self._backend.decoder
        return decoder.decode(tokens) if decoder is not None else " ".join(tokens)

    def save(self, folder: str | Path) -> Path:
        """Write the tokenizer files to `folder` (save_pretrained for a transformers tokenizer,
        else tokenizer.json); return the folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.hf_tokenizer is not None:
            self.hf_tokenizer.save_pretrained(str(folder))
        else:
            atomic_write(folder / "tokenizer.json", self._fingerprint)
        return folder

    def __call__(self, texts: Sequence[str]) -> Tensor:
        """int64 (n, L) ids of `texts`, L = the longest row (at most `max_length`)."""
        texts = list(texts)
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"TextTokenizer expects a list of str; item {index} is "
                                f"{type(text).__name__}")
        cache_file = self._cache_file(texts) if self._use_cache(texts) else None
        cached = self._read_cache(cache_file, len(texts)) if cache_file is not None else None
        if cached is None:
            ids, truncated = self._encode(texts)
            if cache_file is not None:
                self._write_cache(cache_file, ids, truncated)
        else:
            ids, truncated = cached
        self.last_truncated = truncated
        if truncated:
            logger.warning(
                "TextTokenizer: %d of %d texts were longer than max_length=%d tokens and were "
                "cut (their ends are lost); raise max_length to keep them", truncated,
                len(texts), self.max_length,
            )
        return torch.from_numpy(ids.astype(np.int64))

    def _encode(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """(ids as a compact numpy array, number of truncated texts)."""
        if not texts:
            return np.zeros((0, 0), dtype=self._storage_dtype()), 0
        encodings = self._backend.encode_batch_fast(texts)
        truncated = sum(1 for encoding in encodings if encoding.overflowing)
        rows = [encoding.ids for encoding in encodings]
        row_lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        filled = np.arange(row_lengths.max())[None, :] < row_lengths[:, None]
        native = np.full(filled.shape, self.pad_id_native, dtype=np.int64)
        native[filled] = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64,
                                     count=int(row_lengths.sum()))
        self._replace_literal_pads(native, filled)
        ours = native.copy()
        if self.pad_id_native != PAD_ID:
            ours[native == self.pad_id_native] = PAD_ID
            ours[native == PAD_ID] = self.pad_id_native
        return ours.astype(self._storage_dtype()), truncated

    def _replace_literal_pads(self, native: np.ndarray, filled: np.ndarray) -> None:
        """A pad token written in a text (e.g. "[PAD]") becomes [UNK], so padding stays at the
        end of each row as the token contract requires."""
        literal = filled & (native == self.pad_id_native)
        if not literal.any():
            return
        if self.unk_id is None:
            raise ValueError("TextTokenizer: some texts contain the padding token itself and "
                             "this tokenizer has no [UNK] to replace it; remove it from them")
        native[literal] = self._swap_pad(self.unk_id)

    def _storage_dtype(self) -> np.dtype:
        return np.dtype(np.uint16 if self.vocab_size <= np.iinfo(np.uint16).max else np.int32)

    def _use_cache(self, texts: list[str]) -> bool:
        return self.cache and len(texts) >= self.cache_min_texts

    def _cache_file(self, texts: list[str]) -> Path:
        digest = hashlib.sha256(CACHE_FORMAT)
        digest.update(len(self._fingerprint).to_bytes(8, "little"))
        digest.update(self._fingerprint)
        digest.update(self.max_length.to_bytes(8, "little"))
        for text in texts:
            encoded = text.encode("utf-8", "surrogatepass")
            digest.update(len(encoded).to_bytes(8, "little"))
            digest.update(encoded)
        folder = Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()
        return folder / f"{digest.hexdigest()}.npz"

    def _read_cache(self, path: Path, count: int) -> tuple[np.ndarray, int] | None:
        """The cached (ids, truncated), or None when absent or unreadable (then rewritten)."""
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                ids, truncated = stored["ids"], int(stored["truncated"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            logger.warning("TextTokenizer: ignoring unreadable token cache %s (%s: %s); "
                           "tokenizing again", path, type(error).__name__, error)
            return None
        if ids.ndim != 2 or ids.shape[0] != count or ids.shape[1] > self.max_length:
            logger.warning("TextTokenizer: ignoring token cache %s with shape %s", path,
                           ids.shape)
            return None
        return ids, truncated

    def _write_cache(self, path: Path, ids: np.ndarray, truncated: int) -> None:
        try:
            atomic_write(path, lambda handle: np.savez(handle, ids=ids,
                                                       truncated=np.int64(truncated)))
        except OSError as error:
            logger.warning("TextTokenizer: could not write the token cache %s (%s)", path,
                           error)
