"""Zero-shot classification, cross-modal retrieval, the modality gap and the language-only probe:
hand-built fixtures with known answers, references written with explicit float64 loops, and the
bad-input messages."""

import math

import pytest
import torch
import torch.nn.functional as F

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation import (
    class_prototypes,
    cross_modal_retrieval,
    language_only_probe,
    linear_probe,
    modality_gap,
    zero_shot_classification,
)
from contrastlearn.evaluation.noise_injection import noisy_copies

pytestmark = pytest.mark.usefixtures("one_thread")


def one_line_error(function, *args, match, **kwargs) -> str:
    with pytest.raises(ValueError, match=match) as caught:
        function(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector]


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


# ---------------------------------------------------------------- zero-shot classification


def reference_zero_shot(images, labels, prompts, k: int) -> float:
    """Explicit loops: prototype = unit(mean of unit prompts); the true class's rank counts
    every class scoring at least as high."""
    prototypes = []
    for class_prompts in prompts.double().tolist():
        units = [unit(prompt) for prompt in class_prompts]
        prototypes.append(unit([sum(column) / len(units) for column in zip(*units)]))
    hits = 0
    for image, label in zip(images.double().tolist(), labels.tolist()):
        scores = [dot(unit(image), prototype) for prototype in prototypes]
        rank = sum(score >= scores[label] for score in scores)
        hits += rank <= k
    return hits / len(labels)


def test_zero_shot_is_perfect_on_aligned_embeddings():
    classes = torch.randn(8, 16, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(8).repeat(5)
    images = 3.0 * classes[labels]  # same directions, other norms
    top1, top5 = zero_shot_classification(images, labels, classes)
    assert (top1.metric, top1.value, top5.metric, top5.value) == ("top1", 1.0, "top5", 1.0)
    assert top1.protocol == "zero_shot" and top1.settings["prompts_per_class"] == 1
    assert top1.settings["num_classes"] == 8 and top1.settings["num_test"] == 40


def test_zero_shot_on_unrelated_embeddings_is_at_chance():
    generator = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 10, (3000,), generator=generator)
    top1, top5 = zero_shot_classification(torch.randn(3000, 32, generator=generator), labels,
                                          torch.randn(10, 32, generator=generator))
    assert top1.value == pytest.approx(0.1, abs=0.04)
    assert top5.value == pytest.approx(0.5, abs=0.08)


def test_zero_shot_matches_loop_reference_with_prompt_ensembles():
    generator = torch.Generator().manual_seed(2)
    prompts = torch.randn(7, 3, 6, generator=generator) * torch.rand(7, 3, 1, generator=generator)
    labels = torch.randint(0, 7, (60,), generator=generator)
    images = torch.randn(60, 6, generator=generator)
    top1, top5 = zero_shot_classification(images, labels, prompts)
    assert top1.value == pytest.approx(reference_zero_shot(images, labels, prompts, 1))
    assert top5.value == pytest.approx(reference_zero_shot(images, labels, prompts, 5))
    assert top1.settings["prompts_per_class"] == 3


def test_prompts_are_normalised_before_averaging():
    e1, e2, e3 = torch.eye(3)
    prototypes = class_prototypes(torch.stack([torch.stack([100 * e1, e2]),
                                               torch.stack([e3, 2 * e3])]))
    expected = torch.stack([(e1 + e2) / math.sqrt(2), e3])
    assert torch.allclose(prototypes, expected)
    single = torch.randn(4, 5)
    assert torch.allclose(class_prototypes(single), class_prototypes(single[:, None]))


def test_zero_shot_top5_only_above_five_classes_and_ties_count_against():
    results = zero_shot_classification(torch.ones(4, 3), [0, 1, 2, 0], torch.ones(3, 3))
    assert [result.metric for result in results] == ["top1"]
    assert results[0].value == 0.0  # a collapsed model predicts nothing


