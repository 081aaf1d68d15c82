"""schedule: which stages of a plan can run together, as a pure function of the plan and the limits.

A stage's level is the length of the longest chain of selected inputs before it; stages of one level
do not depend on each other. Each level becomes one or more waves that respect `max_parallel` (stages
at once) and `devices` (GPUs on the machine: the GPUs of a wave's stages add up to at most that; a
stage needing more than the machine has gets a wave of its own). `recipe plan` shows the waves and
the wall time of running them against running every stage one after another. `apply` itself does not
wait for a whole wave: a stage starts as soon as its inputs are committed and a slot is free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sdk.plan import Plan, Stage

Need = Callable[[Stage], int]
"""GPUs a stage holds while it runs (0: none)."""


def levels(plan: Plan, ids: Iterable[str] | None = None) -> dict[str, int]:
    """Each selected stage's level: 0 when none of its inputs is selected, else 1 + its deepest input's."""
    wanted = set(plan.ids if ids is None else ids)
    level: dict[str, int] = {}
    for stage in plan.stages:  # plan order puts every stage after its inputs
        if stage.id in wanted:
            level[stage.id] = 1 + max((level[d] for _, d in stage.inputs if d in level), default=-1)
    return level


@dataclass(frozen=True)
class Schedule:
    waves: tuple[tuple[str, ...], ...]
    """Stage ids that run together; a wave starts when the one before it has finished."""

    @property
    def widest(self) -> int:
        return max((len(w) for w in self.waves), default=0)

    def sequential_hours(self, hours: Mapping[str, float]) -> float:
        return sum(hours[s] for wave in self.waves for s in wave)

    def parallel_hours(self, hours: Mapping[str, float]) -> float:
        """Wall time when each wave takes as long as its longest stage."""
        return sum(max(hours[s] for s in wave) for wave in self.waves)


def schedule(plan: Plan, ids: Iterable[str] | None = None, *, max_parallel: int | None = None,
             devices: int | None = None, need: Need | None = None) -> Schedule:
    """The waves of the selected stages (all by default) under the limits; `need` says a stage's GPUs."""
    if max_parallel is not None and max_parallel < 1:
        raise ValueError("max_parallel must be at least 1")
    level = levels(plan, ids)
    by_level: dict[int, list[Stage]] = {}
    for stage in plan.stages:
        if stage.id in level:
            by_level.setdefault(level[stage.id], []).append(stage)
    waves: list[tuple[str, ...]] = []
    for n in sorted(by_level):
        waves += _pack(by_level[n], max_parallel, devices, need or (lambda _: 0))
    return Schedule(tuple(waves))


def _pack(stages: list[Stage], max_parallel: int | None, devices: int | None, need: Need) -> list[tuple[str, ...]]:
    """Fill waves in plan order: a stage joins the current wave while the wave has room for it."""
    waves: list[list[str]] = []
    used: list[int] = []
    for stage in stages:
        gpus = need(stage)
        fits = bool(waves) and (max_parallel is None or len(waves[-1]) < max_parallel)
        if devices is not None and fits:
            fits = gpus <= devices and used[-1] + gpus <= devices
        if not fits:
            waves.append([])
            used.append(0)
        waves[-1].append(stage.id)
        used[-1] += gpus
    return [tuple(w) for w in waves]
