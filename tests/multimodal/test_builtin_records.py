"""The raw records of the multimodal room's built-in sets: `fashion-captions` (Fashion-MNIST
images with generated captions) and `words-three-ways` (a word as text, picture and speech),
and the WordNet lemma look-up the captions read their glosses with."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from contrastlearn.data.arrays import DataError
from contrastlearn.data.wordnet import (
    WORDNET_INSTALL,
    lookup_synsets,
    wordnet_available,
)
from contrastlearn.modalities.multimodal import fashion_captions as fc
from contrastlearn.modalities.multimodal import words_three_ways as w3
from tests.conftest import require_system_data

pytestmark = pytest.mark.usefixtures("one_thread")

CONTRACT = {"x", "y", "x_test", "y_test", "class_names", "class_prompts", "name", "notes"}


def mutual_information(first: np.ndarray, second: np.ndarray) -> float:
    """Plug-in mutual information (nats) of two discrete samples, from their joint counts."""
    joint = np.zeros((first.max() + 1, second.max() + 1))
    for a, b in zip(first.tolist(), second.tolist()):
        joint[a, b] += 1
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    present = joint > 0
    return float((joint[present] * np.log(joint[present] / outer[present])).sum())


def template_pattern(template: str) -> re.Pattern:
    """A regex matching any filling of `template`."""
    parts = re.split(r"(\{\w+\})", template)
    return re.compile("".join(".+" if part.startswith("{") else re.escape(part)
                              for part in parts))


# ---- WordNet look-up -----------------------------------------------------------------------


def write_wordnet(folder, synsets):
    """A fake WordNet folder: data.noun lines at their true byte offsets, index.noun listing
    them per lemma, empty verb/adj/adv files. `synsets`: (lemmas, lexname number, gloss)."""
    folder.mkdir()
    data = b"  1 licence line\n"
    offsets = {}
    for lemmas, lexname, gloss in synsets:
        offset = len(data)
        words = " ".join(f"{lemma} 0" for lemma in lemmas)
        data += (f"{offset:08d} {lexname:02d} n {len(lemmas):02x} {words} 000 | {gloss}  \n"
                 .encode())
        for lemma in lemmas:
            offsets.setdefault(lemma.lower(), []).append(offset)
    (folder / "data.noun").write_bytes(data)
    index = "".join(f"{lemma} n {len(found)} 0 {len(found)} 0 "
                    f"{' '.join(f'{o:08d}' for o in found)}  \n"
                    for lemma, found in sorted(offsets.items()))
    (folder / "index.noun").write_text("  1 licence line\n" + index)
    for part in ("verb", "adj", "adv"):
        (folder / f"data.{part}").write_text("")
    return folder


def test_lookup_reads_synsets_at_their_offsets(tmp_path):
    folder = write_wordnet(tmp_path / "wn", [
        (["boot"], 6, 'footwear that covers the foot; "muddy boots"'),
        (["kick", "boot"], 4, "the act of delivering a blow with the foot"),
        (["ankle_boot"], 6, "a boot that reaches the ankle"),
    ])
    boots = lookup_synsets("boot", directory=folder)
    assert [s.lexname for s in boots] == ["noun.artifact", "noun.act"]
    assert boots[0].definition == "footwear that covers the foot"
    assert boots[0].examples == ("muddy boots",) and boots[1].lemmas == ("kick", "boot")
    assert lookup_synsets("Ankle boot", directory=folder)[0].lemmas == ("ankle boot",)
    assert lookup_synsets("sandal", directory=folder) == []


def test_lookup_refuses_bad_input(tmp_path):
    folder = write_wordnet(tmp_path / "wn", [(["boot"], 6, "footwear")])
    (folder / "index.noun").write_text("boot n 1 0 1 0 00000003\n")
    with pytest.raises(DataError, match="offset 00000003: no synset starts there.*reinstall"):
        lookup_synsets("boot", directory=folder)
    with pytest.raises(DataError, match="part of speech 'nouns'; use one of"):
        lookup_synsets("boot", part="nouns", directory=folder)
    with pytest.raises(DataError, match=f"WordNet is not installed.*{WORDNET_INSTALL}"):
        lookup_synsets("boot", directory=tmp_path / "nowhere")


# ---- fashion-captions ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def fashion():
    ready, reason = fc.fashion_captions_available()
    require_system_data(ready, reason)
    return fc.fashion_captions_records(train_size=203, test_size=50, seed=3)


def test_fashion_records_follow_the_contract(fashion):
    assert set(fashion) == CONTRACT and fashion["name"] == "fashion-captions"
    assert fashion["class_names"] == list(fc.CLASS_NAMES)
    for split, count in (("", 203), ("_test", 50)):
        x, y = fashion[f"x{split}"], fashion[f"y{split}"]
        assert set(x) == {"image", "text"}
        assert x["image"].shape == (count, 1, 28, 28) and x["image"].dtype == np.float32
        assert x["image"].min() >= 0.0 and x["image"].max() <= 1.0
        assert len(x["text"]) == count and all(isinstance(t, str) and t for t in x["text"])
        assert y.dtype == np.int64 and y.shape == (count,)
        counts = np.bincount(y, minlength=10)
        assert counts.max() - counts.min() <= 1  # stratified


def test_fashion_captions_name_their_class(fashion):
    _, names = fc.class_vocabulary()
    for split in ("", "_test"):
        for text, label in zip(fashion[f"x{split}"]["text"], fashion[f"y{split}"].tolist()):
            assert any(name in text for name in names[fc.CLASS_NAMES[label]]), text


def test_fashion_train_and_test_captions_come_from_disjoint_templates(fashion):
    templates = {"": fc.TRAIN_TEMPLATES, "_test": fc.TEST_TEMPLATES}
    assert not set(fc.TRAIN_TEMPLATES) & set(fc.TEST_TEMPLATES)
    assert not set(fc.PROMPT_TEMPLATES) & (set(fc.TRAIN_TEMPLATES) | set(fc.TEST_TEMPLATES))
    for split, own in templates.items():
        patterns = [template_pattern(t) for t in own]
        for text in fashion[f"x{split}"]["text"]:
            assert any(p.fullmatch(text) for p in patterns), text
    # every caption either split can ever make: none is shared, none is a prompt
    glosses, names = fc.class_vocabulary()
    every = {split: {fc.fill(t, name, glosses[c], tone) for t in own for c in fc.CLASS_NAMES
                     for name in names[c] for tone in fc.TONES}
             for split, own in templates.items()}
    prompts = {p for ps in fashion["class_prompts"].values() for p in ps}
    assert not every[""] & every["_test"] and not prompts & (every[""] | every["_test"])


def test_fashion_prompts_cover_every_class(fashion):
    prompts = fashion["class_prompts"]
    assert list(prompts) == list(fc.CLASS_NAMES)
    for class_name, texts in prompts.items():
        assert len(texts) == len(fc.PROMPT_TEMPLATES) * len(fc.NAMES[class_name])
        assert all(fc.NAMES[class_name][0] in text for text in texts[:len(fc.PROMPT_TEMPLATES)])
    assert "a photo of an ankle boot." in prompts["Ankle boot"]


def test_fashion_glosses_and_synonyms_come_from_wordnet():
    require_system_data(wordnet_available(), WORDNET_INSTALL)
    glosses, names = fc.class_vocabulary()
    assert glosses["Sandal"] == "a shoe consisting of a sole fastened by straps to the foot"
    assert glosses["Trouser"].startswith("a garment extending from the waist")  # no "(usually"
    assert {"jersey", "tee shirt"} <= set(names["T-shirt/top"])
    assert {"handbag", "purse"} <= set(names["Bag"]) and names["Bag"][0] == "bag"


def test_captions_are_deterministic_vary_with_the_seed_and_follow_the_tone():
    glosses = dict.fromkeys(fc.CLASS_NAMES, "a thing")
    names = {c: fc.NAMES[c] for c in fc.CLASS_NAMES}
    labels = np.arange(200) % 10
    images = np.zeros((200, 1, 28, 28), dtype=np.float32)
    images[:, :, 10:18, 10:18] = np.repeat([0.3, 0.65, 0.9], [70, 70, 60])[:, None, None, None]
    assert fc.tones(images).tolist() == [0] * 70 + [1] * 70 + [2] * 60
    first, index = fc.captions(images, labels, fc.TRAIN_TEMPLATES, glosses, names,
                               np.random.default_rng(0))
    second, _ = fc.captions(images, labels, fc.TRAIN_TEMPLATES, glosses, names,
                            np.random.default_rng(1))
    assert first != second and set(index.tolist()) == set(range(len(fc.TRAIN_TEMPLATES)))
    assert fc.captions(images, labels, fc.TRAIN_TEMPLATES, glosses, names,
                       np.random.default_rng(0))[0] == first
    toned = [(text, tone) for text, tone, i in zip(first, fc.tones(images), index)
             if "{tone}" in fc.TRAIN_TEMPLATES[i]]
    assert toned and all(fc.TONES[tone] in text for text, tone in toned)


def test_stratified_take_is_exact_and_balanced():
    labels = np.repeat(np.arange(4), [50, 30, 30, 2])
    kept = fc.stratified_take(labels, 25, np.random.default_rng(0))
    assert len(kept) == 25 and len(set(kept.tolist())) == 25
    assert np.bincount(labels[kept]).tolist() in ([8, 8, 7, 2], [8, 7, 8, 2], [7, 8, 8, 2])
    np.testing.assert_array_equal(kept, fc.stratified_take(labels, 25, np.random.default_rng(0)))


@pytest.mark.parametrize("sizes", [{"train_size": 5}, {"test_size": 10_001},
                                   {"train_size": 2.5}])
def test_fashion_bad_sizes_are_one_line_errors(sizes):
    with pytest.raises(DataError) as error:
        fc.fashion_captions_records(**sizes)
    message = str(error.value)
    assert "\n" not in message and next(iter(sizes)) in message and "from 10 to" in message


# ---- words-three-ways: pictures and pairings (no espeak-ng) ---------------------------------


def _fonts_present() -> bool:
    try:
        w3.font_paths(w3.TRAIN_FONTS + w3.TEST_FONTS)
    except DataError:
        return False
    return True


def test_rendered_words_are_deterministic_pictures():
    require_system_data(_fonts_present(), w3.FONTS_INSTALL)
    font = w3.font_paths(w3.TRAIN_FONTS)[0]
    picture = w3.render_word("backward", font, np.random.default_rng(0))
    assert picture.shape == (1, w3.PICTURE_HEIGHT, w3.PICTURE_WIDTH)
    assert picture.dtype == np.float32 and picture.min() >= 0 and picture.max() <= 1
    assert picture.max() > 0.5 and (picture > 0.4).mean() > 0.03  # the word is there
    np.testing.assert_array_equal(picture, w3.render_word("backward", font,
                                                          np.random.default_rng(0)))
    assert not np.array_equal(picture, w3.render_word("backward", font,
                                                      np.random.default_rng(1)))
    assert not np.array_equal(picture, w3.render_word("forward", font,
                                                      np.random.default_rng(0)))


def test_missing_fonts_say_how_to_install(tmp_path):
    with pytest.raises(DataError, match="DejaVuSans.ttf is missing.*apt-get install "
                                        "fonts-dejavu-core"):
        w3.font_paths(w3.TRAIN_FONTS, tmp_path)


def test_train_and_test_fonts_are_disjoint():
    assert w3.TRAIN_FONTS and w3.TEST_FONTS and not set(w3.TRAIN_FONTS) & set(w3.TEST_FONTS)


def test_sum_pairing_is_pairwise_independent_and_determined_by_the_triple():
    ring = 5
    speech = np.random.default_rng(0).permutation(np.arange(6000) % ring)
    text, picture = w3.pair_words(speech, "sum", ring, np.random.default_rng(1))
    np.testing.assert_array_equal((text + picture) % ring, speech)
    for first, second in ((text, picture), (text, speech), (picture, speech)):
        assert mutual_information(first, second) < 1e-3  # independent pairs
        joint = np.bincount(first * ring + second, minlength=ring * ring)
        assert joint.max() - joint.min() <= 2  # (within one per class) uniform
    triple = {(a, b): set() for a, b in itertools.product(range(ring), repeat=2)}
    for a, b, c in zip(text.tolist(), picture.tolist(), speech.tolist()):
        triple[a, b].add(c)
    assert all(len(found) == 1 for found in triple.values())  # (a, b) fixes c
    assert mutual_information(text * ring + picture, speech) > np.log(ring) - 1e-3


def test_same_pairing_repeats_the_word():
    speech = np.array([3, 0, 2, 2])
    text, picture = w3.pair_words(speech, "same", 4, np.random.default_rng(0))
    assert text.tolist() == picture.tolist() == speech.tolist()


def test_three_way_split_draws_fonts_of_its_split_and_repeats_clips():
    require_system_data(_fonts_present(), w3.FONTS_INSTALL)
    fonts = w3.font_paths(w3.TEST_FONTS)
    made = w3.three_way_split(np.array([0, 1, 2]), ["zero", "one", "two"], fonts, "sum", 4,
                              np.random.default_rng(0))
    assert made.clip.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert made.pictures.shape == (12, 1, 32, 96) and set(made.font.tolist()) <= {0, 1}
    np.testing.assert_array_equal((made.text_word + made.picture_word) % 3,
                                  np.repeat([0, 1, 2], 4))


@pytest.mark.parametrize("kwargs, message", [
    ({"relation": "product"}, "unknown relation 'product'; use 'same'"),
    ({"pairings": 0}, "pairings must be a positive integer"),
    ({"words": "yes"}, "words must be a list of at least 2 words"),
    ({"relation": "sum", "words": ["one"]}, "words must be a list of at least 2 words"),
])
def test_words_bad_input_is_a_one_line_error(kwargs, message):
    with pytest.raises(DataError) as error:
        w3.words_three_ways_records(**kwargs)
    assert message in str(error.value) and "\n" not in str(error.value)


# ---- words-three-ways: whole records (a tiny espeak-ng set) --------------------------------

VOICES = ["en-us+m1", "en-gb+f4", "en-029+klatt3", "en-us-nyc+f4"]


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory):
    """Records of 4 voices (1 held out) and 3 words, synthesised into a temporary cache; the
    fonts each picture was drawn in, in drawing order."""
    ready, reason = w3.words_three_ways_available()
    require_system_data(ready, reason)
    drawn: list[str] = []
    render = w3.render_word

    def spy(word, font_path, rng):
        drawn.append(font_path.name)
        return render(word, font_path, rng)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONTRASTLEARN_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.setattr(w3, "render_word", spy)
        same = w3.words_three_ways_records("same", words=["yes", "no", "go"], voices=VOICES)
        same_fonts = list(drawn)
        total = w3.words_three_ways_records("sum", seed=1, words=["two", "zero", "one"],
                                            voices=VOICES, pairings=3)
        again = w3.words_three_ways_records("sum", seed=1, words=["two", "zero", "one"],
                                            voices=VOICES, pairings=3)
    return {"same": same, "same_fonts": same_fonts, "sum": total, "again": again}


def test_words_records_follow_the_contract(tiny_sets):
    for relation, per_clip in (("same", 1), ("sum", 3)):
        records = tiny_sets[relation]
        assert set(records) == CONTRACT and records["name"] == "words-three-ways"
        for split, clips in (("", 27), ("_test", 9)):  # 3 or 1 voices x 3 words x 3 clips
            x, y = records[f"x{split}"], records[f"y{split}"]
            count = clips * per_clip
            assert set(x) == {"text", "image", "audio"}
            assert x["image"].shape == (count, 1, 32, 96) and x["image"].dtype == np.float32
            assert x["audio"].shape == (count, 16000) and x["audio"].dtype == np.float32
            assert len(x["text"]) == count and y.dtype == np.int64 and y.shape == (count,)
        assert set(records["class_prompts"]) == set(records["class_names"])


def test_same_records_show_one_word(tiny_sets):
    records = tiny_sets["same"]
    assert records["class_names"] == ["go", "no", "yes"]  # sorted, as spoken-words orders them
    for split in ("", "_test"):
        names = [records["class_names"][label] for label in records[f"y{split}"]]
        assert records[f"x{split}"]["text"] == names


def test_sum_records_keep_the_ring_order_and_relation(tiny_sets):
    records = tiny_sets["sum"]
    assert records["class_names"] == ["two", "zero", "one"]
    for split in ("", "_test"):
        text = np.array([records["class_names"].index(t) for t in records[f"x{split}"]["text"]])
        speech = records[f"y{split}"]
        audio = records[f"x{split}"]["audio"]
        np.testing.assert_array_equal(audio[0::3], audio[1::3])  # 3 records per clip
        counts = np.bincount(text * 3 + speech, minlength=9)
        assert counts.max() - counts.min() <= 1


def test_test_records_are_held_out_voices_and_fonts(tiny_sets):
    for relation in ("same", "sum"):
        records = tiny_sets[relation]
        train = {row.tobytes() for row in records["x"]["audio"]}
        assert not any(row.tobytes() in train for row in records["x_test"]["audio"])
        assert any("test voices held out: " in note for note in records["notes"])
    fonts = tiny_sets["same_fonts"]
    train_count = len(tiny_sets["same"]["y"])
    assert set(fonts[:train_count]) <= set(w3.TRAIN_FONTS)
    assert set(fonts[train_count:]) <= set(w3.TEST_FONTS)
    assert len(fonts) == train_count + len(tiny_sets["same"]["y_test"])


def test_words_records_are_deterministic(tiny_sets):
    first, again = tiny_sets["sum"], tiny_sets["again"]
    for split in ("", "_test"):
        assert first[f"x{split}"]["text"] == again[f"x{split}"]["text"]
        for key in ("image", "audio"):
            np.testing.assert_array_equal(first[f"x{split}"][key], again[f"x{split}"][key])
        np.testing.assert_array_equal(first[f"y{split}"], again[f"y{split}"])


# ---- the full sets (espeak-ng synthesis of 5,040 clips the first time: slow) ----------------


@pytest.mark.slow
def test_full_words_three_ways_sets():
    ready, reason = w3.words_three_ways_available()
    require_system_data(ready, reason)
    same = w3.words_three_ways_records("same")
    assert len(same["class_names"]) == 35
    assert (len(same["y"]), len(same["y_test"])) == (3990, 1050)
    assert np.bincount(same["y_test"]).tolist() == [30] * 35  # 10 held-out voices x 3
    total = w3.words_three_ways_records("sum")
    assert total["class_names"] == list(w3.SUM_RING)
    assert (len(total["y"]), len(total["y_test"])) == (570, 150)
    text = np.array([w3.SUM_RING.index(t) for t in total["x"]["text"]])
    assert mutual_information(text, total["y"]) < 0.01