def test_zero_shot_bad_inputs():
    classes = torch.randn(5, 4)
    message = one_line_error(zero_shot_classification, torch.randn(6, 4), [0, 1, 7, 5, 7, -1],
                             classes, match=r"class indices \[-1, 5, 7\]")
    assert "0..4" in message and "give prompt embeddings for every class" in message
    one_line_error(zero_shot_classification, torch.randn(6, 3), [0] * 6, classes,
                   match=r"image_embeddings have dim 3 but class_embeddings have dim 4; "
                         r"embed the class prompts with the text encoder")
    one_line_error(zero_shot_classification, torch.randn(6, 4), [0] * 6,
                   torch.randn(2, 2, 2, 4), match=r"must be \(num_classes, dim\) or")
    one_line_error(zero_shot_classification, torch.randn(6, 4), [0] * 5, classes,
                   match=r"labels has length 5 but image_embeddings has 6 rows")


# ---------------------------------------------------------------- cross-modal retrieval


def reference_recall(query, gallery, query_ids, gallery_ids, k: int) -> float:
    """Explicit loops: a query hits when its best positive has at most k - 1 gallery items
    scoring strictly higher and no negative tying with it (ties count against the query)."""
    gallery_units = [unit(item) for item in gallery.double().tolist()]
    hits = 0
    for item, item_id in zip(query.double().tolist(), query_ids.tolist()):
        scores = [dot(unit(item), other) for other in gallery_units]
        best = max(score for score, other_id in zip(scores, gallery_ids.tolist())
                   if other_id == item_id)
        hits += sum(score >= best for score in scores) <= k
    return hits / len(query_ids)


def captions_of(images: torch.Tensor, per_image: int, scale: float, seed: int):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.arange(len(images)).repeat_interleave(per_image)
    captions = images[ids] + scale * torch.randn(len(ids), images.shape[1], generator=generator)
    return captions, ids


def test_aligned_embeddings_retrieve_perfectly_in_both_directions():
    images = torch.randn(30, 16, generator=torch.Generator().manual_seed(3))
    captions, caption_ids = captions_of(images, 5, 0.05, seed=4)
    image_ids = torch.arange(30)
    to_text = cross_modal_retrieval(images, captions, image_ids, caption_ids, ks=(1, 5))
    to_image = cross_modal_retrieval(captions, images, caption_ids, image_ids, ks=(1, 5),
                                     direction="text->image")
    for results, protocol in ((to_text, "image_to_text_retrieval"),
                              (to_image, "text_to_image_retrieval")):
        recall = {result.metric: result for result in results}
        assert recall["recall@1"].value == 1.0 and recall["recall@5"].value == 1.0
        assert recall["recall@1"].protocol == protocol
    assert to_text[0].settings["direction"] == "image->text"
    assert to_text[0].settings["num_queries"] == 30 and to_text[0].settings["num_gallery"] == 150


def test_shuffled_ids_give_chance_recall():
    images = torch.randn(400, 32, generator=torch.Generator().manual_seed(5))
    shuffled = torch.randperm(400, generator=torch.Generator().manual_seed(6))
    recall = {result.metric: result.value for result in cross_modal_retrieval(
        images, images, torch.arange(400), shuffled)}
    # the one positive ranks uniformly among the 399 items other than the query's own match
    assert recall["recall@1"] <= 0.01
    assert recall["recall@10"] == pytest.approx(9 / 399, abs=0.03)


def test_cross_modal_recall_matches_loop_reference():
    images = torch.randn(25, 8, generator=torch.Generator().manual_seed(7))
    captions, caption_ids = captions_of(images, 3, 1.0, seed=8)
    image_ids = torch.arange(25)
    for query, gallery, query_ids, gallery_ids in ((images, captions, image_ids, caption_ids),
                                                   (captions, images, caption_ids, image_ids)):
        results = cross_modal_retrieval(query, gallery, query_ids, gallery_ids, ks=(1, 3, 10))
        for result in results[:3]:
            expected = reference_recall(query, gallery, query_ids, gallery_ids,
                                        result.settings["k"])
            assert result.value == pytest.approx(expected)


def test_cross_modal_retrieval_bad_inputs():
    images, captions = torch.randn(4, 8), torch.randn(6, 6)
    one_line_error(cross_modal_retrieval, images, captions, range(4), range(6),
                   match=r"query embeddings have dim 8 but gallery embeddings have dim 6; "
                         r"both must be embedded in the shared space")
    one_line_error(cross_modal_retrieval, images, torch.randn(6, 8), range(3), range(6),
                   match=r"query_ids has length 3 but query has 4 rows")
    one_line_error(cross_modal_retrieval, images, torch.randn(6, 8), range(4), range(6),
                   direction="image to text", match=r"direction must read")
    one_line_error(cross_modal_retrieval, images, torch.randn(6, 8), [0, 1, 2, 9], range(6),
                   match=r"1 of 4 queries have no positive.*Check the ids")


