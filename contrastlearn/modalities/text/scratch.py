"""From-scratch text models: a WordPiece tokenizer trained on the corpus plus a small
Transformer encoder (`text_transformer`) that reads its ids.

The tokenizer is BERT's recipe (Devlin et al. 2019, arXiv 1810.04805): lowercasing and accent
stripping, splitting on whitespace and punctuation, a WordPiece vocabulary (Wu et al. 2016,
arXiv 1609.08144) and the ``[CLS] ... [SEP]`` frame of the token contract, with ``[PAD]`` = 0.
An exported encoder carries its tokenizer.json, so rebuilding it never needs the corpus.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from torch import Tensor

from contrastlearn.core.atomic import atomic_write
from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.text.encoders import TextTransformerEncoder
from contrastlearn.modalities.text.tokenizer import TextTokenizer
from contrastlearn.modalities.text.tokens import PAD_ID

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
TOKENIZER_FILE = "tokenizer.json"
MAX_SUFFIX_LENGTH = 6
"""Longest word ending kept as a ``##`` piece."""


def train_wordpiece_tokenizer(texts: Sequence[str], vocab_size: int = 8000,
                              min_frequency: int = 2) -> Tokenizer:
    """A lowercasing BERT-style WordPiece tokenizer whose vocabulary is learned from `texts`.

    Special ids: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4; every encoding is framed as
    ``[CLS] text [SEP]``. The vocabulary is deterministic (the same corpus always gives the
    same ids, so a run resumes and reproduces exactly; the `tokenizers` trainer breaks ties by
    hash order and does not): every character seen, as word start and as ``##`` continuation,
    then the most frequent whole words and word endings (``##ing``, up to
    `MAX_SUFFIX_LENGTH` characters) seen at least `min_frequency` times, by count and then
    alphabetically, up to `vocab_size` tokens in all (the characters always stay, so a corpus
    with very many distinct characters can exceed it). Greedy longest-match WordPiece then
    splits any other word into those pieces."""
    texts = list(texts)
    if not texts or not any(text.strip() for text in texts):
        raise ValueError("train_wordpiece_tokenizer needs a non-empty corpus of texts")
    if int(vocab_size) <= len(SPECIAL_TOKENS):
        raise ValueError(f"train_wordpiece_tokenizer vocab_size must exceed the "
                         f"{len(SPECIAL_TOKENS)} special tokens; got {vocab_size}")
    normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = Counter(word for text in texts
                    for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for piece in _character_pieces(words):
        vocab.setdefault(piece, len(vocab))
    for piece, count in sorted(_word_pieces(words).items(), key=lambda item: (-item[1], item[0])):
        if len(vocab) >= int(vocab_size) or count < int(min_frequency):
            break
        vocab.setdefault(piece, len(vocab))
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))  # already in vocab: ids unchanged
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return tokenizer


def _character_pieces(words: Counter) -> list[str]:
    """Every character as a word start and as a continuation, sorted: any word can be spelled."""
    characters = sorted({character for word in words for character in word})
    return characters + [f"##{character}" for character in characters]


def _word_pieces(words: Counter) -> Counter:
    """Counts of whole words and of word endings (as ``##ending``) over the corpus."""
    pieces: Counter = Counter()
    for word, count in words.items():
        pieces[word] += count
        for start in range(max(1, len(word) - MAX_SUFFIX_LENGTH), len(word) - 1):
            pieces[f"##{word[start:]}"] += count
    return pieces


def save_tokenizer(tokenizer: Tokenizer, folder: str | Path) -> Path:
    """Write `tokenizer` to `folder`/tokenizer.json atomically; return the file."""
    path = Path(folder) / TOKENIZER_FILE
    atomic_write(path, tokenizer.to_str().encode())
    return path


@ENCODERS.register("scratch_text_encoder")
def scratch_text_encoder(corpus: Sequence[str], vocab_size: int = 8000, dim: int = 256,
                         depth: int = 4, heads: int = 4, max_length: int = 128,
                         dropout: float = 0.1, pooling: str = "mean",
                         min_frequency: int = 2,
                         zero_init_residual: bool = False,
                         embedding_std: float = 0.02) -> TextTransformerEncoder:
    """A `text_transformer` with a WordPiece tokenizer trained on `corpus` (its `.tokenizer`).

    The embedding table has as many rows as the trained vocabulary (at most `vocab_size`);
    "sif" pooling weighs tokens by their frequency in `corpus`. Exported, it rebuilds as
    "text_transformer" from its tokenizer.json and state dict, without the corpus."""
    backend = train_wordpiece_tokenizer(corpus, vocab_size, min_frequency)
    tokenizer = TextTokenizer(backend, max_length=max_length)
    encoder = TextTransformerEncoder(tokenizer.vocab_size, dim, depth, heads, max_length,
                                     dropout, pooling, zero_init_residual=zero_init_residual,
                                     embedding_std=embedding_std)
    encoder.set_tokenizer(tokenizer)
    if pooling == "sif":
        encoder.set_token_frequencies(token_counts(backend, corpus, tokenizer.vocab_size),
                                      sorted(tokenizer.special_ids | {PAD_ID}))
    return encoder


def token_counts(tokenizer: Tokenizer, texts: Sequence[str], vocab_size: int) -> Tensor:
    """How often each id occurs in the untruncated encodings of `texts`."""
    ids = [token for encoding in tokenizer.encode_batch(list(texts)) for token in encoding.ids]
    return torch.bincount(torch.tensor(ids, dtype=torch.int64), minlength=vocab_size)
