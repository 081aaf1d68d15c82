"""grouping: which selected stages share one SkyPilot task (one cluster), merged only along chains.

Stages that do not depend on each other never share a task, so they can run at the same time as
separate managed jobs. With `merge_stages` (the default) these merges repeat until none applies;
each joins two single-node units whose machines agree (a unit of light stages agrees with any), and
"input" means a direct one (not one needed anyway through another input):

    chain       A's only consumer is B, B's only input is A         A then B
    source      a light unit with no inputs feeding one unit        runs first in it
    ride along  a light unit whose inputs all come from one unit    runs at its end
    sources     light units with no inputs feeding several units   one task together

A light stage (a source, a filter) is cheap next to a cluster start, so it joins a neighbour; a
multi-node unit holds exactly one stage (its worker nodes read every input from the bucket).

    rows -> keep -+-> train (H100:8) <- base       tasks: [rows, keep, again] (cpu)
                  +-> again -> wide (L4:1 x2)             [base, train], [wide]
"""

from __future__ import annotations

from typing import Any

from runners.skypilot.machines import Machine, TaskGroup, is_light, light_machine, machine_for
from schemas.skypilot import SkyPilotRunner
from sdk.plan import Plan, Stage


class _Units:
    """The stages as units being merged: unit id -> its stages, and each unit's machine (None: light)."""

    def __init__(self, stages: list[Stage], runner: SkyPilotRunner):
        self.order = {s.id: n for n, s in enumerate(stages)}
        self.members: dict[int, list[Stage]] = {n: [s] for n, s in enumerate(stages)}
        self.machine: dict[int, Machine | None] = {
            n: None if is_light(s) else machine_for(s, runner) for n, s in enumerate(stages)}
        self.unit_of = {s.id: n for n, s in enumerate(stages)}

    def direct(self, unit: int) -> set[int]:
        return {self.unit_of[d] for s in self.members[unit] for d in s.needs if d in self.unit_of} - {unit}

    def preds(self, unit: int) -> set[int]:
        """The units it needs, less those it needs anyway through another (a transitive reduction)."""
        return direct_needs({u: self.direct(u) for u in self.members})[unit]

    def succs(self, unit: int) -> set[int]:
        needs = direct_needs({u: self.direct(u) for u in self.members})
        return {u for u, n in needs.items() if unit in n}

    def single(self, unit: int) -> bool:
        machine = self.machine[unit]
        return machine is None or machine.num_nodes == 1

    def agree(self, a: int, b: int) -> bool:
        ma, mb = self.machine[a], self.machine[b]
        return self.single(a) and self.single(b) and (ma is None or mb is None or ma == mb)

    def merge(self, keep: int, gone: int) -> None:
        self.members[keep] = sorted(self.members[keep] + self.members.pop(gone), key=lambda s: self.order[s.id])
        self.machine[keep] = self.machine[keep] or self.machine.pop(gone)
        self.machine.pop(gone, None)
        for s in self.members[keep]:
            self.unit_of[s.id] = keep


def direct_needs(needs: dict[Any, set[Any]]) -> dict[Any, set[Any]]:
    """Each node's needs without those reached through another of its needs: `eval` needing `base`,
    `rl` and `student` needs only `student` when `student` comes after `rl` and `rl` after `base`."""
    memo: dict[Any, set[Any]] = {}

    def above(node: Any) -> set[Any]:  # every node it needs, transitively
        if node not in memo:
            memo[node] = set().union(*({n, *above(n)} for n in needs[node]))
        return memo[node]

    return {node: {n for n in ns if not any(n in above(m) for m in ns if m != n)} for node, ns in needs.items()}


def _one_merge(u: _Units) -> bool:
    """Apply the first merge that fits (chain, source, ride along); False when none does."""
    for a in list(u.members):
        succs, preds = u.succs(a), u.preds(a)
        light = u.machine[a] is None
        if len(succs) == 1:
            (b,) = succs
            if u.agree(a, b) and (u.preds(b) == {a} or (light and not preds)):
                u.merge(b, a)
                return True
        if light and len(preds) == 1:
            (p,) = preds
            if u.agree(p, a):
                u.merge(p, a)
                return True
    return False


def _merge_sources(u: _Units) -> None:
    """Light units with no inputs left on their own (each feeds several units) become one task."""
    sources = [a for a in u.members if u.machine[a] is None and not u.preds(a)]
    for other in sources[1:]:
        u.merge(sources[0], other)


def _in_order(u: _Units) -> list[int]:
    """Units in an order where each comes after the units it needs (ties: plan order)."""
    done: list[int] = []
    left = set(u.members)
    while left:
        ready = [a for a in left if not (u.preds(a) & left)]
        nxt = min(ready, key=lambda a: u.order[u.members[a][0].id])
        done.append(nxt)
        left.remove(nxt)
    return done


def group(plan: Plan, stages: list[Stage], runner: SkyPilotRunner) -> list[TaskGroup]:
    """Split the selected stages (in plan order) into tasks, needs first."""
    del plan  # the stages carry their own needs
    units = _Units(stages, runner)
    if runner.merge_stages:
        while _one_merge(units):
            pass
        _merge_sources(units)
    return [TaskGroup(units.machine[a] or light_machine(runner), units.members[a]) for a in _in_order(units)]
