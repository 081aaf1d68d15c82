"""show: the text `recipe plan/apply/status --runner skypilot` print (tables via rich, plain when piped)."""

from __future__ import annotations

import time
from typing import Any, TextIO

from runners.skypilot.machines import underused_gpus
from runners.skypilot.pricing import Estimate
from runners.skypilot.timeline import Timeline, timeline
from sdk.run.schedule import Schedule


def _money(value: float | None) -> str:
    return "?" if value is None else f"${value:,.2f}"


def estimate_json(est: Estimate, budget: float | None, max_parallel: int | None = None) -> dict[str, Any]:
    return {
        "schedule": timeline(est, max_parallel).to_json(),
        "tasks": [{"task": line.task.name, "stages": line.task.group.ids,
                   "machine": line.task.machine.describe(), "num_nodes": line.task.machine.num_nodes,
                   "node_price_per_hour": line.node_price, "price_per_hour": line.per_hour,
                   "hours": line.hours, "cost": line.cost} for line in est.lines],
        "total": est.total, "budget": budget, "notes": notes(est),
    }


def notes(est: Estimate) -> list[str]:
    found = [n for line in est.lines for s in line.task.group.stages
             if (n := underused_gpus(s, line.task.machine))]
    return [*est.notes, *found]


def print_estimate(est: Estimate, title: str, budget: float | None, stream: TextIO,
                   max_parallel: int | None = None) -> None:
    """One row per task: stages, machines, $/hr, hours, cost; then the total, budget, schedule and notes."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("task", "stages", "machines", "$/hr", "hours", "est. $"):
        table.add_column(col, overflow="fold")
    for line in est.lines:
        table.add_row(line.task.name, escape(", ".join(line.task.group.ids)), line.task.machine.describe(),
                      _money(line.per_hour), f"{line.hours:g}", _money(line.cost))
    console = Console(file=stream)
    if not console.is_terminal:  # piped or captured: no folding at 80 columns
        console = Console(file=stream, width=160)
    console.print(table)
    total = est.total
    budget_text = f" (budget {_money(budget)})" if budget is not None else ""
    print(f"estimated total: {_money(total)}{budget_text}; provisioning and setup time not included", file=stream)
    print_timeline(timeline(est, max_parallel), stream)
    for note in notes(est):
        print(f"note: {note}", file=stream)


def print_timeline(t: Timeline, stream: TextIO) -> None:
    """The tasks that can run together, and wall time one after another vs independent ones at once."""
    cap = f", runner.max_parallel {t.max_parallel}" if t.max_parallel else ""
    print(f"schedule: {len(t.schedule.waves)} steps, up to {t.schedule.widest} tasks at once{cap}; "
          f"wall time {t.sequential_hours:g} h one after another, {t.parallel_hours:g} h with independent tasks "
          f"at once; cost {_money(t.cost)} either way (each task pays for its own machines)", file=stream)
    if t.schedule.widest > 1:
        for n, wave in enumerate(t.schedule.waves, 1):
            print(f"  {n}. {', '.join(wave)}", file=stream)


def print_job_waves(jobs: list[Any], steps: Schedule, stream: TextIO) -> None:
    """The managed jobs a launch makes, and the order `recipe apply` launches them in."""
    by_label = {j.label: j for j in jobs}
    print(f"managed jobs: {len(jobs)}; each starts once the jobs it needs have succeeded, "
          f"up to {steps.widest} at once:", file=stream)
    for n, wave in enumerate(steps.waves, 1):
        for label in wave:
            job = by_label[label]
            needs = f" (after {', '.join(by_label_name(jobs, x) for x in job.needs)})" if job.needs else ""
            print(f"  {n}. {job.name}: {', '.join(job.ids)}{needs}", file=stream)


def by_label_name(jobs: list[Any], name: str) -> str:
    return next(j.label for j in jobs if j.name == name)


def print_jobs(rows: list[dict[str, Any]], stream: TextIO) -> None:
    """Managed jobs, one line per task of each pipeline."""
    if not rows:
        print("no managed jobs for it", file=stream)
        return
    for row in sorted(rows, key=lambda r: (r.get("job_id") or 0, r.get("task_id") or 0)):
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(row["submitted_at"])) if row.get("submitted_at") else ""
        extra = f" recovered {row['recovery_count']}x" if row.get("recovery_count") else ""
        why = f" ({row['failure_reason']})" if row.get("failure_reason") else ""
        print(f"  job {row.get('job_id')} {row.get('job_name')} task {row.get('task_id')} "
              f"{row.get('task_name')}: {row.get('status')}{extra}{why} {when}".rstrip(), file=stream)


def print_clusters(rows: list[dict[str, Any]], stream: TextIO) -> None:
    if not rows:
        print("no clusters for it", file=stream)
        return
    for row in rows:
        print(f"  cluster {row['name']}: {row['status']}", file=stream)