# ---------------------------------------------------------------- modality gap


def test_gap_between_orthogonal_modalities_by_hand():
    e1, e2 = torch.eye(4)[:2]
    a = torch.stack([2 * e1, 5 * e1, e1, 3 * e1, e1, 4 * e1])
    b = torch.stack([e2] * 6)
    distance, accuracy, cosine = modality_gap(a, b)
    assert distance.value == pytest.approx(math.sqrt(2))  # |e1 - e2|
    assert accuracy.value == 1.0 and cosine.value == pytest.approx(0.0)
    assert (distance.metric, accuracy.metric, cosine.metric) == (
        "centroid_distance", "accuracy", "mean_paired_cosine")
    assert accuracy.settings["folds"] == 5 and accuracy.settings["chance"] == 0.5


def test_gap_of_half_matching_pairs_by_hand():
    e1, e2, e3 = torch.eye(3)
    a = torch.stack([e1, e2] * 5)
    b = torch.stack([e1, e3] * 5)
    distance, _, cosine = modality_gap(a, b)
    # centroids (e1 + e2) / 2 and (e1 + e3) / 2 differ by (e2 - e3) / 2
    assert distance.value == pytest.approx(math.sqrt(2) / 2)
    assert cosine.value == pytest.approx(0.5)


def test_identical_modalities_have_no_gap_and_are_inseparable():
    a = torch.randn(40, 6, generator=torch.Generator().manual_seed(9))
    distance, accuracy, cosine = modality_gap(a, a.clone())
    assert distance.value == pytest.approx(0.0, abs=1e-12)
    assert cosine.value == pytest.approx(1.0)
    # the two halves of a pair share a fold and a prediction: exactly one of them is right
    assert accuracy.value == 0.5


def test_separability_of_shifted_and_of_independent_modalities():
    generator = torch.Generator().manual_seed(10)
    e1, e2 = torch.eye(8)[:2]
    a = torch.randn(80, 8, generator=generator) + 5 * e1
    other_cone = torch.randn(80, 8, generator=generator) + 5 * e2
    same_cone = torch.randn(80, 8, generator=generator) + 5 * e1
    assert modality_gap(a, other_cone)[1].value == 1.0
    assert modality_gap(a, same_cone)[1].value == pytest.approx(0.5, abs=0.15)


def test_gap_matches_loop_reference():
    generator = torch.Generator().manual_seed(11)
    a, b = torch.randn(12, 5, generator=generator), torch.randn(12, 5, generator=generator)
    a_units, b_units = [unit(row) for row in a.double().tolist()], [
        unit(row) for row in b.double().tolist()]
    difference = [sum(column) / 12 for column in zip(*a_units)]
    difference = [x - sum(column) / 12 for x, column in zip(difference, zip(*b_units))]
    distance, _, cosine = modality_gap(a, b, folds=3)
    assert distance.value == pytest.approx(math.sqrt(dot(difference, difference)))
    assert cosine.value == pytest.approx(
        sum(dot(x, y) for x, y in zip(a_units, b_units)) / 12)


def test_modality_gap_bad_inputs():
    one_line_error(modality_gap, torch.randn(5, 4), torch.randn(6, 4),
                   match=r"a has shape \(5, 4\) but b has shape \(6, 4\); row i of each")
    one_line_error(modality_gap, torch.randn(3, 4), torch.randn(3, 4),
                   match=r"folds must be between 2 and the number of pairs 3.*more pairs")


# ---------------------------------------------------------------- language-only probe


def offset_modalities(gap: float, seed: int = 0):
    """Text of 4 classes: a noisy class direction in 15 dims plus a coordinate 0 that is
    +0.05 for classes 0, 2 and -0.05 for classes 1, 3 with no spread at all, so a classifier fit
    on clean text leans on it. Images are the same points plus `gap` on coordinate 0: a constant
    modality offset that moves every image to the +0.05 side."""
    generator = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(4, 15, generator=generator), dim=1)
    labels = torch.arange(4).repeat_interleave(20)
    meaning = F.normalize(centres[labels] + 0.6 * torch.randn(80, 15, generator=generator), dim=1)
    side = 0.05 * torch.tensor([1.0, -1.0, 1.0, -1.0])[labels]
    text = torch.cat([side[:, None], math.sqrt(1 - 0.05**2) * meaning], dim=1)
    images = text + torch.tensor([gap] + [0.0] * 15)
    return text, labels, images, labels


