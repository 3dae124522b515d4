"""From-scratch text models: a WordPiece tokenizer trained on the corpus plus a small
Transformer encoder (`text_transformer`) that reads its ids.

The tokenizer is BERT's recipe (Devlin et al. 2019, arXiv 1810.04805): lowercasing and accent
stripping, splitting on whitespace and punctuation, a WordPiece vocabulary (Wu et al. 2016,
arXiv 1609.08144) and the ``[CLS] ... [SEP]`` frame of the token contract, with ``[PAD]`` = 0.
An exported encoder carries its tokenizer.json, so rebuilding it never needs the corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers.trainers import WordPieceTrainer

from contrastlearn.atomic import atomic_write
from contrastlearn.modalities.text.encoders import TextTransformerEncoder
from contrastlearn.modalities.text.tokenizer import TextTokenizer
from contrastlearn.registry import ENCODERS

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
TOKENIZER_FILE = "tokenizer.json"


def train_wordpiece_tokenizer(texts: Sequence[str], vocab_size: int = 8000,
                              min_frequency: int = 2) -> Tokenizer:
    """A lowercasing BERT-style WordPiece tokenizer trained on `texts`.

    Special ids: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4; every encoding is framed as
    ``[CLS] text [SEP]``. The vocabulary holds at most `vocab_size` tokens (fewer when the
    corpus is small); pieces seen fewer than `min_frequency` times are left out."""
    texts = list(texts)
    if not texts or not any(text.strip() for text in texts):
        raise ValueError("train_wordpiece_tokenizer needs a non-empty corpus of texts")
    if int(vocab_size) <= len(SPECIAL_TOKENS):
        raise ValueError(f"train_wordpiece_tokenizer vocab_size must exceed the "
                         f"{len(SPECIAL_TOKENS)} special tokens; got {vocab_size}")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    trainer = WordPieceTrainer(vocab_size=int(vocab_size), min_frequency=int(min_frequency),
                               special_tokens=list(SPECIAL_TOKENS))
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, folder: str | Path) -> Path:
    """Write `tokenizer` to `folder`/tokenizer.json atomically; return the file."""
    path = Path(folder) / TOKENIZER_FILE
    atomic_write(path, tokenizer.to_str().encode())
    return path


@ENCODERS.register("scratch_text_encoder")
def scratch_text_encoder(corpus: Sequence[str], vocab_size: int = 8000, dim: int = 256,
                         depth: int = 4, heads: int = 4, max_length: int = 128,
                         dropout: float = 0.1, pooling: str = "mean",
                         min_frequency: int = 2) -> TextTransformerEncoder:
    """A `text_transformer` with a WordPiece tokenizer trained on `corpus` (its `.tokenizer`).

    The embedding table has as many rows as the trained vocabulary (at most `vocab_size`).
    Exported, it rebuilds as "text_transformer" from its tokenizer.json, without the corpus."""
    tokenizer = TextTokenizer(train_wordpiece_tokenizer(corpus, vocab_size, min_frequency),
                              max_length=max_length)
    encoder = TextTransformerEncoder(tokenizer.vocab_size, dim, depth, heads, max_length,
                                     dropout, pooling)
    encoder.set_tokenizer(tokenizer)
    return encoder
