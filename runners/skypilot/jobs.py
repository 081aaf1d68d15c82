"""jobs: a plan's SkyPilot tasks as managed jobs, one per chain of tasks, named so a recipe finds them.

Tasks that follow one another (a task's only consumer is the next, whose only direct input is it) form one
managed job, a SkyPilot pipeline; every other dependency is between jobs, and the coordinator
(coordinate.py) launches a job when the jobs it needs have succeeded. Independent branches are
separate jobs, running at the same time on their own machines.

A job's name is `recipe-<recipe>--<stages>-<digest>`: `--` never occurs in a slug, so a recipe's
jobs are told apart from another recipe's whose name starts the same, and the digest (of the store
keys the job makes) tells a job of these exact stages from one of an earlier version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from runners.skypilot.grouping import direct_needs
from runners.skypilot.tasks import CloudTask, dump, job_name, slug
from sdk.run.schedule import Schedule, waves

SEP = "--"
"""Between a recipe's prefix and a job's label (a slug never holds two dashes in a row)."""


@dataclass
class CloudJob:
    """One managed job: its tasks (run one after another) and the jobs whose stages it reads."""

    name: str
    label: str
    tasks: list[CloudTask]
    needs: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [sid for t in self.tasks for sid in t.group.ids]

    def yaml(self) -> str:
        """The job as SkyPilot's pipeline YAML: a header naming the job, then one document per task."""
        return dump([{"name": self.name}, *(t.config for t in self.tasks)])


def prefix(recipe_name: str) -> str:
    """What every job name of the recipe starts with."""
    return job_name(recipe_name) + SEP


def belongs(name: str, recipe_name: str) -> bool:
    """Whether a managed job name is one of this recipe's (or its one-pipeline name before jobs)."""
    return name == job_name(recipe_name) or name.startswith(prefix(recipe_name))


def label_of(name: str, recipe_name: str) -> str:
    """The label in a job name of the recipe: `recipe-r--train-1a2b3c` -> `train`."""
    rest = name.removeprefix(prefix(recipe_name))
    return rest.rpartition("-")[0] if rest != name else name


def _digest(tasks: list[CloudTask]) -> str:
    keys = [k for t in tasks for s in t.group.stages for k in s.keys]
    forced = [sid for t in tasks for sid in t.force]
    return hashlib.sha256(" ".join([*keys, "force", *forced]).encode()).hexdigest()[:6]


def _chains(tasks: list[CloudTask]) -> tuple[list[list[CloudTask]], dict[str, set[str]]]:
    """Tasks joined along chains, in launch order, and each task's needed tasks."""
    owner = {sid: t.name for t in tasks for sid in t.group.ids}
    needs = direct_needs({t.name: {owner[d] for s in t.group.stages for d in s.needs if d in owner} - {t.name}
                          for t in tasks})
    users = {t.name: {u for u, n in needs.items() if t.name in n} for t in tasks}
    chains: list[list[CloudTask]] = []
    chain_of: dict[str, list[CloudTask]] = {}
    for task in tasks:  # needs first, so a chain's head is placed before its tail arrives
        (pred,) = needs[task.name] if len(needs[task.name]) == 1 else (None,)
        if pred is not None and users[pred] == {task.name} and chain_of[pred][-1].name == pred:
            chain_of[pred].append(task)
            chain_of[task.name] = chain_of[pred]
        else:
            chain_of[task.name] = [task]
            chains.append(chain_of[task.name])
    return chains, needs


def jobs_of(recipe_name: str, tasks: list[CloudTask]) -> list[CloudJob]:
    """The managed jobs that run these tasks (in launch order: a job after the jobs it needs)."""
    chains, needs = _chains(tasks)
    labels: dict[str, int] = {}
    jobs: list[CloudJob] = []
    job_of: dict[str, str] = {}
    for chain in chains:
        label = slug("-".join(sid for t in chain for sid in t.group.ids), 40)
        labels[label] = labels.get(label, 0) + 1
        if labels[label] > 1:
            label = f"{label}-{labels[label]}"
        name = f"{prefix(recipe_name)}{label}-{_digest(chain)}"
        inside = {t.name for t in chain}
        wanted = {job_of[n] for t in chain for n in needs[t.name] if n not in inside}
        jobs.append(CloudJob(name, label, chain, sorted(wanted, key=[j.name for j in jobs].index)))
        job_of.update({t.name: name for t in chain})
    return jobs


def job_waves(jobs: list[CloudJob], max_parallel: int | None = None) -> Schedule:
    """The jobs that run together (by label), step by step, under `max_parallel`."""
    label = {j.name: j.label for j in jobs}
    return waves([(j.label, [label[n] for n in j.needs]) for j in jobs], max_parallel=max_parallel)


def file_name(index: int, job: CloudJob) -> str:
    return f"{index:02d}-{job.label}.yaml"


def job_files(jobs: list[CloudJob], secrets_flags: str = "") -> dict[str, str]:
    """File name -> one managed job's YAML, numbered in launch order; each says how to launch it and
    which files' jobs must have succeeded first (`recipe apply` waits for them itself)."""
    files = {j.name: file_name(i, j) for i, j in enumerate(jobs)}
    out = {}
    for job in jobs:
        head = f"# sky jobs launch {secrets_flags}{files[job.name]}\n"
        if job.needs:
            head += f"# once these jobs have succeeded: {', '.join(files[n] for n in job.needs)}\n"
        out[files[job.name]] = head + job.yaml()
    return out
