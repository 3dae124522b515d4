"""`fashion-captions`: Fashion-MNIST images (Xiao et al. 2017, arXiv 1708.07747) paired with
short generated captions, for image-text contrastive learning (CLIP, Radford et al. 2021,
arXiv 2103.00020) and its zero-shot classification.

Each caption fills one template with a name of the image's class and, in some templates, the
WordNet 3.0 definition of its noun (Miller 1995, CACM 38(11)):

- names: the hand-picked names of `NAMES` (the first is the class's own name) followed by
  the other lemmas of its WordNet synset (synonyms, e.g. "jersey" and "tee shirt" for the
  t-shirt); each caption picks one uniformly;
- gloss: the definition of the first noun.artifact synset of `WORDNET_LEMMAS` (a leading
  "(usually in the plural)" dropped), e.g. "a shoe consisting of a sole fastened by straps to
  the foot" for the sandal;
- tone: how bright the item is in the picture (the mean of its pixels above 0.1: below 0.56
  "faint", below 0.72 "grey", else "bright"; the thresholds are the training images' terciles),
  so a caption also says something of its own image, not only of its class;
- templates: the training captions use `TRAIN_TEMPLATES`, the test captions the disjoint
  `TEST_TEMPLATES`, each picked uniformly, so a test caption is never a training caption.

`class_prompts` are the zero-shot prompts: `PROMPT_TEMPLATES` (disjoint from both caption sets)
filled with each hand-picked name of the class. Images and labels are the official split
(60,000 train, 10,000 test), optionally a stratified, seeded subset of it; the same seed gives
the same captions.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import DataError
from contrastlearn.data.wordnet import (
    WORDNET_INSTALL,
    lookup_synsets,
    wordnet_available,
)

NAME = "fashion-captions"
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")
"""Fashion-MNIST's classes, in label order."""
SPLIT_SIZES = (60_000, 10_000)
"""Images in Fashion-MNIST's official train and test splits."""
NAMES = {
    "T-shirt/top": ("t-shirt", "top", "tee"),
    "Trouser": ("pair of trousers", "pair of pants"),
    "Pullover": ("pullover", "sweater", "jumper"),
    "Dress": ("dress",),
    "Coat": ("coat", "jacket"),
    "Sandal": ("sandal",),
    "Shirt": ("shirt", "button-up shirt"),
    "Sneaker": ("sneaker", "trainer"),
    "Bag": ("bag",),
    "Ankle boot": ("ankle boot", "short boot"),
}
"""Hand-picked names of each class, each read after "a"/"an"; the first is the class's own."""
WORDNET_LEMMAS = {
    "T-shirt/top": "t-shirt", "Trouser": "trouser", "Pullover": "pullover", "Dress": "dress",
    "Coat": "coat", "Sandal": "sandal", "Shirt": "shirt", "Sneaker": "sneaker",
    "Bag": "handbag", "Ankle boot": "boot",
}
"""The WordNet noun whose first noun.artifact synset gives each class's gloss and synonyms."""
TRAIN_TEMPLATES = (
    "{a_name}.",
    "a grayscale photo of {a_name}.",
    "{a_name}: {gloss}.",
    "{Gloss}; this one is {a_name}.",
    "product image of {a_name}, {gloss}.",
    "small picture of {a_name} on a black background.",
    "a {tone} picture of {a_name}.",
    "{a_name} in {tone} tones.",
    "{a_name}, shown from the front.",
    "catalogue shot: {name}.",
)
TEST_TEMPLATES = (
    "an item from a fashion catalogue: {name}.",
    "here we see {a_name}.",
    "{a_name} ({gloss}).",
    "low-resolution image of {a_name}.",
    "what is shown is {gloss}, namely {a_name}.",
    "{name} in a thumbnail.",
    "{a_name}, rather {tone}.",
)
PROMPT_TEMPLATES = (
    "a photo of {a_name}.",
    "a picture of {a_name}.",
    "a blurry photo of the {name}.",
    "an image of {a_name}.",
)
"""Zero-shot prompts, filled with each of the class's hand-picked names (prompt ensembling)."""
TONES = ("faint", "grey", "bright")
TONE_THRESHOLDS = (0.56, 0.72)
"""Mean item brightness (pixels above INK) below which a picture is "faint", then "grey"."""
INK = 0.1
_USAGE_NOTE = re.compile(r"^\([^)]*\)\s*")


def with_article(name: str) -> str:
    """`name` after "a" or "an" (by its first letter: "an ankle boot", "a t-shirt")."""
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def fill(template: str, name: str, gloss: str, tone: str = "") -> str:
    """One caption or prompt: `template` with {name}, {a_name}, {gloss}, {Gloss}, {tone}."""
    return template.format(name=name, a_name=with_article(name), gloss=gloss,
                           Gloss=gloss[:1].upper() + gloss[1:], tone=tone)


def tones(images: np.ndarray) -> np.ndarray:
    """Index into TONES of each image (N, 1, H, W): the mean of its pixels above INK."""
    flat = images.reshape(len(images), -1)
    ink = flat > INK
    brightness = (flat * ink).sum(axis=1) / np.maximum(ink.sum(axis=1), 1)
    return np.searchsorted(np.asarray(TONE_THRESHOLDS), brightness, side="right")


