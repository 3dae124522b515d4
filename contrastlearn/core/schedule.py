"""Learning-rate and momentum schedules as pure functions of the step (so resume is exact)."""

from __future__ import annotations

import math


def warmup_cosine(
    step: int, total_steps: int, warmup_steps: int, base_value: float, min_ratio: float = 0.0
) -> float:
    """Linear warmup from ~0 to `base_value`, then cosine decay to `min_ratio * base_value`."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_value * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    floor = base_value * min_ratio
    return floor + (base_value - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def cosine_momentum(step: int, total_steps: int, base_momentum: float) -> float:
    """EMA momentum rising from `base_momentum` to 1 along a cosine (BYOL, Grill et al. 2020)."""
    progress = min(1.0, step / max(1, total_steps))
    return 1.0 - (1.0 - base_momentum) * 0.5 * (1.0 + math.cos(math.pi * progress))
