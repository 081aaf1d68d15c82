"""Verdicts on RL curves: the two failures BAI (Zheng et al. 2025) tells you to watch for.

Both read a per-step series after a centred moving average over `SMOOTH_FRACTION` of the steps
(at least 1 step), and look at the early part of the run, the first `EARLY_FRACTION` of steps:

* **length collapse**: the smoothed mean completion length falls early to below
  `1 - COLLAPSE_DROP` of its start (30% lower) and ends the run still below `1 - RECOVERY_GAP`
  of its start (more than 15% lower): it fell and did not come back.
* **reward hockey stick**: the smoothed reward dips early below its start by at least `DIP_FRACTION`
  of the reward's whole range over the run (20%), and climbing back to the start takes at least
  `SLOW_FACTOR` times (2x) as many steps as the fall did, or never happens.

Pure functions over lists of (step, value): the report calls them, and so can a test.
"""

from __future__ import annotations

import math
from typing import NamedTuple

SMOOTH_FRACTION = 0.1
EARLY_FRACTION = 0.5
COLLAPSE_DROP = 0.3
RECOVERY_GAP = 0.15
DIP_FRACTION = 0.2
SLOW_FACTOR = 2.0

Series = list[tuple[int, float]]


class Verdict(NamedTuple):
    name: str
    flagged: bool
    detail: str

    def __str__(self) -> str:
        return f"{self.name}: {'YES' if self.flagged else 'no'} ({self.detail})"


def smooth(values: list[float]) -> list[float]:
    """Centred moving average over SMOOTH_FRACTION of the points (window at least 1)."""
    half = max(1, math.ceil(len(values) * SMOOTH_FRACTION)) // 2
    return [sum(values[max(0, i - half):i + half + 1]) / len(values[max(0, i - half):i + half + 1])
            for i in range(len(values))]


def _early(count: int) -> int:
    """How many leading points count as early (at least 2, when there are 2)."""
    return min(count, max(2, math.ceil(count * EARLY_FRACTION)))


def length_collapse(series: Series) -> Verdict:
    """Did the mean completion length fall early well below its start and stay there?"""
    name = "length collapse"
    if len(series) < 2:
        return Verdict(name, False, "too few steps to judge")
    steps, values = [s for s, _ in series], smooth([v for _, v in series])
    start = values[0]
    low_index = min(range(_early(len(values))), key=values.__getitem__)
    low, end = values[low_index], values[-1]
    fell = low < start * (1 - COLLAPSE_DROP)
    stayed = end < start * (1 - RECOVERY_GAP)
    detail = f"smoothed length {start:.1f} at the start, {low:.1f} at step {steps[low_index]}, {end:.1f} at the end"
    return Verdict(name, fell and stayed, detail)


def reward_hockey_stick(series: Series) -> Verdict:
    """Did the reward dip early and then take long to climb back to where it started?"""
    name = "reward hockey stick"
    if len(series) < 3:
        return Verdict(name, False, "too few steps to judge")
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
    back = next((i for i in range(bottom + 1, len(values)) if values[i] >= start), None)
    fall = max(bottom, 1)
    slow = back is None or back - bottom >= SLOW_FACTOR * fall
    recovered = "never back to the start" if back is None else f"back to the start at step {steps[back]}"
    detail = f"dips {dip:.3g} (range {spread:.3g}) to step {steps[bottom]}, {recovered}"
    return Verdict(name, slow, detail)
