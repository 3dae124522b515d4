"""How text reaches the engine: texts are tokenized once, by the encoder's own tokenizer, into
`TokenDataset`s (dynamic padding, length buckets), and the retrieval sets a dataset ships are
scored on the trained encoder."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from contrastlearn.data.arrays import DataError, DatasetSplits
from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.retrieval import retrieval_metrics
from contrastlearn.modalities.text.data import RetrievalSet, TextDataset, tokenize_dataset
from contrastlearn.modalities.text.tokens import TokenDataset

RETRIEVAL_KS = (1, 10)


def tokenizer_of(encoder: nn.Module):
    """The encoder's tokenizer (`encoder.tokenizer`); text needs an encoder that has one."""
    tokenizer = getattr(encoder, "tokenizer", None)
    if tokenizer is None:
        raise DataError(f"{type(encoder).__name__} has no `tokenizer`: text data needs a text "
                        "encoder (hf_text_encoder, scratch_text_encoder, text_transformer)")
    return tokenizer


@dataclass(frozen=True, eq=False)
class TokenizedRetrieval:
    """A `RetrievalSet` in token ids; `evaluate` scores an encoder on it (Recall@1/10, MRR)."""

    queries: Tensor
    documents: Tensor
    query_targets: Tensor
    name: str = "retrieval"

    def evaluate(self, encoder: nn.Module, *, device: torch.device | str | None = None,
                 batch_size: int = 512, split: str = "test") -> list[Result]:
        queries, documents = (TokenDataset(ids).embed_with(encoder, batch_size=batch_size,
                                                           device=device)
                              for ids in (self.queries, self.documents))
        results = retrieval_metrics(queries, documents, self.query_targets,
                                    torch.arange(len(documents)), ks=RETRIEVAL_KS,
                                    device=device, split=split)
        for result in results:
            result.settings["evaluation_set"] = self.name
        return results


class _CountingTokenizer:
    """The encoder's tokenizer, adding up how many texts each call cut at max_length."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.truncated = 0

    def __call__(self, texts: list[str]) -> Tensor:
        ids = self.tokenizer(texts)
        self.truncated += int(getattr(self.tokenizer, "last_truncated", 0) or 0)
        return ids


def _tokenized(dataset: TextDataset | None, tokenizer) -> TokenDataset | None:
    if dataset is None:
        return None
    arrays = tokenize_dataset(dataset, tokenizer)
    return TokenDataset(arrays.x, arrays.y, arrays.ids, arrays.name)


def _tokenized_extra(name: str, extra: Any, tokenizer) -> Any:
    if isinstance(extra, RetrievalSet):
        return TokenizedRetrieval(tokenizer(extra.queries), tokenizer(extra.documents),
                                  extra.query_targets, name)
    return extra


def corpus_of(splits: DatasetSplits) -> dict[str, list[str]]:
    """Every training text (all columns) as the `corpus` a from-scratch tokenizer learns."""
    return {"corpus": [text for column in splits.train.columns for text in column]}


def tokenize_splits(splits: DatasetSplits, encoder: nn.Module) -> DatasetSplits:
    """The splits with every text (every column, and the evaluation sets in `extras`) in token
    ids of the encoder's tokenizer; the number of texts cut at the tokenizer's maximum length
    is counted in `info["truncated"]`."""
    tokenizer = _CountingTokenizer(tokenizer_of(encoder))
    train = _tokenized(splits.train, tokenizer)
    test = _tokenized(splits.test, tokenizer)
    extras = {name: _tokenized_extra(name, extra, tokenizer)
              for name, extra in splits.extras.items()}
    info = {**splits.info, "truncated": tokenizer.truncated,
            "max_length": getattr(tokenizer.tokenizer, "max_length", None)}
    return replace(splits, train=train, test=test, info=info, extras=extras)


def tokenize_samples(texts: list[str], encoder: nn.Module) -> TokenDataset:
    """Texts to embed as token ids of the encoder's tokenizer."""
    return TokenDataset(tokenizer_of(encoder)(texts))

