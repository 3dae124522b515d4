"""Match the rows of one table to another with a trained row encoder."""

from __future__ import annotations

from typing import Any

from torch import nn

from contrastlearn.evaluation.features import extract_embeddings
from contrastlearn.modalities.tabular.matching.chars import (
    DEFAULT_MAX_CHARS,
    aligned_columns,
    encode_table,
)
from contrastlearn.modalities.tabular.matching.protocol import nearest


def match_tables(encoder: nn.Module, table_a: Any, table_b: Any, *, threshold: float,
                 max_chars: int = DEFAULT_MAX_CHARS, device: Any = "cpu",
                 batch_size: int = 512) -> Any:
    """For each row of `table_b`, its most similar row of `table_a` by the cosine similarity
    of the encoder's embeddings, and whether that reaches `threshold` (a match). Both tables
    must have the same columns, in any order. Returns a DataFrame with one row per B row:
    `b_row` and `a_row` (index labels), `similarity`, `match`."""
    import pandas

    columns = aligned_columns(table_a, table_b)
    embeddings = [extract_embeddings(encoder, encode_table(table, max_chars=max_chars,
                                                           columns=columns, what=what),
                                     batch_size=batch_size, device=device)
                  for table, what in ((table_a, "table A"), (table_b, "table B"))]
    similarity, index = nearest(embeddings[1], embeddings[0])
    return pandas.DataFrame({"b_row": table_b.index, "a_row": table_a.index[index.numpy()],
                             "similarity": similarity.numpy(),
                             "match": (similarity >= threshold).numpy()})
