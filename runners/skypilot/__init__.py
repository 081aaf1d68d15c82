"""The SkyPilot runner: a Plan as SkyPilot tasks (a managed-jobs pipeline by default).

Each task installs the project on its node(s) and runs `recipe apply FILE --only STAGE` there,
against the artifact store on a bucket that SkyPilot mounts. The store is the source of truth: a
stage committed by any machine is skipped by every later launch, and an interrupted one resumes
from the checkpoints its work folder keeps in the bucket.

The functions at the bottom are what the `recipe` CLI calls. Nothing here imports `sky` until a
launch, status, logs or cancel needs the API server (see client.py).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TextIO

from runners.skypilot.client import CloudError, SkyClient
from runners.skypilot.pricing import Estimate, PriceFn, check_budget, estimate
from runners.skypilot.tasks import CloudTask, Launch, build, job_name, render, runner_of, secret_names, write
from schemas.skypilot import SkyPilotRunner
from sdk.args import as_strings
from sdk.errors import StageFailed
from sdk.plan import Plan

__all__ = ["CloudError", "Launch", "SkyPilotLauncher", "apply", "cancel", "logs", "plan", "status"]


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

    def estimate(self) -> Estimate:
        return estimate(self.runner, self.tasks, self.price)

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


# ---- what the CLI calls -------------------------------------------------------------------------

def _launcher(file: str, overrides: list[str] | tuple[str, ...], **kwargs: Any) -> SkyPilotLauncher:
    from sdk import api

    recipe = api.load(file, overrides)
    plan_ = api.compile(recipe)
    launch_keys = ("only", "until", "force")
    launch = Launch(Path(file), as_strings(overrides, "overrides"),
                    **{k: as_strings(kwargs.pop(k, ()), k) for k in launch_keys})
    return SkyPilotLauncher(recipe, plan_, launch, **kwargs)


def plan(file: str, overrides: list[str] | tuple[str, ...] = (), *, as_json: bool = False,
         price: PriceFn | None = None, stream: TextIO | None = None) -> int:
    """`recipe plan FILE --runner skypilot`: the tasks, their machines, $/hr and the estimate."""
    from runners.skypilot.show import estimate_json, print_estimate

    stream = stream or sys.stdout
    launcher = _launcher(file, overrides, price=price)
    est = launcher.estimate()
    if as_json:
        print(json.dumps({"name": launcher.recipe.name, "job": launcher.job_name, "bucket": launcher.runner.bucket,
                          **estimate_json(est, launcher.runner.budget)}, indent=2), file=stream)
        return 0
    title = f"plan {launcher.recipe.name} on SkyPilot (store {launcher.runner.bucket})"
    print_estimate(est, title, launcher.runner.budget, stream)
    return 0


def apply(file: str, overrides: list[str] | tuple[str, ...] = (), *, only: tuple[str, ...] = (),
          until: tuple[str, ...] = (), force: tuple[str, ...] = (), dry_run: bool = False,
          out_dir: str | Path | None = None, client: Any = None, price: PriceFn | None = None,
          stream: TextIO | None = None) -> int:
    """`recipe apply FILE --runner skypilot [--dry-run [--out DIR]]`: write and print, or launch."""
    from runners.skypilot.show import print_estimate

    stream = stream or sys.stdout
    launcher = _launcher(file, overrides, only=only, until=until, force=force, client=client, price=price)
    if dry_run:
        out = Path(out_dir) if out_dir else Path("sky-tasks") / launcher.recipe.name
        for path in launcher.dry_run(out):
            print(f"# ---- {path}", file=stream)
            print(path.read_text(), file=stream)
        print_estimate(launcher.estimate(), f"plan {launcher.recipe.name} on SkyPilot", launcher.runner.budget, stream)
        print(f"wrote {len(launcher.tasks)} task(s) to {out}; nothing launched", file=stream)
        return 0
    done = launcher.launch()
    if done.secrets_missing:
        print(f"note: not set here, so not sent: {', '.join(done.secrets_missing)}", file=stream)
    if done.job_ids:
        ids = ", ".join(map(str, done.job_ids))
        print(f"submitted managed job {done.job_name} (id {ids}): {len(launcher.tasks)} task(s), store "
              f"{launcher.runner.bucket}\n  follow: recipe logs {file}\n  status: recipe status {file} "
              f"--runner skypilot\n  cancel: recipe cancel {file}", file=stream)
    else:
        print(f"done: {len(done.clusters)} task(s) ran on SkyPilot; artifacts in {launcher.runner.bucket}",
              file=stream)
    return 0


def _recipe_job(file: str, overrides: list[str] | tuple[str, ...] = ()) -> tuple[str, SkyPilotRunner]:
    from sdk import api

    recipe = api.load(file, overrides)
    return job_name(recipe.name), runner_of(recipe)


def status(file: str | None = None, *, client: Any = None, stream: TextIO | None = None) -> int:
    """`recipe status [FILE] --runner skypilot`: managed jobs (and clusters) of a recipe, or of all recipes."""
    from runners.skypilot.show import print_clusters, print_jobs

    stream, client = stream or sys.stdout, client or SkyClient()
    name = _recipe_job(file)[0] if file else "recipe-"
    jobs = [j for j in client.jobs_queue(name) if not file or j["job_name"] == name]
    clusters = [c for c in client.clusters(name) if not file or c["name"].startswith(f"{name}-")]
    print(f"SkyPilot runs of {name if file else 'every recipe'}:", file=stream)
    print_jobs(jobs, stream)
    if clusters:
        print_clusters(clusters, stream)
    return 0


def logs(file: str, *, follow: bool = True, client: Any = None, stream: TextIO | None = None) -> int:
    """`recipe logs FILE [--no-follow]`: stream the latest run's logs (every task in order); its exit code."""
    stream, client = stream or sys.stdout, client or SkyClient()
    name, runner = _recipe_job(file)
    if runner.managed:
        jobs = [j for j in client.jobs_queue(name) if j["job_name"] == name]
        if not jobs:
            print(f"no managed job named {name}; launch it with: recipe apply {file} --runner skypilot", file=stream)
            return 1
        return client.jobs_logs(max(j["job_id"] for j in jobs), follow=follow)
    clusters = sorted(c["name"] for c in client.clusters(f"{name}-"))
    if not clusters:
        print(f"no cluster named {name}-*: it finished and went down, or never started", file=stream)
        return 1
    return client.cluster_logs(clusters[-1], follow=follow)


def cancel(file: str, *, client: Any = None, stream: TextIO | None = None) -> int:
    """`recipe cancel FILE`: cancel the recipe's running managed job (or take its clusters down).

    Committed stages stay in the bucket; the cancelled stage's checkpoints too, so the next apply resumes.
    """
    stream, client = stream or sys.stdout, client or SkyClient()
    name, runner = _recipe_job(file)
    active = [j for j in client.jobs_queue(name) if j["job_name"] == name and str(j["status"]).upper() not in FINISHED]
    ids = sorted({j["job_id"] for j in active})
    if ids:
        client.jobs_cancel(ids)
        print(f"cancelled managed job {name} (id {', '.join(map(str, ids))})", file=stream)
    clusters = [c["name"] for c in client.clusters(f"{name}-")]
    for cluster in clusters:
        client.cluster_down(cluster)
        print(f"took down cluster {cluster}", file=stream)
    if not ids and not clusters:
        print(f"nothing running for {name}", file=stream)
    return 0


FINISHED = {"SUCCEEDED", "CANCELLED", "CANCELLING", "FAILED", "FAILED_SETUP", "FAILED_PRECHECKS",
            "FAILED_NO_RESOURCE", "FAILED_CONTROLLER"}
