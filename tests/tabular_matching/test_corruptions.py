"""Corruption views: the augmentation contract (shape, dtype, determinism under a seeded
generator, identity at strength 0, per-row p) and what each corruption does to a row."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.augment.curriculum import strength_rebuilder
from contrastlearn.augment.views import Views
from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.tabular.matching.chars import PAD, decode_rows, encode_table
from contrastlearn.modalities.tabular.matching.corruptions import (
    Abbreviations,
    DropFields,
    ReorderFields,
    Typos,
    corrupt_rows,
    pack,
    row_corruption,
    tuple_corruption_views,
)
from tests.tabular_matching.fixtures import places, seeded

ROWS = encode_table(places(64), max_chars=32)
OPERATIONS = [Typos(rate=0.3), Abbreviations(rate=0.8), DropFields(rate=0.4), ReorderFields()]
AT_ZERO = [Typos(rate=0.0), Abbreviations(rate=0.0), DropFields(rate=0.0), ReorderFields(p=0.0),
           row_corruption(strength=0.0)]
NAMES = ("typos", "abbreviations", "drop_fields", "reorder_fields")


def ids(operation) -> str:
    return type(operation).__name__


def assert_left_aligned(x: torch.Tensor) -> None:
    filled = x != PAD
    assert not bool((~filled[..., :-1] & filled[..., 1:]).any()), "a gap inside a field"


@pytest.mark.parametrize("operation", OPERATIONS, ids=ids)
def test_shape_dtype_and_left_aligned_fields_are_kept(operation):
    made = operation(ROWS, seeded())
    assert made.shape == ROWS.shape and made.dtype == torch.int64
    assert_left_aligned(made)
    assert not torch.equal(made, ROWS)


@pytest.mark.parametrize("operation", OPERATIONS, ids=ids)
def test_same_generator_state_gives_the_same_rows(operation):
    first = operation(ROWS, seeded(3))
    assert torch.equal(first, operation(ROWS, seeded(3)))
    assert not torch.equal(first, operation(ROWS, seeded(4)))


@pytest.mark.parametrize("operation", AT_ZERO, ids=ids)
def test_strength_zero_is_the_identity(operation):
    assert torch.equal(operation(ROWS, seeded()), ROWS)


@pytest.mark.parametrize("make", [lambda p: Typos(rate=0.5, p=p),
                                  lambda p: Abbreviations(rate=1.0, p=p),
                                  lambda p: DropFields(rate=0.6, p=p),
                                  lambda p: ReorderFields(p=p)], ids=NAMES)
def test_p_is_the_probability_that_a_row_changes(make):
    rows = ROWS.repeat(8, 1, 1)  # 512 rows
    changed = (make(0.5)(rows, seeded()) != rows).flatten(1).any(dim=1).float().mean()
    assert 0.3 < float(changed) <= 0.6  # a few rows draw no edit although chosen
    assert torch.equal(make(0.0)(rows, seeded()), rows)
    assert float((make(1.0)(rows, seeded()) != rows).flatten(1).any(dim=1).float().mean()) > 0.8


def test_typos_keep_most_characters_and_never_empty_a_one_character_field():
    rows = encode_table(places(64).assign(state="X"), max_chars=32)
    made = Typos(rate=1.0)(rows, seeded())
    assert bool((made[:, 2, 0] != PAD).all()), "a one-character field lost its character"
    light = Typos(rate=0.1)(ROWS, seeded())
    same = (light == ROWS).float().mean()
    assert float(same) > 0.7


def test_a_transposition_swaps_neighbours():
    rows = encode_table(places(1).assign(code="abcdefgh")[["code", "name"]], max_chars=8)
    torch.manual_seed(0)
    for seed in range(200):  # find a draw where only transpositions happened
        made = Typos(rate=0.2)(rows, seeded(seed))
        before, after = rows[0, 0].tolist(), made[0, 0].tolist()
        if sorted(before) == sorted(after) and before != after:
            differs = [index for index, (a, b) in enumerate(zip(before, after)) if a != b]
            assert len(differs) % 2 == 0
            assert all(after[i] == before[i + 1] and after[i + 1] == before[i]
                       for i in differs[::2])
            return
    pytest.fail("no draw with a transposition alone")


def test_abbreviations_cut_words_to_a_prefix_and_a_dot_and_leave_numbers():
    frame = places(16)[["name", "elevation"]]
    made = Abbreviations(rate=1.0, min_keep=2, max_keep=2)(encode_table(frame), seeded())
    for original, short in zip(decode_rows(encode_table(frame), "|"), decode_rows(made, "|")):
        name, number = original.split("|")
        short_name, short_number = short.split("|")
        assert short_number == number
        assert short_name.split() == [word[:2] + "." for word in name.split()]


def test_drop_fields_blanks_whole_fields_and_keeps_one():
    made = DropFields(rate=1.0)(ROWS, seeded())
    filled = (made != PAD).any(dim=2)
    assert bool((filled.sum(dim=1) == 1).all())
    kept = filled[:, :, None].expand_as(made)
    assert torch.equal(made[kept], ROWS[kept])


def test_reorder_fields_permutes_each_rows_fields():
    made = ReorderFields()(ROWS, seeded())
    for original, moved in zip(ROWS, made):
        assert sorted(map(tuple, original.tolist())) == sorted(map(tuple, moved.tolist()))


def test_pack_moves_kept_characters_left_and_cuts_to_width():
    chars = torch.tensor([[5, 6, 7, 8, 9]])
    keep = torch.tensor([[True, False, True, True, True]])
    assert pack(chars, keep, 3).tolist() == [[5, 7, 8]]
    assert pack(chars, ~keep, 3).tolist() == [[6, 0, 0]]


def test_bad_input_says_what_the_ops_read():
    with pytest.raises(ValueError, match="int64 character codes.*encode_table"):
        Typos()(torch.zeros(4, 3), seeded())
    with pytest.raises(ValueError, match="rate must be in"):
        DropFields(rate=1.5)


def test_the_views_are_registered_and_make_two_different_copies():
    assert all(name in AUGMENTATIONS for name in (*NAMES, "tuple_corruption_views"))
    views = tuple_corruption_views()
    assert isinstance(views, Views) and views.num_views == 2
    first, second = views(ROWS, seeded())
    assert not torch.equal(first, second)
    at_zero = tuple_corruption_views(strength=0.0)(ROWS, seeded())
    assert all(torch.equal(view, ROWS) for view in at_zero)


def test_the_views_take_a_strength_schedule():
    rebuild = strength_rebuilder(tuple_corruption_views, {"strength": 0.5})
    assert rebuild is not None
    assert all(torch.equal(view, ROWS) for view in rebuild(0.0)(ROWS, seeded()))


def test_held_out_corruption_is_fixed_by_its_seed():
    assert torch.equal(corrupt_rows(ROWS, 7), corrupt_rows(ROWS, 7))
    assert not torch.equal(corrupt_rows(ROWS, 7), corrupt_rows(ROWS, 8))


def test_the_preview_shows_rows_and_their_copies_as_text(tmp_path):
    from contrastlearn.modalities.tabular.matching.preview import write_tuple_preview

    path = write_tuple_preview(tuple_corruption_views(), ROWS, tmp_path, seed=0)
    text = path.read_text()
    assert text.count("input : ") == 8 and text.count("view 2: ") == 8
    assert decode_rows(ROWS[:1], separator=" | ")[0] in text
