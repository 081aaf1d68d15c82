"""The SkyPilot runner: a Plan as SkyPilot tasks (a managed-jobs pipeline by default).

Each task installs the project on its node(s) and runs `recipe apply FILE --only STAGE` there,
against the artifact store on a bucket that SkyPilot mounts. The store is the source of truth: a
stage committed by any machine is skipped by every later launch, and an interrupted one resumes
from the checkpoints its work folder keeps in the bucket.

`SkyPilot` at the bottom is the runner interface (sdk/runner.py) that `sdk.api` and the CLI reach
through `sdk.registry.RUNNERS`. Nothing here imports `sky` until a launch, status, logs or cancel
needs the API server (see client.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from runners.skypilot.client import CloudError, SkyClient
from runners.skypilot.pricing import Estimate, PriceFn, check_budget, estimate
from runners.skypilot.tasks import CloudTask, Launch, build, job_name, render, runner_of, secret_names, write
from schemas.skypilot import SkyPilotRunner
from sdk.apply import ApplyResult, Executor
from sdk.display import Display
from sdk.errors import StageFailed
from sdk.fitcheck import check, fit_plan, locator
from sdk.plan import Plan
from sdk.runner import Job, RunPlan

__all__ = ["CloudError", "Launch", "Launched", "SkyPilot", "SkyPilotLauncher"]


@dataclass
class Launched:
    """What a launch submitted: managed job ids, or the clusters that ran one after another."""

    job_name: str
    job_ids: list[int]
    clusters: list[str]
    secrets_sent: list[str]
    secrets_missing: list[str]


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

    def launch(self) -> Launched:
        """Check the budget, then submit: one managed pipeline, or one cluster per task in order.

        Raises:
            RecipeError: over budget, or a budget with no estimate.
            StageFailed: (clusters) the first task that exited non-zero.
            CloudError: SkyPilot missing, unreachable or refusing.
        """
        check_budget(self.runner, self.estimate())
        names = secret_names(self.runner, self.recipe)
        secrets = {n: os.environ[n] for n in names if os.environ.get(n)}
        missing = [n for n in names if n not in secrets]
        files = self.files(list(secrets))
        if self.runner.managed:
            (text,) = files.values()
            ids = self.client.jobs_launch(text, self.job_name, secrets)
            return Launched(self.job_name, ids, [], list(secrets), missing)
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
    """Runs a recipe's stages as SkyPilot tasks against the bucket store; returns values, prints nothing.

    `client` and `price` stand in for SkyPilot's API server and catalog (tests pass fakes).
    """

    kind = "skypilot"

    def __init__(self, *, client: Any = None, price: PriceFn | None = None):
        self._client, self.price = client, price

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
        return RunPlan(self.kind, job.plan, launcher.runner.bucket, estimate=launcher.estimate(),
                       job=launcher.job_name, memory=launcher.fits())

    def apply(self, job: Job, *, only: tuple[str, ...] = (), until: tuple[str, ...] = (),
              force: tuple[str, ...] = (), dry_run: bool = False, out: Path | None = None,
              display: Display | None = None, executor: Executor | None = None,
              jobs: int | None = None) -> ApplyResult:
        """Launch (budget checked first), or with `dry_run` write the task YAML under the local store
        (`<store>/sky-tasks/<recipe>/`, or `out`) and launch nothing."""
        launcher = self.launcher(job, only, until, force)
        check(launcher.fits(), locator(job.recipe))
        if dry_run:
            folder = Path(out) if out is not None else dry_run_folder(job)
            return ApplyResult(job.plan, [], self.kind, dry_run=True, files=launcher.dry_run(folder),
                               estimate=launcher.estimate())
        launched = launcher.launch()
        return ApplyResult(job.plan, [], self.kind, estimate=launcher.estimate(), launched=launched)

    def status(self, job: Job | None, store: str | None = None) -> dict[str, Any]:
        """Managed jobs and clusters of the recipe (or of every recipe)."""
        name = job_name(job.recipe.name) if job else "recipe-"
        jobs = [j for j in self.client.jobs_queue(name) if not job or j["job_name"] == name]
        clusters = [c for c in self.client.clusters(name) if not job or c["name"].startswith(f"{name}-")]
        return {"runner": self.kind, "job": name if job else None, "jobs": jobs, "clusters": clusters}

    def logs(self, job: Job, *, follow: bool = True) -> int:
        """Stream the latest run's logs (every task in order); the exit code SkyPilot reports.

        Raises:
            CloudError: no job or cluster of this recipe to read.
        """
        name, runner = job_name(job.recipe.name), runner_of(job.recipe)
        if runner.managed:
            jobs = [j for j in self.client.jobs_queue(name) if j["job_name"] == name]
            if not jobs:
                raise CloudError(f"no managed job named {name}; launch it with: "
                                 f"recipe apply {job.file or '<recipe file>'} --runner skypilot")
            return self.client.jobs_logs(max(j["job_id"] for j in jobs), follow=follow)
        clusters = sorted(c["name"] for c in self.client.clusters(f"{name}-"))
        if not clusters:
            raise CloudError(f"no cluster named {name}-*: it finished and went down, or never started")
        return self.client.cluster_logs(clusters[-1], follow=follow)

    def cancel(self, job: Job) -> dict[str, Any]:
        """Cancel the recipe's running managed job and take its clusters down. Committed stages stay in
        the bucket; the cancelled stage's checkpoints too, so the next apply resumes."""
        name = job_name(job.recipe.name)
        active = [j for j in self.client.jobs_queue(name)
                  if j["job_name"] == name and str(j["status"]).upper() not in FINISHED]
        ids = sorted({j["job_id"] for j in active})
        if ids:
            self.client.jobs_cancel(ids)
        clusters = [c["name"] for c in self.client.clusters(f"{name}-")]
        for cluster in clusters:
            self.client.cluster_down(cluster)
        return {"runner": self.kind, "job": name, "cancelled": ids, "down": clusters}


def dry_run_folder(job: Job) -> Path:
    """Where a dry run writes its task YAML when not told: inside the local store, never the project."""
    store = Path(job.store if job.store is not None else job.plan.store)
    return store / "sky-tasks" / job.recipe.name
