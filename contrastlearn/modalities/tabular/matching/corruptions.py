"""Corruption views of table rows: the noise two copies of one real-world record show in two
tables of a data lake (typos, abbreviations, missing values, other column orders), made on
purpose so that two corrupted copies of a row are a positive pair.

After the self-supervised tuple matching of Ji, Luo, Bao & Culpepper (2024, "Robust Table
Integration in Data Lakes", arXiv 2412.00324), which trains its integrability judge on tuples
perturbed by such augmentations instead of labelled pairs. The four operations and their
defaults are ours.

Every op reads and returns (B, F, C) int64 character codes (`chars.encode_table`): fields are
left-aligned, 0-padded, and stay so. Each is batched (no loop over rows), runs on the batch's
device, draws its random numbers from the generator it is given (same state, same output),
applies to each row with probability `p`, and is the identity at rate 0 (or `p` 0).
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastlearn.augment.base import Augmentation, Compose
from contrastlearn.augment.views import ViewPipeline, Views
from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.tabular.matching.chars import PAD

SPACE, DOT = ord(" "), ord(".")


def check_rows(x: object, owner: str) -> Tensor:
    """`x` as (B, F, C) int64 character codes, or a one-line error naming `owner`."""
    if not isinstance(x, Tensor) or x.dim() != 3 or x.dtype != torch.int64:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        dtype = f" {x.dtype}" if isinstance(x, Tensor) else ""
        raise ValueError(f"{owner} expects table rows as (rows, fields, chars) int64 character "
                         f"codes; got {shape}{dtype}: encode a table with "
                         "contrastlearn.modalities.tabular.matching.encode_table")
    return x


def _unit(value: float, name: str, owner: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{owner} {name} must be in [0, 1], got {value}")
    return value


def _chosen_rows(generator: torch.Generator, rows: int, p: float, device) -> Tensor:
    """(rows,) bool: the rows an op changes, each with probability `p`."""
    return torch.rand(rows, generator=generator, device=device) < p


def _shift_right(mask: Tensor) -> Tensor:
    """`mask` moved one position right along the last axis (False enters at position 0)."""
    return torch.nn.functional.pad(mask[:, :-1], (1, 0))


def pack(chars: Tensor, keep: Tensor, width: int) -> Tensor:
    """(S, width): the `keep` characters of each row of `chars` (S, L), moved left in order,
    cut to `width`, padded with PAD."""
    position = keep.long().cumsum(dim=1) - 1
    placed = keep & (position < width)
    index = torch.where(placed, position, width)  # the rest land in a column cut off below
    out = torch.full((chars.shape[0], width + 1), PAD, dtype=chars.dtype, device=chars.device)
    out.scatter_(1, index, torch.where(placed, chars, PAD))
    return out[:, :width]


def _random_like(codes: Tensor, draws: Tensor) -> Tensor:
    """A random character of the same kind as each code (upper or lower case letter, digit;
    a lower case letter for anything else), from uniform `draws` in [0, 1)."""
    upper = (codes >= ord("A")) & (codes <= ord("Z"))
    digit = (codes >= ord("0")) & (codes <= ord("9"))
    letter = (draws * 26).long()
    return torch.where(upper, ord("A") + letter,
                       torch.where(digit, ord("0") + (draws * 10).long(), ord("a") + letter))


@AUGMENTATIONS.register("typos")
class Typos(Augmentation):
    """Typing errors: each character of a chosen row is edited with probability `rate`, by a
    substitution, deletion, insertion or transposition with its right neighbour (equally
    likely). Substituted and inserted characters are random letters or digits of the edited
    character's kind; a field of one character loses none; a field that grows is cut to the
    width."""

    def __init__(self, rate: float = 0.05, p: float = 1.0) -> None:
        self.rate = _unit(rate, "rate", "Typos")
        self.p = _unit(p, "p", "Typos")

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        rows = check_rows(x, "Typos")
        if self.rate == 0 or self.p == 0:
            return x
        batch, fields, width = rows.shape
        device = rows.device
        chosen = _chosen_rows(generator, batch, self.p, device).repeat_interleave(fields)
        flat = rows.reshape(batch * fields, width)
        valid = flat != PAD
        edited = (valid & chosen[:, None]
                  & (torch.rand(flat.shape, generator=generator, device=device) < self.rate))
        kind = (torch.rand(flat.shape, generator=generator, device=device) * 4).long()
        draws = torch.rand((2, *flat.shape), generator=generator, device=device)
        # transpositions first, never two overlapping, each with a character to its right
        swap = edited & (kind == 3) & torch.nn.functional.pad(valid[:, 1:], (0, 1))
        swap = swap & ~_shift_right(swap)
        partner = _shift_right(swap)
        right = torch.nn.functional.pad(flat[:, 1:], (0, 1))
        left = torch.nn.functional.pad(flat[:, :-1], (1, 0))
        out = torch.where(swap, right, torch.where(partner, left, flat))
        out = torch.where(edited & (kind == 0), _random_like(out, draws[0]), out)
        deleted = edited & (kind == 1) & (valid.sum(dim=1, keepdim=True) > 1)
        inserted = edited & (kind == 2)
        doubled = torch.stack([_random_like(out, draws[1]), out], dim=2).flatten(1)
        keep = torch.stack([inserted, valid & ~deleted], dim=2).flatten(1)
        return pack(doubled, keep, width).reshape(batch, fields, width)


@AUGMENTATIONS.register("abbreviations")
class Abbreviations(Augmentation):
    """Abbreviated words: in a chosen row each word (space-separated; a one-word field is the
    whole field) that starts with a letter and has at least k + 2 characters is, with
    probability `rate`, cut to its first k characters and a '.' ("Municipal" -> "Mun."), k
    drawn per field uniformly in [`min_keep`, `max_keep`]. Numbers are never abbreviated."""

    def __init__(self, rate: float = 0.2, min_keep: int = 1, max_keep: int = 4,
                 p: float = 1.0) -> None:
        self.rate = _unit(rate, "rate", "Abbreviations")
        self.p = _unit(p, "p", "Abbreviations")
        if not 1 <= int(min_keep) <= int(max_keep):
            raise ValueError(f"Abbreviations needs 1 <= min_keep <= max_keep, got min_keep="
                             f"{min_keep}, max_keep={max_keep}")
        self.min_keep, self.max_keep = int(min_keep), int(max_keep)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        rows = check_rows(x, "Abbreviations")
        if self.rate == 0 or self.p == 0:
            return x
        batch, fields, width = rows.shape
        device = rows.device
        chosen = _chosen_rows(generator, batch, self.p, device).repeat_interleave(fields)
        flat = rows.reshape(batch * fields, width)
        keep_chars = self.min_keep + (
            torch.rand(batch * fields, generator=generator, device=device)
            * (self.max_keep - self.min_keep + 1)).long()[:, None]
        decided = torch.rand(flat.shape, generator=generator, device=device) < self.rate
        in_word = (flat != PAD) & (flat != SPACE)
        starts = in_word & ~_shift_right(in_word)
        positions = torch.arange(width, device=device).expand_as(flat)
        start_of = torch.where(starts, positions, 0).cummax(dim=1).values
        offset = positions - start_of
        reaches = (in_word & (offset == keep_chars + 1)).long()
        long_word = torch.zeros_like(reaches).scatter_add_(1, start_of, reaches).gather(
            1, start_of) > 0
        letter = ((flat | 32) >= ord("a")) & ((flat | 32) <= ord("z"))
        cut = (in_word & chosen[:, None] & long_word & decided.gather(1, start_of)
               & letter.gather(1, start_of))
        dropped = cut & (offset >= keep_chars)
        dotted = cut & (offset == keep_chars - 1)
        doubled = torch.stack([flat, torch.full_like(flat, DOT)], dim=2).flatten(1)
        keep = torch.stack([(flat != PAD) & ~dropped, dotted], dim=2).flatten(1)
        return pack(doubled, keep, width).reshape(batch, fields, width)


@AUGMENTATIONS.register("drop_fields")
class DropFields(Augmentation):
    """Missing values: each non-empty field of a chosen row is blanked with probability
    `rate`; a row keeps at least one non-empty field (one chosen at random)."""

    def __init__(self, rate: float = 0.2, p: float = 1.0) -> None:
        self.rate = _unit(rate, "rate", "DropFields")
        self.p = _unit(p, "p", "DropFields")

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        rows = check_rows(x, "DropFields")
        if self.rate == 0 or self.p == 0:
            return x
        batch, fields, _ = rows.shape
        device = rows.device
        chosen = _chosen_rows(generator, batch, self.p, device)
        filled = (rows != PAD).any(dim=2)
        dropped = (filled & chosen[:, None]
                   & (torch.rand((batch, fields), generator=generator, device=device)
                      < self.rate))
        scores = torch.rand((batch, fields), generator=generator, device=device)
        survivor = scores.masked_fill(~filled, 2.0).argmin(dim=1, keepdim=True)
        emptied = ~(filled & ~dropped).any(dim=1, keepdim=True)
        spared = torch.zeros_like(dropped).scatter_(1, survivor, emptied)
        return rows.masked_fill((dropped & ~spared)[:, :, None], PAD)


@AUGMENTATIONS.register("reorder_fields")
class ReorderFields(Augmentation):
    """Another column order: the fields of a chosen row are permuted uniformly at random."""

    def __init__(self, p: float = 1.0) -> None:
        self.p = _unit(p, "p", "ReorderFields")

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        rows = check_rows(x, "ReorderFields")
        if self.p == 0:
            return x
        batch, fields, width = rows.shape
        device = rows.device
        chosen = _chosen_rows(generator, batch, self.p, device)
        order = torch.rand((batch, fields), generator=generator, device=device).argsort(dim=1)
        order = torch.where(chosen[:, None], order, torch.arange(fields, device=device))
        return rows.gather(1, order[:, :, None].expand(-1, -1, width))


def row_corruption(strength: float = 1.0, typo_rate: float = 0.05,
                   abbreviation_rate: float = 0.2, drop_rate: float = 0.2,
                   reorder_p: float = 1.0) -> Compose:
    """Abbreviations, then typos, then dropped fields, then another field order; every rate
    (and the reorder probability) times `strength` (0: the identity)."""
    strength = float(strength)
    if strength < 0:
        raise ValueError(f"row corruption strength must be >= 0, got {strength}")
    scaled = [min(1.0, strength * float(value))
              for value in (typo_rate, abbreviation_rate, drop_rate, reorder_p)]
    return Compose([Abbreviations(rate=scaled[1]), Typos(rate=scaled[0]),
                    DropFields(rate=scaled[2]), ReorderFields(p=scaled[3])])


@AUGMENTATIONS.register("tuple_corruption_views")
def tuple_corruption_views(strength: float = 1.0, typo_rate: float = 0.05,
                           abbreviation_rate: float = 0.2, drop_rate: float = 0.2,
                           reorder_p: float = 1.0) -> Views:
    """Two independently corrupted copies of each row (`row_corruption`): the positive pair
    of self-supervised tuple matching (Ji et al. 2024, arXiv 2412.00324)."""
    corruption = row_corruption(strength, typo_rate, abbreviation_rate, drop_rate, reorder_p)
    return Views([ViewPipeline(corruption, count=2)])


HELD_OUT_CORRUPTION = {"typo_rate": 0.08, "abbreviation_rate": 0.3, "drop_rate": 0.25,
                       "reorder_p": 1.0}
"""The corruption of the rows of table B (and of the validation queries): stronger than the
training views' defaults, every kind mixed in every row."""


def corrupt_rows(x: Tensor, seed: int, **settings: float) -> Tensor:
    """`x` corrupted once by `row_corruption(**HELD_OUT_CORRUPTION, **settings)` with a
    generator seeded by `seed`: the same rows and seed always give the same table."""
    corruption = row_corruption(**{**HELD_OUT_CORRUPTION, **settings})
    return corruption(x, torch.Generator(device=x.device).manual_seed(int(seed)))