def class_vocabulary() -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """(gloss, names) of every class: the WordNet definition of its noun and its hand-picked
    names followed by the other lemmas of that synset."""
    glosses, names = {}, {}
    for class_name, lemma in WORDNET_LEMMAS.items():
        synsets = [s for s in lookup_synsets(lemma) if s.lexname == "noun.artifact"]
        if not synsets:
            raise DataError(f"{NAME}: WordNet has no noun.artifact synset of {lemma!r}; "
                            f"reinstall it with: {WORDNET_INSTALL}")
        glosses[class_name] = _USAGE_NOTE.sub("", synsets[0].definition)
        names[class_name] = tuple(dict.fromkeys(NAMES[class_name] + synsets[0].lemmas))
    return glosses, names


def captions(images: np.ndarray, labels: np.ndarray, templates: tuple[str, ...],
             glosses: dict[str, str], names: dict[str, tuple[str, ...]],
             rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """One caption per image (a random template and class name each, the image's tone), and
    the template index of each caption."""
    template_index = rng.integers(len(templates), size=len(labels))
    name_draw = rng.random(len(labels))
    texts = []
    for label, template, draw, tone in zip(labels.tolist(), template_index.tolist(),
                                           name_draw.tolist(), tones(images).tolist()):
        class_name = CLASS_NAMES[label]
        choices = names[class_name]
        texts.append(fill(templates[template], choices[int(draw * len(choices))],
                          glosses[class_name], TONES[tone]))
    return texts, template_index


def stratified_take(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """`size` sorted indices with every class as evenly represented as it can be: classes
    take turns, in a random order, giving a random member of theirs (a class that runs out
    drops out)."""
    order = rng.permutation(len(labels))
    shuffled = labels[order]
    rank = np.empty(len(labels), dtype=np.int64)
    for value in np.unique(labels):
        members = np.flatnonzero(shuffled == value)
        rank[members] = np.arange(len(members))
    class_turn = rng.permutation(int(labels.max()) + 1)[shuffled]
    turns = np.lexsort((class_turn, rank))
    return np.sort(order[turns[:size]])


def _check_size(size: int | None, what: str, available: int) -> None:
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not (
            len(CLASS_NAMES) <= size <= available)):
        raise DataError(f"{NAME}: {what} must be an integer from {len(CLASS_NAMES)} to "
                        f"{available} (or None for all), got {size!r}")


def fashion_captions_records(train_size: int | None = None, test_size: int | None = None,
                             seed: int = 0) -> dict[str, Any]:
    """Fashion-MNIST images with generated captions (train and test from disjoint templates)
    and zero-shot prompts per class; `train_size`/`test_size` take a stratified, seeded subset
    of the 60,000/10,000 images."""
    _check_size(train_size, "train_size", SPLIT_SIZES[0])
    _check_size(test_size, "test_size", SPLIT_SIZES[1])
    if not wordnet_available():
        raise DataError(f"{NAME} needs WordNet for its captions; install it with: "
                        f"{WORDNET_INSTALL}")
    splits = DATASETS.get("fashion-mnist")()
    glosses, names = class_vocabulary()
    records: dict[str, Any] = {"name": NAME, "class_names": list(CLASS_NAMES)}
    for split, dataset, size, templates, code in (
            ("", splits.train, train_size, TRAIN_TEMPLATES, 0),
            ("_test", splits.test, test_size, TEST_TEMPLATES, 1)):
        images = dataset.x.numpy()
        labels = dataset.y.numpy().astype(np.int64)
        rng = np.random.default_rng([seed, code])
        if size is not None and size < len(labels):
            kept = stratified_take(labels, size, rng)
            images, labels = images[kept], labels[kept]
        texts, _ = captions(images, labels, templates, glosses, names, rng)
        records[f"x{split}"] = {"image": np.ascontiguousarray(images, dtype=np.float32),
                                "text": texts}
        records[f"y{split}"] = labels
    records["class_prompts"] = {
        class_name: [fill(template, name, glosses[class_name])
                     for name in NAMES[class_name] for template in PROMPT_TEMPLATES]
        for class_name in CLASS_NAMES}
    records["notes"] = [
        f"captions fill {len(TRAIN_TEMPLATES)} training templates and {len(TEST_TEMPLATES)} "
        "other test templates with class names, WordNet synonyms, WordNet glosses and the "
        "picture's tone",
        f"{len(records['y'])} training and {len(records['y_test'])} test images of the "
        "official Fashion-MNIST split" + (" (stratified subset)" if (train_size, test_size)
                                          != (None, None) else ""),
    ]
    return records


def fashion_captions_available() -> tuple[bool, str]:
    """Whether `fashion-captions` can be built here (Fashion-MNIST and WordNet), and why not."""
    ready, reason = DATASETS.get("fashion-mnist").available()
    if not ready:
        return False, f"Fashion-MNIST: {reason}"
    if not wordnet_available():
        return False, f"WordNet: install with: {WORDNET_INSTALL}"
    return True, "Fashion-MNIST and WordNet installed"
