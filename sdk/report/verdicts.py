"""Verdicts on RL curves: the two failures BAI (Zheng et al. 2025) tells you to watch for.

Both read a per-step series after a centred moving average over `SMOOTH_FRACTION` of the steps
(at least 1 step), and look at the early part of the run, the first `EARLY_FRACTION` of steps:

* **length collapse**: the smoothed mean completion length falls early to below
  `1 - COLLAPSE_DROP` of its start (30% lower) and ends the run still below `1 - RECOVERY_GAP`
  of its start (more than 15% lower): it fell and did not come back.
* **reward hockey stick**: the smoothed reward dips early below its start by at least `DIP_FRACTION`
  of the reward's whole range over the run (20%), and climbing back to the start takes at least
  `SLOW_FACTOR` times (2x) as many steps as the fall did, or never happens.

Neither is given on fewer than `MIN_STEPS` logged steps, and a fall or dip counts only when the
smoothed change exceeds `NOISE_FACTOR` times the noise left in the smoothed curve (its step-to-step
spread, reduced by the smoothing window): a verdict on an 8-step run, or on a wiggle, judges noise.

Pure functions over lists of (step, value): the report calls them, and so can a test.
"""

from __future__ import annotations

import math
import statistics
from typing import NamedTuple

SMOOTH_FRACTION = 0.1
EARLY_FRACTION = 0.5
COLLAPSE_DROP = 0.3
RECOVERY_GAP = 0.15
DIP_FRACTION = 0.2
SLOW_FACTOR = 2.0
MIN_STEPS = 20
"""Fewer logged steps than this: "too few steps to judge"."""
NOISE_FACTOR = 5.0
"""A smoothed fall or dip must exceed this many times the smoothed curve's own noise."""

Series = list[tuple[int, float]]


class Verdict(NamedTuple):
    name: str
    flagged: bool
    detail: str

    def __str__(self) -> str:
        return f"{self.name}: {'YES' if self.flagged else 'no'} ({self.detail})"


def _half_window(count: int) -> int:
    return max(1, math.ceil(count * SMOOTH_FRACTION)) // 2


def smooth(values: list[float]) -> list[float]:
    """Centred moving average over SMOOTH_FRACTION of the points (window at least 1)."""
    half = _half_window(len(values))
    return [sum(values[max(0, i - half):i + half + 1]) / len(values[max(0, i - half):i + half + 1])
            for i in range(len(values))]


def noise(values: list[float]) -> float:
    """The noise left in the smoothed curve: the raw curve's per-point noise (the spread of its
    step-to-step differences over sqrt 2) over the square root of the smoothing window."""
    steps = [b - a for a, b in zip(values, values[1:], strict=False)]
    per_point = statistics.pstdev(steps) / math.sqrt(2) if len(steps) > 1 else 0.0
    return per_point / math.sqrt(2 * _half_window(len(values)) + 1)


def _too_short(name: str, series: Series) -> Verdict | None:
    if len(series) < MIN_STEPS:
        return Verdict(name, False, f"too few steps to judge ({len(series)} logged, {MIN_STEPS} needed)")
    return None


def _early(count: int) -> int:
    """How many leading points count as early (at least 2, when there are 2)."""
    return min(count, max(2, math.ceil(count * EARLY_FRACTION)))


def length_collapse(series: Series) -> Verdict:
    """Did the mean completion length fall early well below its start and stay there?"""
    name = "length collapse"
    if short := _too_short(name, series):
        return short
    raw = [v for _, v in series]
    steps, values = [s for s, _ in series], smooth(raw)
    start = values[0]
    low_index = min(range(_early(len(values))), key=values.__getitem__)
    low, end = values[low_index], values[-1]
    margin = NOISE_FACTOR * noise(raw)
    fell = low < start * (1 - COLLAPSE_DROP) and start - low > margin
    stayed = end < start * (1 - RECOVERY_GAP) and start - end > margin
    detail = f"smoothed length {start:.1f} at the start, {low:.1f} at step {steps[low_index]}, {end:.1f} at the end"
    if low < start * (1 - COLLAPSE_DROP) and not start - low > margin:
        detail += f"; the fall is within the curve's noise (+-{margin:.3g})"
    return Verdict(name, fell and stayed, detail)


def reward_hockey_stick(series: Series) -> Verdict:
    """Did the reward dip early and then take long to climb back to where it started?"""
    name = "reward hockey stick"
    if short := _too_short(name, series):
        return short
    raw = [v for _, v in series]
    spread = max(raw) - min(raw)
    if spread == 0:
        return Verdict(name, False, f"reward flat at {raw[0]:.3g}")
    steps, values = [s for s, _ in series], smooth(raw)
    start = values[0]
    bottom = min(range(_early(len(values))), key=values.__getitem__)
    dip = start - values[bottom]
    if dip < DIP_FRACTION * spread:
        return Verdict(name, False, f"no early dip (largest {max(dip, 0):.3g}, range {spread:.3g})")
    margin = NOISE_FACTOR * noise(raw)
    if dip <= margin:
        return Verdict(name, False, f"an early dip of {dip:.3g} is within the curve's noise (+-{margin:.3g})")
    back = next((i for i in range(bottom + 1, len(values)) if values[i] >= start), None)
    fall = max(bottom, 1)
    slow = back is None or back - bottom >= SLOW_FACTOR * fall
    recovered = "never back to the start" if back is None else f"back to the start at step {steps[back]}"
    detail = f"dips {dip:.3g} (range {spread:.3g}) to step {steps[bottom]}, {recovered}"
    return Verdict(name, slow, detail)
