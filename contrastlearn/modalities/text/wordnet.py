"""WordNet 3.0 for the text room's built-in datasets and synonym views: the parser lives in the
shared data layer (`contrastlearn.data.wordnet`, also read by other rooms); these are its
names as the text room has always offered them."""

from __future__ import annotations

from contrastlearn.data.wordnet import (
    LEXNAMES,
    WORDNET_DIR,
    WORDNET_INSTALL,
    WORDNET_PARTS,
    WordNetSynsets,
    parse_wordnet,
    split_gloss,
    wordnet_available,
)

__all__ = ["LEXNAMES", "WORDNET_DIR", "WORDNET_INSTALL", "WORDNET_PARTS", "WordNetSynsets",
           "parse_wordnet", "split_gloss", "wordnet_available"]
