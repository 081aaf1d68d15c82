"""What the `recipe` command prints for a SkyPilot plan, apply and status: the runner renders its own,
so the CLI imports no runner (it reaches this through the registry)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from runners.skypilot.jobs import job_waves
from runners.skypilot.show import estimate_json, print_clusters, print_estimate, print_job_waves, print_jobs
from sdk.fit.check import memory_json


def print_plan(planned: Any, recipe: Any, as_json: bool, stream: TextIO) -> None:
    """`recipe plan` on SkyPilot: tasks, machines, cost and job waves (or the same as JSON)."""
    budget = recipe.runner.budget
    if as_json:
        jobs = [{"job": j.name, "stages": j.ids, "after": j.needs} for j in planned.jobs]
        print(json.dumps({"name": recipe.name, "job": planned.job, "bucket": planned.where,
                          **estimate_json(planned.estimate, budget, recipe.runner.max_parallel),
                          "jobs": jobs, "memory": memory_json(planned.memory)},
                         indent=2), file=stream)
    else:
        print_estimate(planned.estimate, f"plan {recipe.name} on SkyPilot (store {planned.where})", budget,
                       stream, recipe.runner.max_parallel)
        if planned.jobs:
            print_job_waves(planned.jobs, planned.schedule, stream)


def print_apply(result: Any, recipe: Any, file: str, stream: TextIO) -> int:
    """`recipe apply` on SkyPilot: a dry run's files and cost, or what was launched and how to follow it."""
    if result.dry_run:
        for path in result.files:
            print(f"# ---- {path}", file=stream)
            print(path.read_text(), file=stream)
        print_estimate(result.estimate, f"plan {recipe.name} on SkyPilot", recipe.runner.budget, stream)
        if recipe.runner.managed:
            print_job_waves(result.launched, job_waves(result.launched, recipe.runner.max_parallel), stream)
        folder = result.files[0].parent if result.files else "?"
        print(f"wrote {len(result.files)} file(s) to {folder}; nothing launched", file=stream)
        return 0
    done = result.launched
    if done.secrets_missing:
        print(f"note: not set here, so not sent: {', '.join(done.secrets_missing)}", file=stream)
    if done.jobs:
        print_job_outcomes(done.jobs, stream)
        print(f"store {recipe.runner.bucket}\n  logs: recipe logs {file} [--task STAGE]\n  status: recipe status "
              f"{file} --runner skypilot\n  cancel: recipe cancel {file}", file=stream)
    else:
        print(f"done: {len(done.clusters)} task(s) ran on SkyPilot; artifacts in {recipe.runner.bucket}",
              file=stream)
    return 0


def print_job_outcomes(runs: list[Any], stream: Any) -> None:
    """One line per managed job: its id, name, state and why."""
    for run in runs:
        job = f"job {run.job_id} " if run.job_id is not None else ""
        state = "still running" if run.state == "launched" else run.state_word()
        why = f": {run.reason}" if run.reason else ""
        print(f"  {job}{run.job.name}: {state}{why}", file=stream)


def print_status(info: dict[str, Any], stream: TextIO) -> int:
    """`recipe status --runner skypilot`: the managed jobs and clusters of a recipe."""
    print(f"SkyPilot runs of {info['job'] or 'every recipe'}:", file=stream)
    print_jobs(info["jobs"], stream)
    if info["clusters"]:
        print_clusters(info["clusters"], stream)
    return 0
