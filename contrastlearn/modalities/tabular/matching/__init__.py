"""Tuple matching: self-supervised matching of table rows across tables (Ji, Luo, Bao &
Culpepper 2024, "Robust Table Integration in Data Lakes", arXiv 2412.00324).

Rows are character codes (`encode_table`), two corrupted copies of a row are a positive pair
(`tuple_corruption_views`: typos, abbreviations, dropped fields, reordered fields), a
`row_encoder` embeds rows order-free, and `TupleMatchingProtocol` scores match precision,
recall and F1 of corrupted held-out rows against the clean table, next to character 3-gram
TF-IDF. Importing this package registers the views, the encoder and the `table-matching`
dataset.
"""

from contrastlearn.modalities.tabular.matching.builtin import airports_table, load_table_matching
from contrastlearn.modalities.tabular.matching.chars import (
    PAD,
    decode_rows,
    encode_table,
)
from contrastlearn.modalities.tabular.matching.corruptions import (
    Abbreviations,
    DropFields,
    ReorderFields,
    Typos,
    corrupt_rows,
    row_corruption,
    tuple_corruption_views,
)
from contrastlearn.modalities.tabular.matching.data import TupleDataset, tuple_matching_splits
from contrastlearn.modalities.tabular.matching.encoder import RowEncoder
from contrastlearn.modalities.tabular.matching.match import match_tables
from contrastlearn.modalities.tabular.matching.protocol import (
    MatchingTask,
    TupleMatchingProtocol,
)

__all__ = ["PAD", "Abbreviations", "DropFields", "MatchingTask", "ReorderFields", "RowEncoder",
           "TupleDataset", "TupleMatchingProtocol", "Typos", "airports_table", "corrupt_rows",
           "decode_rows", "encode_table", "load_table_matching", "match_tables",
           "row_corruption", "tuple_corruption_views", "tuple_matching_splits"]
