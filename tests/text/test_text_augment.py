"""Text views: property tests on every op (shape, dtype, frame and padding kept, seed
determinism, identity at ratio 0, TokenBatch in -> TokenBatch out) and op-specific checks
against what each paper's op must do to a sentence, plus the view presets."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.augment.base import Compose, Identity
from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.text.augment import (
    FeatureCutoff,
    RandomDeletion,
    RandomInsertion,
    RandomSwap,
    SpanCutoff,
    SynonymReplacement,
    TokenCutoff,
    WordRepetition,
    choose_with_replacement,
    choose_without_replacement,
    cutoff_views,
    deletion_views,
    eda_views,
    esimcse_views,
    simcse_views,
    text_identity_views,
)
from contrastlearn.modalities.text.synonyms import SynonymTable
from contrastlearn.modalities.text.tokens import CUT_ID, PAD_ID, TokenBatch, interior_mask

CLS, SEP = 101, 102
LENGTHS = [12, 2, 7, 20, 3, 16]
VOCAB_SIZE = 4000


def sentences(lengths=LENGTHS, width: int | None = None) -> torch.Tensor:
    """[CLS] interior [SEP] + padding; row r has distinct increasing interior ids
    1000 + 100 r + i, so every token says which row and position it came from."""
    width = width or max(lengths)
    ids = torch.full((len(lengths), width), PAD_ID, dtype=torch.int64)
    for row, length in enumerate(lengths):
        ids[row, 0], ids[row, length - 1] = CLS, SEP
        ids[row, 1:length - 1] = 1000 + 100 * row + torch.arange(length - 2)
    return ids


def synonym_table() -> SynonymTable:
    """Even interior ids have the synonyms id + 2000 and id + 2001, odd ones have none."""
    table = torch.full((VOCAB_SIZE, 2), -1, dtype=torch.int64)
    counts = torch.zeros(VOCAB_SIZE, dtype=torch.int64)
    even = torch.arange(1000, 2000, 2)
    table[even, 0], table[even, 1], counts[even] = even + 2000, even + 2001, 2
    return SynonymTable(table, counts)


def real_tokens(row: torch.Tensor) -> list[int]:
    return row[row != PAD_ID].tolist()


def interior_tokens(row: torch.Tensor) -> list[int]:
    return real_tokens(row)[1:-1]


def is_subsequence(short: list[int], long: list[int]) -> bool:
    remaining = iter(long)
    return all(token in remaining for token in short)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


OPS = {
    "word_repetition": (WordRepetition, {"dup_rate": 0.5}, {"dup_rate": 0.0}),
    "random_deletion": (RandomDeletion, {"p": 0.3}, {"p": 0.0}),
    "random_swap": (RandomSwap, {"ratio": 0.3}, {"ratio": 0.0}),
    "random_insertion": (RandomInsertion, {"ratio": 0.3}, {"ratio": 0.0}),
    "synonym_replacement": (SynonymReplacement, {"table": synonym_table(), "ratio": 0.5},
                            {"table": synonym_table(), "ratio": 0.0}),
    "token_cutoff": (TokenCutoff, {"ratio": 0.3}, {"ratio": 0.0}),
    "span_cutoff": (SpanCutoff, {"ratio": 0.3}, {"ratio": 0.0}),
    "feature_cutoff": (FeatureCutoff, {"ratio": 0.2}, {"ratio": 0.0}),
}
WIDTH_KEEPING = ["random_swap", "synonym_replacement", "token_cutoff", "span_cutoff",
                 "feature_cutoff"]


def assert_well_formed(out: torch.Tensor, original: torch.Tensor) -> None:
    """Same rows, each row CLS ... SEP with the original frame, padding only at the end."""
    assert out.dtype == torch.int64 and out.dim() == 2 and len(out) == len(original)
    for row_out, row_in in zip(out, original):
        length = int((row_out != PAD_ID).sum())
        assert bool((row_out[:length] != PAD_ID).all())
        assert bool((row_out[length:] == PAD_ID).all())
        frame = real_tokens(row_in)
        assert row_out[0] == frame[0] == CLS and row_out[length - 1] == frame[-1] == SEP
        assert CLS not in interior_tokens(row_out) and SEP not in interior_tokens(row_out)
    assert int((out != PAD_ID).sum(dim=1).max()) == out.shape[1]  # re-packed: no empty column


def ids_of(view) -> torch.Tensor:
    return view.ids if isinstance(view, TokenBatch) else view


@pytest.mark.parametrize("name", list(OPS))
def test_registered_well_formed_and_deterministic(name):
    cls, strong, _ = OPS[name]
    assert AUGMENTATIONS.get(name) is cls
    x = sentences()
    first = cls(**strong)(x, generator())
    assert_well_formed(ids_of(first), x)
    if name in WIDTH_KEEPING:
        assert ids_of(first).shape == x.shape
    assert torch.equal(ids_of(first), ids_of(cls(**strong)(x, generator())))
    second = cls(**strong)(x, generator(1))
    if name == "feature_cutoff":
        assert first.feature_seed != second.feature_seed
    else:
        assert not torch.equal(first, x) and not torch.equal(first, second)


@pytest.mark.parametrize("name", list(OPS))
def test_identity_at_zero(name):
    cls, _, zero = OPS[name]
    x = sentences(width=25)  # extra padding columns stay: the very same tensor comes back
    out = cls(**zero)(x, generator())
    assert out is x and isinstance(out, torch.Tensor)
    batch = TokenBatch(x, feature_cutoff=0.3, feature_seed=5)
    assert cls(**zero)(batch, generator()) is batch


@pytest.mark.parametrize("name", list(OPS))
def test_token_batch_in_token_batch_out(name):
    cls, strong, _ = OPS[name]
    x = sentences()
    plain = cls(**strong)(x, generator(3))
    wrapped = cls(**strong)(TokenBatch(x, feature_cutoff=0.4, feature_seed=7), generator(3))
    assert isinstance(wrapped, TokenBatch)
    assert torch.equal(wrapped.ids, ids_of(plain))
    if name == "feature_cutoff":
        assert (wrapped.feature_cutoff, wrapped.feature_seed) == (0.2, plain.feature_seed)
    else:
        assert isinstance(plain, torch.Tensor)
        assert (wrapped.feature_cutoff, wrapped.feature_seed) == (0.4, 7)


@pytest.mark.parametrize("name", list(OPS))
def test_short_rows_empty_batch_and_bad_input(name):
    cls, strong, _ = OPS[name]
    op = cls(**strong)
    frames = sentences([2, 2, 3])
    out = ids_of(op(frames, generator()))
    assert_well_formed(out, frames)
    assert [real_tokens(row)[:1] + real_tokens(row)[-1:] for row in out] == [[CLS, SEP]] * 3
    assert out[:2, :2].tolist() == [[CLS, SEP], [CLS, SEP]]
    empty = torch.zeros(0, 5, dtype=torch.int64)
    assert ids_of(op(TokenBatch(empty), generator())).shape[0] == 0
    with pytest.raises(ValueError, match=r"shape \(batch, length\)"):
        op(torch.ones(2, 3, 5, dtype=torch.int64), generator())
    with pytest.raises(ValueError, match="int64"):
        op(sentences().float(), generator())
    with pytest.raises(ValueError, match="token ids"):
        op([[CLS, SEP]], generator())


@pytest.mark.parametrize("name", [name for name in OPS if name != "synonym_replacement"])
@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_ratio_out_of_range(name, bad):
    cls, strong, _ = OPS[name]
    key = next(iter(strong))
    with pytest.raises(ValueError, match=rf"{key} must be in \[0, 1\]"):
        cls(**{key: bad})


def test_word_repetition_only_adds_adjacent_copies():
    x = sentences()
    out = WordRepetition(0.5)(x, generator())
    for row_out, row_in in zip(out, x):
        tokens, original = interior_tokens(row_out), interior_tokens(row_in)
        collapsed = [t for i, t in enumerate(tokens) if i == 0 or t != tokens[i - 1]]
        assert collapsed == original
        assert all(tokens.count(t) <= 2 for t in original)
        added = len(tokens) - len(original)
        assert 0 <= added <= min(len(original), max(2, int(0.5 * len(original))))


def test_word_repetition_draws_dup_len_uniformly_up_to_esimcse_bound():
    # n = 10 interior tokens, dup_rate 0.32: dup_len uniform in [0, max(2, int(3.2))] = 0..3
    x = sentences([12]).expand(800, -1)
    out = WordRepetition(0.32)(x, generator())
    added = (out != PAD_ID).sum(dim=1) - 12
    frequencies = torch.bincount(added, minlength=4).float() / 800
    assert frequencies.shape == (4,)
    assert bool(((frequencies - 0.25).abs() < 0.06).all())
    # n = 4: int(1.28) = 1, so the floor of 2 applies: dup_len uniform in 0..2
    short = WordRepetition(0.32)(sentences([6]).expand(600, -1), generator())
    added = (short != PAD_ID).sum(dim=1) - 6
    frequencies = torch.bincount(added, minlength=3).float() / 600
    assert frequencies.shape == (3,)
    assert bool(((frequencies - 1 / 3).abs() < 0.06).all())
    # a one-token interior gets at most its one token repeated
    single = WordRepetition(1.0)(sentences([3]).expand(50, -1), generator())
    assert set((single != PAD_ID).sum(dim=1).tolist()) == {3, 4}


def test_word_repetition_max_length_keeps_sep():
    x = sentences()
    out = WordRepetition(1.0, max_length=14)(x, generator())
    assert out.shape[1] <= 14
    assert_well_formed(out, x)
    with pytest.raises(ValueError, match="max_length must be >= 2"):
        WordRepetition(0.3, max_length=1)


def test_random_deletion_keeps_order_and_one_interior_token():
    x = sentences()
    out = RandomDeletion(0.5)(x, generator())
    for row_out, row_in in zip(out, x):
        assert is_subsequence(real_tokens(row_out), real_tokens(row_in))
        assert len(interior_tokens(row_out)) >= min(1, len(interior_tokens(row_in)))
    everything = RandomDeletion(1.0)(x, generator())
    kept = [interior_tokens(row) for row in everything]
    assert [len(tokens) for tokens in kept] == [1, 0, 1, 1, 1, 1]
    assert [len(set(tokens) & set(interior_tokens(row))) for tokens, row in zip(kept, x)] \
        == [1, 0, 1, 1, 1, 1]
    # the survivor is drawn at random, not always the first token
    survivors = RandomDeletion(1.0)(sentences([20]).expand(200, -1), generator())[:, 1]
    assert len(set(survivors.tolist())) > 10


def test_random_deletion_rate():
    x = sentences([102]).expand(100, -1)
    out = RandomDeletion(0.2)(x, generator())
    removed = 1 - float(((out != PAD_ID).sum() - 200) / (100 * 100))
    assert abs(removed - 0.2) < 0.02


def test_random_swap_permutes_the_interior_only():
    x = sentences()
    out = RandomSwap(0.3)(x, generator())
    assert torch.equal(out == PAD_ID, x == PAD_ID)
    for row_out, row_in in zip(out, x):
        assert sorted(interior_tokens(row_out)) == sorted(interior_tokens(row_in))
        n = len(interior_tokens(row_in))
        swaps = max(1, round(0.3 * n)) if n >= 2 else 0
        assert int((row_out != row_in).sum()) <= 2 * swaps
    # a sentence of two interior tokens: exactly one swap, so they always trade places
    pair = RandomSwap(0.1)(sentences([4]).expand(20, -1), generator())
    assert pair[:, 1:3].tolist() == [[1001, 1000]] * 20


def test_random_insertion_inserts_copies_of_the_sentence():
    x = sentences()
    out = RandomInsertion(0.3)(x, generator())
    for row_out, row_in in zip(out, x):
        original = interior_tokens(row_in)
        tokens = interior_tokens(row_out)
        assert is_subsequence(real_tokens(row_in), real_tokens(row_out))
        assert len(tokens) - len(original) == (max(1, round(0.3 * len(original)))
                                               if original else 0)
        assert set(tokens) <= set(original)


def test_random_insertion_spreads_over_every_gap():
    x = sentences([5]).expand(400, -1)  # interior a b c: 4 gaps, 1 insertion
    out = RandomInsertion(0.1)(x, generator())
    assert out.shape == (400, 6)
    gaps = set()
    for row in out.tolist():
        inserted = next(i for i, (new, old) in enumerate(zip(row, x[0].tolist())) if new != old)
        gaps.add(inserted)
    assert gaps == {1, 2, 3, 4}


def test_random_insertion_with_synonyms():
    table = synonym_table()
    # row 0 has both even (synonym-bearing) and odd ids
    x = sentences([8, 3])
    x[1, 1] = 1101  # a single odd interior token: no synonym, so a copy is inserted
    out = RandomInsertion(0.5, synonyms=table)(x, generator())
    first = interior_tokens(out[0])
    inserted = [t for t in first if t not in interior_tokens(x[0])]
    assert len(inserted) == 3  # round(0.5 * 6)
    evens = [t for t in interior_tokens(x[0]) if t % 2 == 0]
    allowed = {t + 2000 for t in evens} | {t + 2001 for t in evens}
    assert set(inserted) <= allowed
    assert interior_tokens(out[1]) == [1101, 1101]
    capped = RandomInsertion(1.0, max_length=9)(sentences(), generator())
    assert capped.shape[1] == 9
    assert_well_formed(capped, sentences())
    with pytest.raises(TypeError, match="SynonymTable"):
        RandomInsertion(0.1, synonyms={"big": {"large"}})


def test_synonym_replacement_replaces_with_synonyms_only():
    table = synonym_table()
    x = sentences()
    op = SynonymReplacement(table, 0.5)
    out = op(x, generator())
    assert op.table is table  # already on the batch's device: not copied
    for row_out, row_in in zip(out, x):
        changed = (row_out != row_in).nonzero().flatten().tolist()
        candidates = [t for t in interior_tokens(row_in) if t % 2 == 0]
        n = len(interior_tokens(row_in))
        assert len(changed) == (min(max(1, round(0.5 * n)), len(candidates)) if n else 0)
        for position in changed:
            old, new = int(row_in[position]), int(row_out[position])
            assert old % 2 == 0 and new in (old + 2000, old + 2001)
    with pytest.raises(TypeError, match="SynonymTable"):
        SynonymReplacement({"big": {"large"}}, 0.1)
    with pytest.raises(ValueError, match=r"ratio must be in \[0, 1\]"):
        SynonymReplacement(table, 2.0)


def test_token_cutoff_cuts_round_ratio_interior_tokens():
    x = sentences()
    out = TokenCutoff(0.3)(x, generator())
    cut = out == CUT_ID
    assert bool((cut <= interior_mask(x)).all())
    assert torch.equal(out[~cut], x[~cut])
    expected = [round(0.3 * (length - 2)) for length in LENGTHS]
    assert cut.sum(dim=1).tolist() == expected


def test_span_cutoff_cuts_one_contiguous_interior_span():
    x = sentences()
    out = SpanCutoff(0.3)(x, generator())
    cut = out == CUT_ID
    assert bool((cut <= interior_mask(x)).all())
    assert torch.equal(out[~cut], x[~cut])
    for row, length in zip(cut, LENGTHS):
        positions = row.nonzero().flatten().tolist()
        assert len(positions) == round(0.3 * (length - 2))
        if positions:
            assert positions == list(range(positions[0], positions[0] + len(positions)))
    starts = SpanCutoff(0.2)(sentences([12]).expand(300, -1), generator())
    first_cut = (starts == CUT_ID).int().argmax(dim=1)
    assert set(first_cut.tolist()) == set(range(1, 10))  # span 2 of 10: starts 1..9


def test_feature_cutoff_returns_a_seeded_token_batch():
    x = sentences()
    out = FeatureCutoff(0.25)(x, generator(4))
    assert isinstance(out, TokenBatch) and out.ids is x and out.feature_cutoff == 0.25
    assert out.feature_seed == FeatureCutoff(0.25)(x, generator(4)).feature_seed
    keep = out.feature_keep(64)
    assert keep.shape == (len(x), 1, 64)
    assert torch.equal(keep, FeatureCutoff(0.25)(x, generator(4)).feature_keep(64))
    assert abs(1 - float(keep.mean()) - 0.25) < 0.1


def test_choosers_stay_in_the_mask():
    mask = interior_mask(sentences())
    count = torch.tensor([3, 5, 10, 1, 0, 20])
    chosen = choose_without_replacement(mask, count, generator())
    assert bool((chosen <= mask).all())
    assert chosen.sum(dim=1).tolist() == torch.minimum(count, mask.sum(dim=1)).tolist()
    drawn = choose_with_replacement(mask, 500, generator())
    assert drawn.shape == (6, 500)
    assert bool(mask.gather(1, drawn)[mask.any(dim=1)].all())
    assert drawn[1].eq(0).all()  # no interior: position 0, never used by the ops
    assert set(drawn[3].tolist()) == set(range(1, 19))


def test_presets_are_registered_and_make_their_views():
    x = sentences()
    for name in ("simcse_views", "esimcse_views", "eda_views", "cutoff_views",
                 "text_identity_views"):
        assert name in AUGMENTATIONS
    simcse = simcse_views()(x, generator())
    assert len(simcse) == 2 and all(view is x for view in simcse)
    anchor, repeated = esimcse_views(dup_rate=0.5)(x, generator())
    assert anchor is x and repeated.shape[1] > x.shape[1]
    tuples = torch.randint(1, 50, (4, 3, 9))
    assert text_identity_views()(tuples, generator())[0] is tuples
    assert text_identity_views().num_views == 1


def test_deletion_views():
    x = sentences()
    first, second = deletion_views(0.5)(x, generator())
    assert not torch.equal(first, second)
    assert_well_formed(first, x)
    assert_well_formed(second, x)
    again = deletion_views(0.5)(x, generator())
    assert torch.equal(again[0], first) and torch.equal(again[1], second)
    assert all(view is x for view in deletion_views(0.0)(x, generator()))
    assert "deletion_views" in AUGMENTATIONS
    with pytest.raises(ValueError, match="deletion_views p"):
        deletion_views(1.0)


def test_eda_views():
    x = sentences()
    first, second = eda_views()(x, generator())
    assert not torch.equal(first, second)
    assert_well_formed(first, x)
    assert_well_formed(second, x)
    assert all(view is x for view in eda_views(strength=0)(x, generator()))
    with_table = eda_views(strength=2.0, synonyms=synonym_table())
    pipeline = with_table.pipelines[0].augmentation
    assert isinstance(pipeline, Compose)
    assert [type(step) for step in pipeline.augmentations] == [
        SynonymReplacement, RandomInsertion, RandomSwap, RandomDeletion]
    assert all(step.__dict__.get("ratio", step.__dict__.get("p")) == pytest.approx(0.2)
               for step in pipeline.augmentations)
    plain = eda_views().pipelines[0].augmentation
    assert [type(step) for step in plain.augmentations] == [RandomInsertion, RandomSwap,
                                                            RandomDeletion]


@pytest.mark.parametrize("kind, cls", [("token", TokenCutoff), ("span", SpanCutoff),
                                       ("feature", FeatureCutoff)])
def test_cutoff_views(kind, cls):
    views = cutoff_views(kind=kind, ratio=0.2)
    assert isinstance(views.pipelines[0].augmentation, Identity)
    assert isinstance(views.pipelines[1].augmentation, cls)
    anchor, cut = views(sentences(), generator())
    assert torch.equal(anchor, sentences())
    assert torch.equal(ids_of(cut), sentences()) == (kind == "feature")


@pytest.mark.parametrize("call, message", [
    (lambda: esimcse_views(dup_rate=1.5), r"dup_rate must be in \[0, 1\]"),
    (lambda: esimcse_views(max_length=1), "max_length must be >= 2"),
    (lambda: eda_views(strength=-1), r"strength must be in \[0, 10\]"),
    (lambda: eda_views(strength=11), r"strength must be in \[0, 10\]"),
    (lambda: cutoff_views(kind="word"), "kind must be one of token, span, feature"),
    (lambda: cutoff_views(ratio=-0.5), r"ratio must be in \[0, 1\]"),
])
def test_preset_arguments_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()
    with pytest.raises(TypeError, match="SynonymTable, 'wordnet' or None"):
        eda_views(synonyms="thesaurus")
    with pytest.raises(ValueError, match="needs the tokenizer"):
        eda_views(synonyms="wordnet")
