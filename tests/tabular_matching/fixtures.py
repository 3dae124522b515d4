"""A small made-up table of places for the tuple-matching tests: names of two made-up words,
a 3-letter code, a state, a number and a float, all rows distinct."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

SYLLABLES = ["ka", "lo", "mi", "ran", "tos", "vel", "dar", "quin", "bre", "sho", "ult", "pea",
             "gor", "fin", "ze", "wab"]
STATES = ["Ohio", "Texas", "Maine", "Utah", "Iowa", "Idaho"]


def _word(random: np.random.RandomState) -> str:
    return "".join(random.choice(SYLLABLES, size=random.randint(2, 4))).capitalize()


def places(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    """`rows` made-up places (distinct codes, so distinct rows)."""
    random = np.random.RandomState(seed)
    codes = set()
    while len(codes) < rows:
        codes.add("".join(random.choice(list("ABCDEFGHJKLMNPRSTUVWXYZ"), size=3)))
    return pd.DataFrame({
        "code": sorted(codes),
        "name": [f"{_word(random)} {_word(random)} Field" for _ in range(rows)],
        "state": random.choice(STATES, size=rows),
        "elevation": random.randint(0, 5000, size=rows),
        "latitude": random.uniform(25, 50, size=rows).round(4),
    })


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
