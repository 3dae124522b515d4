"""Augmentation-strength curricula: the strength of every room's views as a function of the
training step, so a resumed run sees exactly the strengths an uninterrupted one sees.

A schedule returns a multiplier in [0, 1] of the view policy's own strength (1: the recipe's
views as configured, 0: the policy's no-augmentation control, i.e. the real data). The trainer
sets it on the views before each step (`Views.set_strength`); a view policy takes part when its
factory has a `strength` setting (image simclr/byol/swav_views, text eda_views, time-series
timeseries/magnitude/ts_tcc_views), which `strength_rebuilder` turns into a rebuild.

- `linear`: a ramp from `start` to `end` over the first `ramp_fraction` of training (curriculum
  data augmentation: easy, weakly augmented examples first).
- `cyclical`: after Modified Cyclical Curriculum Learning (MCCL; Kesgin & Amasyali 2024,
  arXiv 2402.09141), which orders real and augmented training data in repeating cycles instead
  of one easy-to-hard pass (cyclical curriculum, Kesgin & Amasyali 2022, arXiv 2202.05531).
  Here each of `cycles` cycles ramps the strength from `low` to `high`, and every
  `real_every`-th step is a real (strength-0) batch, so original data stay interleaved with
  augmented data throughout. The paper schedules which instances an epoch uses; scheduling
  the strength of on-the-fly views is our transfer of it to contrastive views, and its default
  numbers are ours.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

from contrastlearn.augment.views import Views
from contrastlearn.core.registry import STRENGTH_SCHEDULES
from contrastlearn.data.resolve import accepts

Schedule = Callable[[int, int], float]
"""(step, total_steps) -> strength multiplier in [0, 1]."""


def _unit(value: float, name: str, owner: str) -> float:
    """`value` as a float in [0, 1], or a one-line error naming the setting."""
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{owner} {name} must be in [0, 1] (a multiplier of the view policy's "
                         f"strength), got {value}")
    return value


@STRENGTH_SCHEDULES.register("linear")
class LinearStrength:
    """Strength rising (or falling) linearly from `start` at step 0 to `end` at the last step
    of the first `ramp_fraction` of training, then held at `end`."""

    def __init__(self, start: float = 0.0, end: float = 1.0, ramp_fraction: float = 1.0) -> None:
        self.start = _unit(start, "start", "linear strength schedule")
        self.end = _unit(end, "end", "linear strength schedule")
        if not 0.0 < ramp_fraction <= 1.0:
            raise ValueError(f"linear strength schedule ramp_fraction must be in (0, 1], got "
                             f"{ramp_fraction}")
        self.ramp_fraction = float(ramp_fraction)

    def __call__(self, step: int, total_steps: int) -> float:
        last_ramp_step = max(1, round(self.ramp_fraction * total_steps) - 1)
        progress = min(1.0, step / last_ramp_step)
        return self.start + (self.end - self.start) * progress


@STRENGTH_SCHEDULES.register("cyclical")
class CyclicalStrength:
    """MCCL-style cycles (Kesgin & Amasyali 2024, arXiv 2402.09141): `cycles` ramps from `low`
    to `high`, each over an equal share of training, with every `real_every`-th step at
    strength 0 (real, un-augmented data; None: no real steps)."""

    def __init__(self, cycles: int = 4, low: float = 0.25, high: float = 1.0,
                 real_every: int | None = 4) -> None:
        if int(cycles) < 1:
            raise ValueError(f"cyclical strength schedule cycles must be >= 1, got {cycles}")
        if real_every is not None and int(real_every) < 2:
            raise ValueError(f"cyclical strength schedule real_every must be >= 2 (every n-th "
                             f"step is real) or None, got {real_every}")
        self.cycles = int(cycles)
        self.low = _unit(low, "low", "cyclical strength schedule")
        self.high = _unit(high, "high", "cyclical strength schedule")
        self.real_every = None if real_every is None else int(real_every)

    def __call__(self, step: int, total_steps: int) -> float:
        if self.real_every is not None and step % self.real_every == self.real_every - 1:
            return 0.0
        position = step * self.cycles / max(1, total_steps)
        return self.low + (self.high - self.low) * (position - math.floor(position))


class ScaledStrength:
    """`schedule` (None: constant 1) times `scale`: AdaInf's weaker augmentation under data
    inflation (see `contrastlearn.data.inflation`) on top of any curriculum."""

    def __init__(self, schedule: Schedule | None, scale: float) -> None:
        self.schedule = schedule
        self.scale = _unit(scale, "scale", "strength")

    def __call__(self, step: int, total_steps: int) -> float:
        base = 1.0 if self.schedule is None else self.schedule(step, total_steps)
        return self.scale * base


def training_strength(schedule: Schedule | None, scale: float = 1.0) -> Schedule | None:
    """The strength the trainer sets each step: `schedule` scaled by `scale` (None when neither
    changes the views)."""
    if scale == 1.0:
        return schedule
    return ScaledStrength(schedule, scale)


def check_schedule(schedule: Schedule, total_steps: int, where: str = "the strength schedule"
                   ) -> None:
    """Refuse, before training, a schedule whose value at any of the `total_steps` steps leaves
    [0, 1] (one line: the step, the value and the fix)."""
    for step in range(total_steps):
        value = float(schedule(step, total_steps))
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{where} gives augmentation strength {value} at step {step} of "
                             f"{total_steps}; strengths must stay in [0, 1] (multipliers of the "
                             "view policy's strength): fix the schedule's settings")


def accepts_strength(factory: Any) -> bool:
    """Whether a view factory has a `strength` setting (so a curriculum can change it)."""
    try:
        return "strength" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def strength_rebuilder(factory: Any, kwargs: dict[str, Any]) -> Callable[[float], Views] | None:
    """How to rebuild `factory(**kwargs)` at a strength multiplier s: the same call with
    `strength` = s times its configured strength (its default when unset). None when the
    factory has no `strength` setting."""
    if not accepts_strength(factory):
        return None
    configured = kwargs.get("strength", inspect.signature(factory).parameters["strength"].default)
    base = 1.0 if configured is inspect.Parameter.empty else float(configured)

    def rebuild(multiplier: float) -> Views:
        made = factory(**{**kwargs, "strength": base * multiplier})
        return made if isinstance(made, Views) else Views([made, made])

    return rebuild


def build_view_policy(factory: Any, kwargs: dict[str, Any],
                      offered: dict[str, Any] | None = None) -> Views:
    """`factory(**kwargs)` as Views (a single augmentation makes two views), with the `offered`
    inputs (what a modality fills in: an image size, a tokenizer) it accepts and `kwargs` do
    not set, rebuildable at another strength when the factory takes `strength`."""
    kwargs = dict(kwargs)
    for key, value in (offered or {}).items():
        if accepts(factory, key):
            kwargs.setdefault(key, value)
    views = factory(**kwargs)
    views = views if isinstance(views, Views) else Views([views, views])
    rebuild = strength_rebuilder(factory, kwargs)  # so a strength schedule can change them
    return views if rebuild is None else views.rebuild_with(rebuild)