def test_noise_injection_transfers_better_across_a_constant_offset():
    noisy, clean, centred = language_only_probe(*offset_modalities(gap=0.5), noise_std=0.2,
                                                copies=10, seeds=(0, 1), mean_centre=True)
    assert [noisy.protocol, clean.protocol, centred.protocol] == [
        "language_only_probe", "language_only_probe_no_noise", "language_only_probe_centred"]
    assert clean.value <= 0.6  # the clean classifier follows the offset coordinate
    assert noisy.value >= clean.value + 0.15
    assert centred.value >= noisy.value  # centring removes a constant offset outright
    # without the offset the shortcut is right, and the clean classifier is the better one
    no_gap_noisy, no_gap_clean = language_only_probe(*offset_modalities(gap=0.0),
                                                     noise_std=0.2, copies=10, seeds=(0,))
    assert no_gap_clean.value >= 0.95 and no_gap_clean.value > no_gap_noisy.value


def test_language_only_probe_is_registered():
    # the first read of a registry imports every built-in plug-in: seconds, once per session
    assert EVALUATORS.get("language_only_probe") is language_only_probe


def test_language_only_probe_records_its_protocol():
    noisy, clean = language_only_probe(*offset_modalities(gap=0.1), seeds=(3, 4), copies=2)
    assert (noisy.settings["noise_std"], noisy.settings["copies"]) == (0.04, 2)
    assert (clean.settings["noise_std"], clean.settings["copies"]) == (0.0, 1)
    assert "linear_probe machinery" in noisy.settings["classifier"]
    assert noisy.num_seeds == 2 and noisy.settings["seeds"] == [3, 4]
    assert noisy.value == pytest.approx(sum(noisy.settings["values_per_seed"]) / 2)
    assert clean.num_seeds is None and clean.settings["num_train"] == 80
    again = language_only_probe(*offset_modalities(gap=0.1), seeds=(3, 4), copies=2)
    assert [result.to_dict() for result in again] == [noisy.to_dict(), clean.to_dict()]


def test_clean_language_only_probe_is_the_unstandardised_linear_probe():
    text, labels, images, _ = offset_modalities(gap=0.3, seed=1)
    clean = language_only_probe(text, labels, images, labels, seeds=(0,), copies=1)[1]
    expected = linear_probe(F.normalize(text, dim=1), labels, F.normalize(images, dim=1),
                            labels, standardize=False)
    assert clean.value == expected.value


def test_noisy_copies_are_unit_vectors_near_their_source():
    text = F.normalize(torch.randn(6, 32, generator=torch.Generator().manual_seed(12)), dim=1)
    labels = torch.arange(6)
    noisy, noisy_labels = noisy_copies(text, labels, 0.04, 3, torch.Generator().manual_seed(0))
    assert noisy.shape == (18, 32) and noisy_labels.tolist() == labels.tolist() * 3
    assert torch.allclose(noisy.norm(dim=1), torch.ones(18))
    # noise of std 0.04 in 32 dims has norm about 0.04 * sqrt(32) = 0.23
    distance = (noisy - text.repeat(3, 1)).norm(dim=1)
    assert float(distance.min()) > 0.1 and float(distance.max()) < 0.4
    again, _ = noisy_copies(text, labels, 0.04, 3, torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)


def test_language_only_probe_bad_inputs():
    text, labels, images, _ = offset_modalities(gap=0.1)
    one_line_error(language_only_probe, text, labels, images[:, :8], labels,
                   match=r"language_only_probe: train embeddings have dim 16 but test embeddings"
                         r" have dim 8.*text embeddings are checked as 'train'")
    one_line_error(language_only_probe, text, labels, images, labels, noise_std=0.0,
                   match=r"noise_std must be a finite number > 0 \(the no-noise ablation")
    one_line_error(language_only_probe, text, labels, images, labels, copies=0,
                   match=r"copies must be >= 1")
    one_line_error(language_only_probe, text, labels, images, labels, seeds=(1, 1),
                   match=r"seeds must be a non-empty list of distinct integers")
