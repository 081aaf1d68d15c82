"""schedule: which stages of a plan can run together, as a pure function of the plan and the limits.

A stage's level is the length of the longest chain of selected inputs before it; stages of one level
do not depend on each other. Each level becomes one or more waves that respect `max_parallel` (stages
at once) and `devices` (GPUs on the machine: the GPUs of a wave's stages add up to at most that; a
stage needing more than the machine has gets a wave of its own). `recipe plan` shows the waves and
the wall time of running them against running every stage one after another. `apply` itself does not
wait for a whole wave: a stage starts as soon as its inputs are committed and a slot is free.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sdk.plan import Plan, Stage

Need = Callable[[Stage], int]
"""GPUs a stage holds while it runs (0: none)."""


def levels(plan: Plan, ids: Iterable[str] | None = None) -> dict[str, int]:
    """Each selected stage's level: 0 when none of its inputs is selected, else 1 + its deepest input's."""
    wanted = set(plan.ids if ids is None else ids)
    return node_levels([(s.id, s.needs) for s in plan.stages if s.id in wanted])


def node_levels(nodes: Sequence[tuple[str, Collection[str]]]) -> dict[str, int]:
    """Levels of any DAG given as (id, ids it needs) in an order where needs come first; needs that
    are not nodes (already built, not selected) do not count."""
    level: dict[str, int] = {}
    for node, needs in nodes:
        level[node] = 1 + max((level[d] for d in needs if d in level), default=-1)
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
    wanted = set(plan.ids if ids is None else ids)
    stages = {s.id: s for s in plan.stages if s.id in wanted}
    gpus = need or (lambda _: 0)
    return waves([(s.id, s.needs) for s in stages.values()], max_parallel=max_parallel,
                 devices=devices, need=lambda sid: gpus(stages[sid]))


def waves(nodes: Sequence[tuple[str, Collection[str]]], *, max_parallel: int | None = None,
          devices: int | None = None, need: Callable[[str], int] = lambda _: 0) -> Schedule:
    """The schedule of any DAG given as (id, ids it needs), needs first (a cloud runner's tasks)."""
    if max_parallel is not None and max_parallel < 1:
        raise ValueError("max_parallel must be at least 1")
    level = node_levels(nodes)
    by_level: dict[int, list[str]] = {}
    for node, _ in nodes:
        by_level.setdefault(level[node], []).append(node)
    out: list[tuple[str, ...]] = []
    for n in sorted(by_level):
        out += _pack(by_level[n], max_parallel, devices, need)
    return Schedule(tuple(out))


def _pack(ids: list[str], max_parallel: int | None, devices: int | None,
          need: Callable[[str], int]) -> list[tuple[str, ...]]:
    """Fill waves in order: a node joins the current wave while the wave has room for it."""
    packed: list[list[str]] = []
    used: list[int] = []
    for node in ids:
        gpus = need(node)
        fits = bool(packed) and (max_parallel is None or len(packed[-1]) < max_parallel)
        if devices is not None and fits:
            fits = gpus <= devices and used[-1] + gpus <= devices
        if not fits:
            packed.append([])
            used.append(0)
        packed[-1].append(node)
        used[-1] += gpus
    return [tuple(w) for w in packed]
