"""coordinate: launch a recipe's managed jobs, each once the jobs it needs have succeeded, several at once.

It runs in the `recipe apply` process (see docs/cloud.md for why not in a cloud driver job) and
talks to SkyPilot only through the client's `jobs_launch` and `jobs_queue` (`sky.jobs.launch`,
`sky.jobs.queue_v2`). A job that needs another is launched when SkyPilot reports that one
SUCCEEDED: its `run` exits 0 only once `recipe apply` has committed its stages to the bucket (and
with MOUNT_CACHED a managed job ends only when its uploads are done), so its outputs are in the
store; the needing job's `run` checks them again before doing anything. Up to `max_parallel` jobs
run at once. A job that fails stops only the jobs that need it; the others run on, as locally.

A job of the same name (same stages, same store keys) still running from an earlier apply is
adopted rather than launched twice, and one that already SUCCEEDED is not launched again (so a
re-apply after a failure launches only the failed and skipped jobs); a running job of an earlier
version of those stages is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runners.skypilot.client import CloudError
from runners.skypilot.jobs import CloudJob, belongs, label_of
from runners.skypilot.tasks import job_name
from sdk.errors import StageFailed

TERMINAL = {"SUCCEEDED", "CANCELLED", "FAILED", "FAILED_SETUP", "FAILED_PRECHECKS", "FAILED_NO_RESOURCE",
            "FAILED_CONTROLLER"}
"""SkyPilot's `ManagedJobStatus.terminal_statuses()` (sky/jobs/state.py) by value."""
POLL_SECONDS = 15.0
"""Between looks at the jobs queue (`sky jobs wait` polls every 15 s too)."""
QUEUE_TRIES = 5
"""Looks at the queue in a row that may fail (a restarting API server) before giving up."""


@dataclass
class JobRun:
    """One job's fate in this apply: waiting, launched, succeeded, failed, cancelled or skipped."""

    job: CloudJob
    state: str = "waiting"
    job_id: int | None = None
    status: str | None = None
    """SkyPilot's status for it (the worst of its tasks')."""
    reason: str | None = None
    launched_at: float | None = None
    ended_at: float | None = None

    @property
    def id(self) -> str:
        return self.job.name

    @property
    def ended(self) -> bool:
        return self.state in ("succeeded", "failed", "cancelled", "skipped")

    def state_word(self) -> str:
        if self.state == "failed":
            return f"FAILED ({self.status})" if self.status not in (None, "FAILED") else "FAILED"
        return {"succeeded": "SUCCEEDED", "cancelled": "was CANCELLED", "skipped": "was skipped"}.get(
            self.state, self.state)


def job_state(rows: list[dict[str, Any]]) -> tuple[str, str, str | None] | None:
    """(state, SkyPilot status, failure reason) of one job from its task rows; None while it runs."""
    statuses = [str(r["status"]).upper() for r in rows]
    if not statuses or not all(s in TERMINAL for s in statuses):
        return None
    why = next((r.get("failure_reason") for r in rows if r.get("failure_reason")), None)
    bad = [s for s in statuses if s.startswith("FAILED")]
    if bad:
        return "failed", bad[0], why
    if "CANCELLED" in statuses:
        return "cancelled", "CANCELLED", why
    return "succeeded", "SUCCEEDED", None


class JobsFailed(StageFailed):
    """Managed jobs of an apply failed or were cancelled; every job not needing them ran on.

    `outcomes` has every job (`.id` its name, `.state`, `.reason`), as a local apply's has every stage;
    `result` is the apply's result (its `.launched`)."""

    def __init__(self, runs: list[JobRun], file: Any, result: Any = None):
        bad = [r for r in runs if r.state in ("failed", "cancelled")]
        first = bad[0]
        logs = f"recipe logs {file or 'FILE'} --task {first.job.label}"
        Exception.__init__(self, f"{len(bad)} of {len(runs)} job(s) did not succeed, first {first.job.name} "
                                 f"(stages {', '.join(first.job.ids)}): {first.state_word()}"
                                 f"{': ' + first.reason if first.reason else ''}; its logs: {logs}")
        self.stage_id, self.returncode, self.log, self.tail = first.job.ids[-1], 1, logs, ""
        self.reason, self.error = first.state_word(), first.reason
        self.outcomes: list[Any] = list(runs)
        self.result = result


