"""`words-three-ways`: records of three modalities (text, image, audio) for Symile (Saporta et
al. 2024, arXiv 2411.01053), each a word as text, as a picture and as speech.

Speech: the clips of the audio room's `spoken-words` set (the 35 keywords of Speech Commands
V2, Warden 2018, arXiv 1804.03209, spoken by 48 espeak-ng voices, 3 clips per voice and word),
read through the dataset registry and split as that set splits them: training records use its
training voices, test records its held-out voices (`seed` picks them; 38 and 10 voices, 3,990
and 1,050 clips for all 35 words). Each clip makes `pairings` records (default 1); the audio is
float32 (N, 16000), 1 s at 16 kHz.

Text: a word in lower case ("marvin").

Picture: a word drawn with Pillow in white on black, float32 (1, 32, 96) in [0, 1], for every
word (number words included: no digit images). The font is drawn uniformly from `TRAIN_FONTS`
for training records and from the disjoint `TEST_FONTS` for test records (DejaVu of Debian
`fonts-dejavu-core`: a test font is a family and weight never seen in training, e.g. serif
bold). Then, each drawn per record: the case (lower, Title or UPPER, equally likely); a slant
(horizontal shear, uniform in +-0.3); a rotation (uniform in +-10 degrees); the size (the word
is scaled to fill a uniform 60-95 % of the width or the height, whichever binds first) and a
uniform position inside the picture; the ink brightness (uniform in 0.6-1); and Gaussian pixel
noise of a standard deviation uniform in 0-0.08, clipped to [0, 1].

Relations:

- `relation="same"`: text, picture and speech are the same word; the label is that word,
  `class_names` are the words (sorted, as `spoken-words` orders them; all 35 by default).
- `relation="sum"`: the words form a ring of K words (`words`, in the given order; by default
  the K = 5 number words zero, one, two, three, four). Index the ring 0..K-1. Each record's
  speech clip says word c; its text shows word a and its picture word b = (c - a) mod K, so
  c = (a + b) mod K. Within each c, a cycles through 0..K-1 from a random start, in a random
  order over the records, so every (a, c) pair is (within one record) equally frequent: a and c
  are independent and uniform, hence so are (a, b) and (b, c). Any two modalities alone carry
  no information about each other; only the three together show the relation: the setting
  where the Symile paper finds pairwise CLIP objectives fail. The label is c, `class_names`
  are the ring's words. For the number words the relation reads as arithmetic: text "two",
  picture "four", speech "one" (2 + 4 = 6 = 1 mod 5).

Each split's records come in the order of its speech clips (voice by voice), repeated
`pairings` times in place; the same seed gives the same records.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import DataError

NAME = "words-three-ways"
RELATIONS = ("same", "sum")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SUM_RING = NUMBER_WORDS[:5]
"""The default ring of relation "sum" (K = 5)."""
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS_INSTALL = "apt-get install fonts-dejavu-core"
TRAIN_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf",
               "DejaVuSansMono-Bold.ttf")
TEST_FONTS = ("DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf")
"""Held-out fonts: each family and each weight occurs in training, never these pairings."""
PICTURE_HEIGHT, PICTURE_WIDTH = 32, 96
RENDER_SIZE = 40
"""Font size (pixels) of the drawing that is slanted, rotated and scaled into the picture."""
MAX_SHEAR = 0.3
MAX_ROTATION = 10.0
FILL = (0.6, 0.95)
INK = (0.6, 1.0)
MAX_NOISE = 0.08


@dataclass(frozen=True)
class ThreeWaySplit:
    """One split's records, speech not yet attached: the clip each record speaks (index into
    the split's clips), the word index its text and its picture show, its picture's font
    (index into the split's fonts) and the pictures (N, 1, 32, 96)."""

    clip: np.ndarray
    text_word: np.ndarray
    picture_word: np.ndarray
    font: np.ndarray
    pictures: np.ndarray


def font_paths(names: tuple[str, ...], folder: Path = FONT_DIR) -> list[Path]:
    """The font files `names` in `folder`; a missing one is a DataError with the install."""
    paths = [folder / name for name in names]
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise DataError(f"{NAME} draws its words in the DejaVu fonts; {missing[0]} is missing; "
                        f"install them with: {FONTS_INSTALL}")
    return paths


@lru_cache(maxsize=16)
def _font(path: str) -> Any:
    from PIL import ImageFont

    return ImageFont.truetype(path, RENDER_SIZE)


def _slant_and_turn(size: tuple[int, int], shear: float, degrees: float) -> tuple[float, ...]:
    """Pillow's AFFINE data (output pixel -> input pixel) of a horizontal shear by `shear`
    then a rotation by `degrees`, both about the canvas centre."""
    angle = np.deg2rad(degrees)
    cos, sin = np.cos(angle), np.sin(angle)
    # (rotate(angle) @ [[1, shear], [0, 1]])^-1 = [[1, -shear], [0, 1]] @ rotate(-angle)
    a, b = cos + shear * sin, sin - shear * cos
    d, e = -sin, cos
    centre_x, centre_y = size[0] / 2, size[1] / 2
    return (a, b, centre_x - a * centre_x - b * centre_y,
            d, e, centre_y - d * centre_x - e * centre_y)


def render_word(word: str, font_path: Path, rng: np.random.Generator) -> np.ndarray:
    """`word` as a float32 (1, 32, 96) picture in [0, 1]: drawn in `font_path` in a random
    case, slanted, rotated, scaled, placed, dimmed and noised as the module docstring says."""
    from PIL import Image, ImageDraw

    text = (word.lower(), word.title(), word.upper())[rng.integers(3)]
    font = _font(str(font_path))
    left, top, right, bottom = font.getbbox(text)
    margin = RENDER_SIZE  # room for the slant and the rotation around the word
    canvas = Image.new("L", (right - left + 2 * margin, bottom - top + 2 * margin))
    ImageDraw.Draw(canvas).text((margin - left, margin - top), text, fill=255, font=font)
    canvas = canvas.transform(canvas.size, Image.Transform.AFFINE,
                              _slant_and_turn(canvas.size, rng.uniform(-MAX_SHEAR, MAX_SHEAR),
                                              rng.uniform(-MAX_ROTATION, MAX_ROTATION)),
                              resample=Image.Resampling.BILINEAR)
    ink = canvas.crop(canvas.getbbox())
    scale = rng.uniform(*FILL) * min(PICTURE_WIDTH / ink.width, PICTURE_HEIGHT / ink.height)
    size = (max(1, round(ink.width * scale)), max(1, round(ink.height * scale)))
    ink = ink.resize(size, Image.Resampling.LANCZOS)
    picture = Image.new("L", (PICTURE_WIDTH, PICTURE_HEIGHT))
    picture.paste(ink, (int(rng.integers(PICTURE_WIDTH - size[0] + 1)),
                        int(rng.integers(PICTURE_HEIGHT - size[1] + 1))))
    array = np.asarray(picture, dtype=np.float32) * np.float32(rng.uniform(*INK) / 255.0)
    array += rng.normal(0.0, rng.uniform(0.0, MAX_NOISE), array.shape).astype(np.float32)
    return np.clip(array, 0.0, 1.0)[None]


def pair_words(speech_word: np.ndarray, relation: str, ring_size: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(text word, picture word) of records whose speech says `speech_word`: the same word,
    or for "sum" a balanced a and b = (c - a) mod `ring_size` (see the module docstring)."""
    if relation == "same":
        return speech_word.copy(), speech_word.copy()
    text_word = np.empty_like(speech_word)
    for word in range(ring_size):
        members = np.flatnonzero(speech_word == word)
        cycle = (np.arange(len(members)) + rng.integers(ring_size)) % ring_size
        text_word[members] = rng.permutation(cycle)
    return text_word, (speech_word - text_word) % ring_size


def three_way_split(speech_word: np.ndarray, words: list[str], fonts: list[Path],
                    relation: str, pairings: int, rng: np.random.Generator) -> ThreeWaySplit:
    """The records of one split whose clips say `speech_word` (indices into `words`): each
    clip `pairings` times, with its text and picture words, fonts and pictures."""
    clip = np.repeat(np.arange(len(speech_word)), pairings)
    text_word, picture_word = pair_words(speech_word[clip], relation, len(words), rng)
    font = rng.integers(len(fonts), size=len(clip))
    pictures = np.stack([render_word(words[word], fonts[index], rng)
                         for word, index in zip(picture_word.tolist(), font.tolist())])
    return ThreeWaySplit(clip, text_word, picture_word, font, pictures)


def _check(relation: str, words: list[str] | None, pairings: int) -> None:
    if relation not in RELATIONS:
        raise DataError(f"{NAME}: unknown relation {relation!r}; use 'same' (all three show one "
                        "word) or 'sum' (speech = text + picture mod K)")
    if isinstance(pairings, bool) or not isinstance(pairings, int) or pairings < 1:
        raise DataError(f"{NAME}: pairings must be a positive integer (records per speech "
                        f"clip), got {pairings!r}")
    if words is not None and (isinstance(words, str) or len(words) < 2):
        raise DataError(f"{NAME}: words must be a list of at least 2 words, got {words!r}")


def words_three_ways_records(relation: str = "same", seed: int = 0, *,
                             words: list[str] | None = None,
                             voices: int | list[str] | None = None,
                             pairings: int = 1) -> dict[str, Any]:
    """Text, picture and speech of words, split by voice and font (see the module docstring):
    `relation` "same" (one word in all three) or "sum" (speech word = text word + picture word
    mod K over the ring `words`). `words` and `voices` (names, or how many) choose a smaller
    `spoken-words` set; `pairings` is how many records each speech clip makes."""
    _check(relation, words, pairings)
    ring = list(words) if words is not None else (list(SUM_RING) if relation == "sum" else None)
    fonts = {"": font_paths(TRAIN_FONTS), "_test": font_paths(TEST_FONTS)}
    speech = DATASETS.get("spoken-words")(seed=seed, words=ring, voices=voices,
                                          qbe_per_class=None)
    spoken_words = list(speech.info["classes"])
    class_names = ring if relation == "sum" else spoken_words
    to_class = np.asarray([class_names.index(word) for word in spoken_words], dtype=np.int64)
    records: dict[str, Any] = {"name": NAME, "class_names": class_names}
    for split, dataset, code in (("", speech.train, 0), ("_test", speech.test, 1)):
        speech_word = to_class[dataset.y.numpy()]
        made = three_way_split(speech_word, class_names, fonts[split], relation, pairings,
                               np.random.default_rng([seed, code]))
        audio = dataset.x[:, 0].numpy()[made.clip]
        records[f"x{split}"] = {"text": [class_names[word] for word in made.text_word.tolist()],
                                "image": made.pictures,
                                "audio": np.ascontiguousarray(audio, dtype=np.float32)}
        records[f"y{split}"] = speech_word[made.clip].astype(np.int64)
    records["class_prompts"] = {word: [word, f"the word {word}.", f"someone saying {word}.",
                                       f"{word}, written in a picture."]
                                for word in class_names}
    relation_note = ("text, picture and speech show the same word" if relation == "same" else
                     f"speech word = (text word + picture word) mod {len(class_names)} over "
                     f"the ring {', '.join(class_names)}")
    records["notes"] = [
        f"{relation_note}; label = the speech word",
        f"speech: spoken-words clips, test voices held out: "
        f"{', '.join(map(str, speech.info.get('test_speakers', [])))}",
        f"pictures: training fonts {', '.join(TRAIN_FONTS)}; test fonts {', '.join(TEST_FONTS)}",
        f"{len(records['y'])} training and {len(records['y_test'])} test records "
        f"({pairings} per speech clip)",
    ]
    return records


def words_three_ways_available() -> tuple[bool, str]:
    """Whether `words-three-ways` can be built here (espeak-ng and the DejaVu fonts)."""
    ready, reason = DATASETS.get("spoken-words").available()
    if not ready:
        return False, f"spoken-words: {reason}"
    try:
        font_paths(TRAIN_FONTS + TEST_FONTS)
    except DataError:
        return False, f"the DejaVu fonts are missing; install them with: {FONTS_INSTALL}"
    return True, "espeak-ng and the DejaVu fonts installed"
