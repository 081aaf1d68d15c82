"""The SkyPilot runner: a Plan as SkyPilot tasks, run as managed jobs (one per chain of tasks).

Each task installs the project on its node(s) and runs `recipe apply FILE --only STAGE` there,
against the artifact store on a bucket that SkyPilot mounts. The store is the source of truth: a
stage committed by any machine is skipped by every later launch, and an interrupted one resumes
from the checkpoints its work folder keeps in the bucket. Independent branches are separate
managed jobs that run at the same time; coordinate.py launches each when the jobs it needs succeed.

`SkyPilot` at the bottom is the runner interface (sdk/run/runner.py) that `sdk.api` and the CLI reach
through `sdk.registry.RUNNERS`. Nothing here imports `sky` until a launch, status, logs or cancel
needs the API server (see client.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from runners.skypilot import view
from runners.skypilot.client import CloudError, SkyClient
from runners.skypilot.coordinate import POLL_SECONDS, Coordinator, JobRun, JobsFailed
from runners.skypilot.jobs import CloudJob, belongs, job_waves, jobs_of, label_of
from runners.skypilot.pricing import Estimate, PriceFn, check_budget, estimate
from runners.skypilot.render import render, write
from runners.skypilot.tasks import CloudTask, Launch, build, job_name, narrowed, runner_of, secret_names
from schemas.skypilot import SkyPilotRunner
from sdk.errors import StageFailed
from sdk.fit.check import check, fit_plan, locator
from sdk.plan import Plan
from sdk.run.apply import ApplyResult, StageLauncher
from sdk.run.display import Display
from sdk.run.runner import Job, RunPlan

__all__ = ["CloudError", "JobsFailed", "Launch", "Launched", "SkyPilot", "SkyPilotLauncher"]


@dataclass
class Launched:
    """What a launch did: its managed jobs and how each ended, or the clusters that ran one after another."""

    job_name: str
    """The recipe's prefix: every job is named `<job_name>--<stages>-<digest>`."""
    job_ids: list[int]
    clusters: list[str]
    secrets_sent: list[str]
    secrets_missing: list[str]
    jobs: list[JobRun] = field(default_factory=list)
    """Managed jobs in launch order, each with its state (succeeded, failed, skipped, launched: still running)."""


class SkyPilotLauncher:
    """One recipe's plan on SkyPilot: its tasks, their YAML, their cost, and the launch itself."""

    def __init__(self, recipe: Any, plan: Plan, launch: Launch, *, client: Any = None,
                 price: PriceFn | None = None):
        self.recipe, self.plan, self.launch_args = recipe, plan, launch
        self.runner: SkyPilotRunner = runner_of(recipe)
        self.client = client or SkyClient()
        self.price = price

    @cached_property
    def tasks(self) -> list[CloudTask]:
        return build(self.recipe, self.plan, self.launch_args)

    @cached_property
    def jobs(self) -> list[CloudJob]:
        """The managed jobs, in launch order (a job after those it needs)."""
        return jobs_of(self.recipe.name, self.tasks)

    @property
    def job_name(self) -> str:
        return job_name(self.recipe.name)

    def files(self, secrets: list[str] | None = None) -> dict[str, str]:
        """File name -> task YAML text, with secrets by name only (`secrets` narrows the names)."""
        return render(self.recipe, self.tasks, secrets)

    @cached_property
    def cost(self) -> Estimate:
        """The tasks' machines, prices and hours (looked up once per launcher)."""
        return estimate(self.runner, self.tasks, self.price)

    def estimate(self) -> Estimate:
        return self.cost

    def fits(self) -> list[Any]:
        """The memory fit check of every training stage on the machines it gets here."""
        from runners.skypilot.machines import machine_for

        return fit_plan(self.plan, lambda stage: machine_for(stage, self.runner).accelerators)

    def dry_run(self, out_dir: Path) -> list[Path]:
        """Write the task YAML(s); launch nothing."""
        return write(self.files(), out_dir)

    def launch(self, *, max_parallel: int | None = None, detach: bool = False, poll: float = POLL_SECONDS,
               say: Any = None) -> Launched:
        """Check the budget, then run: the managed jobs, each launched once the jobs it needs have
        succeeded (followed until each ends, or with `detach` until the last is launched); or one
        cluster per task, in order.

        Raises:
            RecipeError: over budget, or a budget with no estimate.
            StageFailed: (clusters) the first task that exited non-zero.
            CloudError: SkyPilot missing, unreachable or refusing.
        """
        check_budget(self.runner, self.estimate())
        names = secret_names(self.runner, self.recipe)
        secrets = {n: os.environ[n] for n in names if os.environ.get(n)}
        missing = [n for n in names if n not in secrets]
        if self.runner.managed:
            jobs = jobs_of(self.recipe.name, narrowed(self.tasks, list(secrets)))
            cap = min(filter(None, (max_parallel, self.runner.max_parallel)), default=None)
            runs = Coordinator(self.client, self.recipe.name, jobs, secrets, max_parallel=cap, poll=poll,
                               detach=detach, say=say or (lambda line: None)).run()
            ids = [r.job_id for r in runs if r.job_id is not None]
            return Launched(self.job_name, ids, [], list(secrets), missing, runs)
        files = self.files(list(secrets))
        clusters = []
        for i, (task, text) in enumerate(zip(self.tasks, files.values(), strict=True)):
            cluster = f"{self.job_name}-{i}"
            clusters.append(cluster)
            code = self.client.cluster_launch(text, cluster, secrets)
            if code != 0:
                raise StageFailed(task.name, code, "streamed above (the cluster went down)", "")
        return Launched(self.job_name, [], clusters, list(secrets), missing)


