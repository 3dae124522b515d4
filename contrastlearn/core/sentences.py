"""Whole sentences out of docstrings, so one-line summaries never stop mid-sentence."""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset({"al.", "e.g.", "i.e.", "cf.", "etc.", "vs.", "fig.", "eq.",
                           "sec.", "approx.", "resp."})
"""Words whose final full stop ends no sentence (compared lower-cased)."""
_OPENING = "([{"
_CLOSING = ")]}"
_TOGGLES = '`"'
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def first_paragraph(text: str) -> str:
    """The first paragraph of `text` (up to the first blank line), whitespace collapsed."""
    return " ".join(_PARAGRAPH_BREAK.split(text.strip(), maxsplit=1)[0].split())


def _ends_sentence(text: str, index: int) -> bool:
    """Whether the '.', '!' or '?' at `index` ends a sentence: followed by the end, or by
    whitespace and then no lower-case letter or digit, and not closing an abbreviation."""
    rest = text[index + 1:]
    if rest and not rest[0].isspace():
        return False
    following = rest.lstrip()[:1]
    if following and (following.islower() or following.isdigit()):
        return False
    word = text[:index + 1].rsplit(" ", 1)[-1].lower()
    return word not in ABBREVIATIONS


def first_sentence(text: str) -> str:
    """The first sentence of `text`'s first paragraph, or the whole paragraph when it has no
    sentence end. Full stops inside brackets, quotes and `code` never end a sentence."""
    paragraph = first_paragraph(text)
    depth, inside = 0, ""
    for index, char in enumerate(paragraph):
        if inside:
            inside = "" if char == inside else inside
        elif char in _TOGGLES:
            inside = char
        elif char in _OPENING:
            depth += 1
        elif char in _CLOSING:
            depth = max(0, depth - 1)
        elif char in ".!?" and depth == 0 and _ends_sentence(paragraph, index):
            return paragraph[:index + 1]
    return paragraph
