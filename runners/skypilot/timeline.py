"""timeline: a cloud plan's tasks as a schedule: which run together, and the wall time and cost of
running them one after another against running independent ones at the same time.

A task needs the tasks that produce its stages' inputs. Cost is the same either way (each task pays
for its own machines for its own hours): `budget` is checked against that sum, so it caps the jobs
running together just as it caps a sequential run. Only the wall time differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runners.skypilot.pricing import Estimate
from sdk.run.schedule import Schedule, waves


@dataclass
class Timeline:
    schedule: Schedule
    sequential_hours: float
    parallel_hours: float
    cost: float | None
    max_parallel: int | None

    def to_json(self) -> dict[str, Any]:
        return {"steps": [list(w) for w in self.schedule.waves], "max_parallel": self.max_parallel,
                "hours_sequential": self.sequential_hours, "hours_parallel": self.parallel_hours, "cost": self.cost}


def task_needs(est: Estimate) -> list[tuple[str, list[str]]]:
    """(task, the tasks whose stages feed it), in launch order."""
    owner = {sid: line.task.name for line in est.lines for sid in line.task.group.ids}
    return [(line.task.name, sorted({owner[dep] for s in line.task.group.stages for dep in s.needs
                                     if dep in owner and owner[dep] != line.task.name}))
            for line in est.lines]


def timeline(est: Estimate, max_parallel: int | None = None) -> Timeline:
    hours = {line.task.name: line.hours for line in est.lines}
    plan = waves(task_needs(est), max_parallel=max_parallel)
    return Timeline(plan, plan.sequential_hours(hours), plan.parallel_hours(hours), est.total, max_parallel)
