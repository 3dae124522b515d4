"""Token keeping: random subsets (the baseline), top-scoring subsets (Attentive Mask CLIP) and
the text-relevance score, checked for shape, dtype, determinism, uniqueness, order, against
loop references, and for one-line errors."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.augment.token_keep import (
    attentive_keep,
    kept_count,
    random_keep,
    text_relevance,
)


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_sorted_unique_in_range(indices: torch.Tensor, num_tokens: int) -> None:
    assert indices.dtype == torch.int64
    assert (indices[:, 1:] > indices[:, :-1]).all()  # strictly increasing: sorted and unique
    assert indices.min() >= 0 and indices.max() < num_tokens


@pytest.mark.parametrize("num_tokens, ratio, expected", [
    (49, 0.5, 25), (49, 0.25, 12), (10, 0.3, 3), (10, 1.0, 10), (10, 0.01, 1), (1, 0.5, 1),
])
def test_kept_count_rounds_half_up_and_keeps_at_least_one(num_tokens, ratio, expected):
    assert kept_count(num_tokens, ratio) == expected


def test_random_keep_shape_dtype_order():
    keep = random_keep(8, 49, 0.5, seeded())
    assert keep.shape == (8, 25)
    assert_sorted_unique_in_range(keep, 49)


def test_random_keep_is_deterministic_for_a_seeded_generator_and_varies_per_sample():
    first = random_keep(16, 49, 0.25, seeded(3))
    assert torch.equal(first, random_keep(16, 49, 0.25, seeded(3)))
    assert not torch.equal(first, random_keep(16, 49, 0.25, seeded(4)))
    assert len({tuple(row.tolist()) for row in first}) > 1


def test_random_keep_is_uniform_over_tokens():
    counts = torch.bincount(random_keep(4000, 10, 0.3, seeded()).flatten(), minlength=10)
    frequency = counts.float() / 4000
    assert torch.allclose(frequency, torch.full((10,), 0.3), atol=0.03)


def test_random_keep_on_the_generators_device_by_default():
    assert random_keep(2, 5, 0.4).device.type == "cpu"
    assert random_keep(2, 5, 0.4, seeded(), device="cpu").device.type == "cpu"


@pytest.mark.parametrize("keep_fn", [
    lambda: random_keep(4, 9, 1.0, seeded()),
    lambda: attentive_keep(torch.randn(4, 9, generator=seeded()), 1.0),
])
def test_keep_ratio_one_keeps_every_token(keep_fn):
    assert torch.equal(keep_fn(), torch.arange(9).expand(4, -1))


def test_attentive_keep_matches_a_loop_reference():
    scores = torch.randn(6, 20, generator=seeded(7), dtype=torch.float64)
    keep = attentive_keep(scores, 0.3)
    assert keep.shape == (6, 6)
    assert_sorted_unique_in_range(keep, 20)
    for row, kept in zip(scores.tolist(), keep.tolist()):
        ranked = sorted(range(20), key=lambda index: -row[index])
        assert kept == sorted(ranked[:6])


def test_attentive_keep_keeps_every_token_scoring_above_every_removed_one():
    scores = torch.rand(32, 49, generator=seeded(1))
    keep = attentive_keep(scores, 0.4)
    kept_scores = scores.gather(1, keep)
    removed = torch.ones_like(scores, dtype=torch.bool).scatter(1, keep, False)
    lowest_kept = kept_scores.min(dim=1).values
    highest_removed = scores.masked_fill(~removed, -1).max(dim=1).values
    assert (lowest_kept > highest_removed).all()


def test_attentive_keep_detaches_scores():
    scores = torch.randn(2, 8, requires_grad=True)
    assert not attentive_keep(scores, 0.5).requires_grad


def test_text_relevance_matches_a_loop_reference_in_float64():
    generator = seeded(2)
    patches = torch.randn(3, 5, 4, generator=generator, dtype=torch.float64)
    texts = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    expected = torch.empty(3, 5, dtype=torch.float64)
    for b in range(3):
        for p in range(5):
            dot = sum(patches[b, p, d] * texts[b, d] for d in range(4))
            expected[b, p] = dot / (patches[b, p].norm() * texts[b].norm())
    torch.testing.assert_close(text_relevance(patches, texts), expected)


def test_text_relevance_projects_patches_into_the_text_space():
    patches = torch.randn(2, 7, 6, generator=seeded(5))
    texts = torch.randn(2, 3, generator=seeded(6))
    projection = torch.nn.Linear(6, 3)
    torch.testing.assert_close(text_relevance(patches, texts, projection),
                               text_relevance(projection(patches), texts))


def test_text_relevance_ranks_the_patch_that_matches_the_text_first():
    texts = torch.eye(4)[:2]  # sample 0's text is axis 0, sample 1's is axis 1
    patches = torch.eye(4).expand(2, 4, 4)  # patch p points along axis p
    assert attentive_keep(text_relevance(patches, texts), 0.25).tolist() == [[0], [1]]


@pytest.mark.parametrize("call, words", [
    (lambda: kept_count(10, 0.0), r"keep_ratio must be in \(0, 1\]"),
    (lambda: kept_count(10, 1.5), r"keep_ratio must be in \(0, 1\]"),
    (lambda: random_keep(2, 0, 0.5), "num_tokens must be >= 1"),
    (lambda: attentive_keep(torch.rand(5), 0.5), r"floating \(batch, num_tokens\)"),
    (lambda: attentive_keep(torch.ones(2, 3, dtype=torch.int64), 0.5), "floating"),
    (lambda: text_relevance(torch.rand(2, 5), torch.rand(2, 5)),
     r"patch_tokens \(batch, patches, dim\)"),
    (lambda: text_relevance(torch.rand(2, 5, 4), torch.rand(2, 3)),
     "pass the image projection head"),
    (lambda: text_relevance(torch.rand(2, 5, 4), torch.rand(3, 4)), "batch and last dim"),
])
def test_bad_inputs_are_named_in_one_line(call, words):
    with pytest.raises(ValueError, match=words) as error:
        call()
    assert "\n" not in str(error.value)