# ---- the runner interface ------------------------------------------------------------------------

FINISHED = {"SUCCEEDED", "CANCELLED", "CANCELLING", "FAILED", "FAILED_SETUP", "FAILED_PRECHECKS",
            "FAILED_NO_RESOURCE", "FAILED_CONTROLLER"}


class SkyPilot:
    """Runs a recipe's stages as SkyPilot managed jobs against the bucket store; returns values, prints
    nothing (an apply's progress lines go to its `display`).

    `client` and `price` stand in for SkyPilot's API server and catalog (tests pass fakes); `poll` is
    the seconds between looks at the jobs queue while an apply follows its jobs.
    """

    kind = "skypilot"
    print_plan = staticmethod(view.print_plan)
    print_apply = staticmethod(view.print_apply)
    print_status = staticmethod(view.print_status)

    def __init__(self, *, client: Any = None, price: PriceFn | None = None, poll: float = POLL_SECONDS):
        self._client, self.price, self.poll = client, price, poll

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = SkyClient()
        return self._client

    def launcher(self, job: Job, only: tuple[str, ...] = (), until: tuple[str, ...] = (),
                 force: tuple[str, ...] = ()) -> SkyPilotLauncher:
        file = job.need_file("the SkyPilot runner sends the recipe file to its nodes")
        launch = Launch(file, job.overrides, only, until, force)
        return SkyPilotLauncher(job.recipe, job.plan, launch, client=self._client, price=self.price)

    def plan(self, job: Job, *, only: tuple[str, ...] = (), until: tuple[str, ...] = (),
             force: tuple[str, ...] = ()) -> RunPlan:
        launcher = self.launcher(job, only, until, force)
        jobs = launcher.jobs if launcher.runner.managed else []
        return RunPlan(self.kind, job.plan, launcher.runner.bucket, estimate=launcher.estimate(),
                       job=launcher.job_name, memory=launcher.fits(), jobs=jobs,
                       schedule=job_waves(jobs, launcher.runner.max_parallel) if jobs else None)

    def apply(self, job: Job, *, only: tuple[str, ...] = (), until: tuple[str, ...] = (),
              force: tuple[str, ...] = (), dry_run: bool = False, out: Path | None = None,
              display: Display | None = None, launcher: StageLauncher | None = None,
              jobs: int | None = None, detach: bool = False) -> ApplyResult:
        """Launch (budget checked first) and follow the jobs, up to `jobs` (and `runner.max_parallel`)
        at once; or with `dry_run` write one YAML per managed job under the local store
        (`<store>/sky-tasks/<recipe>/`, or `out`) and launch nothing.

        Raises:
            JobsFailed: a job failed or was cancelled, once every job not needing it has ended (or,
                with `detach`, been launched); `.outcomes` has every job.
        """
        launcher = self.launcher(job, only, until, force)
        check(launcher.fits(), locator(job.recipe))
        if dry_run:
            folder = Path(out) if out is not None else dry_run_folder(job)
            return ApplyResult(job.plan, [], self.kind, dry_run=True, files=launcher.dry_run(folder),
                               estimate=launcher.estimate(), launched=launcher.jobs)
        say = display.note if display is not None else None
        launched = launcher.launch(max_parallel=jobs, detach=detach, poll=self.poll, say=say)
        result = ApplyResult(job.plan, [], self.kind, estimate=launcher.estimate(), launched=launched)
        if any(r.state in ("failed", "cancelled") for r in launched.jobs):
            raise JobsFailed(launched.jobs, job.file, result)
        return result

    def _jobs(self, recipe_name: str) -> list[dict[str, Any]]:
        """The recipe's managed-job rows (one per task of each job), every apply's."""
        return [j for j in self.client.jobs_queue(job_name(recipe_name)) if belongs(str(j["job_name"]), recipe_name)]

    def status(self, job: Job | None, store: str | None = None) -> dict[str, Any]:
        """Managed jobs and clusters of the recipe (or of every recipe)."""
        name = job_name(job.recipe.name) if job else "recipe-"
        jobs = self._jobs(job.recipe.name) if job else self.client.jobs_queue(name)
        clusters = [c for c in self.client.clusters(name) if not job or c["name"].startswith(f"{name}-")]
        return {"runner": self.kind, "job": name if job else None, "jobs": jobs, "clusters": clusters}

    def logs(self, job: Job, *, follow: bool = True, task: str | None = None) -> int:
        """Stream the logs of the recipe's latest jobs, one job after another in launch order (each
        followed to its end), or of the one job running `task` (a stage id or a job's label); the
        worst exit code SkyPilot reports.

        Raises:
            CloudError: no job or cluster of this recipe to read, or none running `task`.
        """
        name, runner = job_name(job.recipe.name), runner_of(job.recipe)
        if runner.managed:
            return self._job_logs(job, follow, task)
        clusters = sorted(c["name"] for c in self.client.clusters(f"{name}-"))
        if not clusters:
            raise CloudError(f"no cluster named {name}-*: it finished and went down, or never started")
        return self.client.cluster_logs(clusters[-1], follow=follow)

    def _job_logs(self, job: Job, follow: bool, task: str | None) -> int:
        recipe_name = job.recipe.name
        latest: dict[str, dict[str, Any]] = {}  # label -> the newest job's row
        for row in sorted(self._jobs(recipe_name), key=lambda r: r["job_id"]):
            latest[label_of(str(row["job_name"]), recipe_name)] = row
        if not latest:
            raise CloudError(f"no managed job of {recipe_name} ({job_name(recipe_name)}--*); launch them with: "
                             f"recipe apply {job.file or '<recipe file>'} --runner skypilot")
        rows = sorted(latest.values(), key=lambda r: r["job_id"])
        if task is not None:
            labels = self._labels_running(job, task)
            rows = [r for r in rows if label_of(str(r["job_name"]), recipe_name) in labels]
            if not rows:
                raise CloudError(f"no job of {recipe_name} runs {task!r}; its jobs: "
                                 f"{', '.join(sorted(latest))} (`recipe status FILE` lists them)")
        codes = []
        for row in rows:
            print(f"# ---- job {row['job_id']} {row['job_name']}: {row['status']}", flush=True)
            codes.append(self.client.jobs_logs(row["job_id"], follow=follow))
        return max(codes, key=lambda c: c != 0)

    def _labels_running(self, job: Job, task: str) -> set[str]:
        """Labels of the jobs that run `task`: a job's label, or a stage id (a fanned-out stage's name:
        every branch) as this recipe groups its stages now."""
        try:
            ids = set(job.plan.named(task))
        except KeyError:
            return {task}
        return {task, *(j.label for j in self.launcher(job).jobs if ids & set(j.ids))}

    def cancel(self, job: Job) -> dict[str, Any]:
        """Cancel every running managed job of the recipe and take its clusters down. Committed stages
        stay in the bucket; the cancelled stages' checkpoints too, so the next apply resumes. An apply
        still following the jobs sees them cancelled and launches nothing more."""
        name = job_name(job.recipe.name)
        active = [j for j in self._jobs(job.recipe.name) if str(j["status"]).upper() not in FINISHED]
        ids = sorted({j["job_id"] for j in active})
        if ids:
            self.client.jobs_cancel(ids)
        clusters = [c["name"] for c in self.client.clusters(f"{name}-")]
        for cluster in clusters:
            self.client.cluster_down(cluster)
        names = sorted({str(j["job_name"]) for j in active})
        return {"runner": self.kind, "job": name, "cancelled": ids, "names": names, "down": clusters}


def dry_run_folder(job: Job) -> Path:
    """Where a dry run writes its task YAML when not told: inside the local store, never the project."""
    store = job.store_path
    return store / "sky-tasks" / job.recipe.name