class Coordinator:
    """Launches the jobs of one apply and follows them until each has ended (or, `detach`, until
    every job is launched). `say` gets one line per event; `sleep` and `clock` are for tests."""

    def __init__(self, client: Any, recipe_name: str, jobs: list[CloudJob], secrets: dict[str, str], *,
                 max_parallel: int | None = None, poll: float = POLL_SECONDS, detach: bool = False,
                 say: Callable[[str], None] = lambda line: None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time):
        self.client, self.recipe_name, self.secrets = client, recipe_name, secrets
        self.runs = [JobRun(job) for job in jobs]
        self.max_parallel, self.poll, self.detach = max_parallel, poll, detach
        self.say, self.sleep, self.clock = say, sleep, clock
        self.stopped: str | None = None

    def run(self) -> list[JobRun]:
        self._adopt(self._queue(first=True))
        try:
            while True:
                self._launch_ready()
                waiting = [r for r in self.runs if r.state == "waiting"]
                running = [r for r in self.runs if r.state == "launched"]
                if not running or (self.detach and not waiting):
                    break
                self.sleep(self.poll)
                self._follow(self._queue())
        except KeyboardInterrupt:
            self._interrupted()
            raise
        return self.runs

    # ---- the queue ----------------------------------------------------------------------------

    def _queue(self, first: bool = False) -> list[dict[str, Any]]:
        """This recipe's job rows; a failing look is retried at the next poll, up to QUEUE_TRIES."""
        for attempt in range(1, QUEUE_TRIES + 1):
            try:
                rows = self.client.jobs_queue(job_name(self.recipe_name))
                return [r for r in rows if belongs(str(r["job_name"]), self.recipe_name)]
            except CloudError as err:
                if first or attempt == QUEUE_TRIES:
                    if not first:
                        err.add_note(self._left_running())
                    raise
                self.say(f"the jobs queue did not answer ({err}); trying again in {self.poll:g} s")
                self.sleep(self.poll)
        raise AssertionError("unreachable")

    def _adopt(self, rows: list[dict[str, Any]]) -> None:
        """Take over this apply's jobs still running from an earlier one, and count as done those that
        already succeeded (same name: same stages, same store keys); refuse an older version's running."""
        active = {}
        for row in rows:
            if str(row["status"]).upper() not in TERMINAL:
                active.setdefault(str(row["job_name"]), row["job_id"])
        succeeded = {}
        for job_id in sorted({r["job_id"] for r in rows}):
            mine = [r for r in rows if r["job_id"] == job_id]
            if (job_state(mine) or ("",))[0] == "succeeded":
                succeeded[str(mine[0]["job_name"])] = job_id
        for run in self.runs:
            if run.job.name in succeeded and run.job.name not in active:
                run.state, run.job_id, run.status = "succeeded", succeeded[run.job.name], "SUCCEEDED"
                run.reason = "already succeeded in an earlier apply; not launched again"
                self.say(f"{run.job.name} (job {run.job_id}) already SUCCEEDED with these stages; not launching it "
                         "again (--force STAGE redoes a stage)")
                continue
            if run.job.name in active:
                run.state, run.job_id, run.launched_at = "launched", active[run.job.name], self.clock()
                self.say(f"{run.job.name} (job {run.job_id}) is still running from an earlier apply; following it")
                continue
            older = [n for n in active if label_of(n, self.recipe_name) == run.job.label]
            if older:
                raise CloudError(f"{older[0]} (job {active[older[0]]}) still runs an earlier version of stages "
                                 f"{', '.join(run.job.ids)} on the same bucket; wait for it to end, or cancel "
                                 "it with `recipe cancel FILE`, then apply again")

    # ---- launching and following ----------------------------------------------------------------

    def _launch_ready(self) -> None:
        by_name = {r.job.name: r for r in self.runs}
        for run in self.runs:
            if run.state != "waiting":
                continue
            needs = [by_name[n] for n in run.job.needs]
            if blocked := [n for n in needs if n.state in ("failed", "cancelled", "skipped")]:
                self._end(run, "skipped", f"needs {blocked[0].job.name}, which {blocked[0].state_word()}")
            elif self.stopped:
                self._end(run, "skipped", self.stopped)
            elif all(n.state == "succeeded" for n in needs) and self._room():
                self._launch(run)

    def _room(self) -> bool:
        running = sum(r.state == "launched" for r in self.runs)
        return self.max_parallel is None or running < self.max_parallel

    def _launch(self, run: JobRun) -> None:
        try:
            ids = self.client.jobs_launch(run.job.yaml(), run.job.name, self.secrets)
        except CloudError as err:
            if not any(r.job_id is not None for r in self.runs):
                raise  # nothing launched yet: the API server or the YAML is the problem, say so at once
            self._end(run, "failed", f"launch refused: {err}")
            return
        if not ids:
            self._end(run, "failed", "SkyPilot returned no job id")
            return
        run.state, run.job_id, run.launched_at = "launched", int(ids[0]), self.clock()
        self.say(f"launched {run.job.name} (job {run.job_id}): {', '.join(run.job.ids)}")

    def _follow(self, rows: list[dict[str, Any]]) -> None:
        for run in self.runs:
            if run.state != "launched":
                continue
            ended = job_state([r for r in rows if r["job_id"] == run.job_id])
            if ended is None:
                continue
            state, run.status, reason = ended
            self._end(run, state, reason)
            if state == "cancelled" and not self.stopped:
                self.stopped = f"{run.job.name} was cancelled, so nothing more is launched"

    def _end(self, run: JobRun, state: str, reason: str | None) -> None:
        run.state, run.reason, run.ended_at = state, reason, self.clock()
        took = f" after {_minutes(run.ended_at - run.launched_at)}" if run.launched_at else ""
        why = f": {reason}" if reason else ""
        job = f" (job {run.job_id})" if run.job_id is not None else ""
        self.say(f"{run.job.name}{job} {run.state_word()}{took}{why}")

    def _left_running(self) -> str:
        running = [f"{r.job.name} (job {r.job_id})" for r in self.runs if r.state == "launched"]
        waiting = [r.job.name for r in self.runs if r.state == "waiting"]
        parts = []
        if running:
            parts.append(f"still running on SkyPilot: {', '.join(running)} (recipe status / recipe cancel)")
        if waiting:
            parts.append(f"not launched yet: {', '.join(waiting)}; apply again to launch them (it follows the "
                         "running jobs instead of launching them twice)")
        return "; ".join(parts) or "no job of this apply is left running"

    def _interrupted(self) -> None:
        self.say(f"stopped following the jobs: {self._left_running()}")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
