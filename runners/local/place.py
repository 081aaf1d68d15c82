"""Local: the runner interface on this machine (each stage a subprocess, see runner.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from runners.local.devices import default_jobs, gpus_needed, visible_devices
from runners.local.process import ProcessLauncher
from sdk.compile.compat import model_problems
from sdk.errors import RecipeError
from sdk.fit.check import check, fit_plan, locator
from sdk.run.apply import ApplyResult, StageLauncher, apply_plan, preview, stage_names
from sdk.run.display import Display
from sdk.run.runner import Job, RunPlan
from sdk.run.schedule import schedule
from sdk.run.store import Store


def check_merges(job: Job, store: Store) -> None:
    """Merges whose inputs are models already in the store: compared now (the compiler reads no store)."""
    problems = model_problems({s.id: s for s in job.plan.stages}, getattr(job.recipe, "_source", None), store)
    if problems:
        raise RecipeError(problems)


def fits(job: Job) -> list[Any]:
    """The memory fit check on this machine: a stage's `resources.accelerators`, else the CPU."""
    return fit_plan(job.plan, lambda stage: stage.spec.resources.accelerators)


class Local:
    """Runs a recipe's stages here, in the foreground, against a store folder."""

    kind = "local"

    @staticmethod
    def _store(job: Job) -> Store:
        return Store(job.store_path)

    def plan(self, job: Job, *, only: tuple[str, ...] = (), until: tuple[str, ...] = (),
             force: tuple[str, ...] = ()) -> RunPlan:
        store = self._store(job)
        check_merges(job, store)
        stages = preview(job.plan, store, only=only, until=until, force=force)
        devices = visible_devices()
        cap = getattr(job.recipe.runner, "max_parallel", None) if job.recipe is not None else None
        waves = schedule(job.plan, [s.stage.id for s in stages if s.state != "cached"], max_parallel=cap,
                         devices=len(devices) or None, need=lambda s: gpus_needed(s, devices))
        return RunPlan(self.kind, job.plan, str(store.root), stages, schedule=waves,
                       memory=fits(job))

    def apply(self, job: Job, *, only: tuple[str, ...] = (), until: tuple[str, ...] = (),
              force: tuple[str, ...] = (), dry_run: bool = False, out: Path | None = None,
              display: Display | None = None, launcher: StageLauncher | None = None,
              jobs: int | None = None) -> ApplyResult:
        """`jobs`: stages at once (default one per GPU here, one on a CPU); `runner.max_parallel` caps it."""
        store = self._store(job)
        check_merges(job, store)
        check(fits(job), locator(job.recipe))
        if dry_run:
            would = preview(job.plan, store, only=only, until=until, force=force)
            return ApplyResult(job.plan, [], self.kind, dry_run=True, preview=would)
        devices = visible_devices()
        jobs = jobs if jobs is not None else default_jobs(devices)
        cap = getattr(job.recipe.runner, "max_parallel", None) if job.recipe is not None else None
        jobs = min(jobs, cap or jobs)
        return apply_plan(job.plan, store, launcher or ProcessLauncher(), display or Display(quiet=True),
                          only=only, until=until, force=force, jobs=jobs,
                          devices=devices if jobs > 1 else (), need=lambda s: gpus_needed(s, devices))

    def status(self, job: Job | None, store: str | None = None) -> dict[str, Any]:
        s = Store(store if store is not None else (job.store_path if job else "./runs"))
        runs, artifacts = s.runs(), s.artifacts()
        if job is not None:  # that recipe only: its applies, and the artifacts of its plan's stages
            keys = {stage.key for stage in job.plan.stages}
            runs = [r for r in runs if r.get("recipe") == job.plan.name]
            artifacts = [m for m in artifacts if m.get("key") in keys]
        return {"runner": self.kind, "store": str(s.root), "runs": runs, "artifacts": artifacts}

    def logs(self, job: Job, *, follow: bool = True, task: str | None = None) -> int:
        """The stage logs of the recipe's last apply here (an apply runs in the foreground: nothing to
        follow); `task`: only that stage's (a fanned-out stage's name: each branch's)."""
        runs = self.status(job)["runs"]
        if not runs:
            print(f"no apply of {job.plan.name!r} in {self._store(job).root}", file=sys.stderr)
            return 1
        last = max(runs, key=lambda r: r.get("started", 0))
        wanted = set(stage_names(job.plan, (task,))) if task is not None else None
        for stage in last.get("stages", []):
            if wanted is not None and stage["id"] not in wanted:
                continue
            path = Path(stage["path"]) if stage.get("path") else None
            log = path if path is not None and path.is_file() else (path / "log.txt" if path else None)
            if log is not None and log.is_file():
                sys.stdout.write(f"# ---- {stage['id']} ({stage['state']}): {log}\n")
                sys.stdout.write(log.read_text(errors="replace"))
        return 0 if all(s["state"] in ("ran", "cached") for s in last.get("stages", [])) else 1

    def cancel(self, job: Job) -> dict[str, Any]:
        """Nothing runs in the background here: an apply stops with Ctrl-C (finished stages stay)."""
        return {"runner": self.kind, "cancelled": [], "note": "local applies run in the foreground; stop one "
                "with Ctrl-C (finished stages stay, the next apply resumes)"}
