"""Managed jobs through the real SkyPilot client objects, executed on this machine (cloud venv only).

Only the provider calls are replaced: `sky.jobs.launch` receives the `sky.Dag` that SkyPilot's own
loader built from the job YAML (schema validated, secrets resolved in memory) and, instead of
sending it to an API server, runs each of its `sky.Task`s' setup and run as local processes against
a temp-folder store, the bucket's stand-in; `sky.jobs.queue_v2` answers SkyPilot's own
`ManagedJobRecord`s with `ManagedJobStatus` values from those processes. So the timestamps below
are real executions of the generated commands.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

sky = pytest.importorskip("sky", reason="SkyPilot is not installed here (the cloud venv has it: .ci/cloud.sh)")

from runners.skypilot import JobsFailed, SkyPilot  # noqa: E402
from runners.skypilot.client import SkyClient  # noqa: E402
from sdk import api  # noqa: E402
from sdk.run.store import Store  # noqa: E402
from tests.runners.conftest import SECRET, files_containing  # noqa: E402
from tests.runners.test_jobs import DIAMOND, SWEEP  # noqa: E402


class LocalJobs:
    """`sky.jobs.launch` / `queue_v2` / `stream_and_get` that run each job's tasks here, in a thread."""

    def __init__(self, store: Path, venv: Path, home: Path, fail: str | None = None):
        self.store, self.venv, self.home, self.fail = store, venv, home, fail
        self.jobs: dict[int, dict[str, Any]] = {}
        self.dags: list[Any] = []
        self.lock = threading.Lock()

    def launch(self, dag: Any, name: str | None = None, **_: Any) -> tuple[str, Any]:
        assert isinstance(dag, sky.Dag) and dag.name == name and dag.is_chain()
        self.dags.append(dag)
        with self.lock:
            job_id = len(self.jobs) + 1
            self.jobs[job_id] = {"name": name, "tasks": [t.name for t in dag.tasks], "status": "PENDING",
                                 "task": 0, "start": None, "end": None}
        threading.Thread(target=self._execute, args=(job_id, dag), daemon=True).start()
        return ("launch", ([job_id], None))  # the request's result: (job ids, controller handle)

    def _execute(self, job_id: int, dag: Any) -> None:
        job = self.jobs[job_id]
        job["start"], job["status"] = time.time(), "RUNNING"
        for i, task in enumerate(dag.tasks):
            job["task"] = i
            scripts = [task.run]  # the node's venv is this interpreter's: the project is installed there
            if self.fail and f"--{self.fail}-" in job["name"]:
                scripts = ["echo 'error: made to fail by the test' >&2; exit 3"]
            for script in scripts:
                env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
                env.update({**task.envs, "RECIPE_STORE": str(self.store), "HOME": str(self.home),
                            "RECIPE_VENV": str(self.venv)})
                done = subprocess.run(["bash", "-c", script], cwd=task.workdir, env=env, capture_output=True,
                                      text=True, timeout=600)
                job.setdefault("output", []).append(done.stdout + done.stderr)
                if done.returncode != 0:
                    job["end"], job["status"] = time.time(), "FAILED"
                    return
        job["end"], job["status"] = time.time(), "SUCCEEDED"

    def queue_v2(self, refresh: bool = False, name_match: str | None = None, **_: Any) -> tuple[str, Any]:
        from sky.jobs.state import ManagedJobStatus
        from sky.schemas.api.responses import ManagedJobRecord

        records = []
        with self.lock:
            for job_id, job in self.jobs.items():
                for i, task in enumerate(job["tasks"]):
                    status = job["status"] if job["status"] != "FAILED" or i >= job["task"] else "SUCCEEDED"
                    records.append(ManagedJobRecord(job_id=job_id, task_id=i, job_name=job["name"], task_name=task,
                                                    status=ManagedJobStatus(status)))
        found = [r for r in records if name_match is None or name_match in r.job_name]
        return ("queue", (found, len(found), {}, len(records)))

    def stream_and_get(self, request: tuple[str, Any]) -> Any:
        return request[1]


@pytest.fixture
def local_sky(monkeypatch, tmp_path, sky_env):
    def make(fail: str | None = None) -> LocalJobs:
        jobs = LocalJobs(tmp_path / "bucket", Path(sys.prefix), tmp_path / "node-home", fail)
        monkeypatch.setattr(sky.jobs, "launch", jobs.launch)
        monkeypatch.setattr(sky.jobs, "queue_v2", jobs.queue_v2)
        monkeypatch.setattr(sky, "stream_and_get", jobs.stream_and_get)
        return jobs

    return make


def test_every_job_of_a_sweep_reaches_sky_jobs_launch_as_a_valid_named_dag(recipe_file, local_sky, tmp_path):
    """No execution (sft needs torch): SkyPilot accepts every job, named, with its secrets in memory."""
    from sky.task import _is_valid_name

    jobs = local_sky()
    jobs._execute = lambda job_id, dag: jobs.jobs[job_id].update(status="SUCCEEDED", start=0, end=0)
    result = api.apply(recipe_file(SWEEP), runner=SkyPilot(client=SkyClient(), price=lambda m: 1.0, poll=0.05))
    assert [r.state for r in result.launched.jobs] == ["succeeded"] * 5
    assert all(_is_valid_name(d.name) for d in jobs.dags)
    assert [[t.name for t in d.tasks] for d in jobs.dags] == [["base-rows"], ["sft-lr-1e-05"], ["sft-lr-0-0001"],
                                                              ["sft-lr-0-001"], ["eval"]]
    assert all(t.secrets["HF_TOKEN"].get_secret_value() == SECRET for d in jobs.dags for t in d.tasks)
    (train,) = jobs.dags[1].tasks
    assert next(iter(train.resources)).accelerators == {"H100": 8}
    assert files_containing(tmp_path, SECRET) == []


@pytest.mark.slow
def test_a_diamond_runs_its_sides_at_the_same_time_and_the_join_after_both_committed(recipe_file, local_sky):
    jobs = local_sky()
    path = recipe_file(DIAMOND, extras=[], gpu_extras=[])
    result = api.apply(path, runner=SkyPilot(client=SkyClient(), price=lambda m: 1.0, poll=0.2))
    assert [r.state for r in result.launched.jobs] == ["succeeded"] * 4, [j.get("output") for j in jobs.jobs.values()]
    rows, right, wrong, both = (jobs.jobs[r.job_id] for r in result.launched.jobs)
    assert right["start"] < wrong["end"] and wrong["start"] < right["end"], "the two sides did not overlap"
    plan = api.compile(api.load(path))
    store = Store(jobs.store)
    committed = {sid: (store.artifact_dir(plan[sid].key) / "manifest.json").stat().st_mtime
                 for sid in ("rows", "right", "wrong", "both")}
    assert right["start"] >= committed["rows"] and wrong["start"] >= committed["rows"]
    assert both["start"] >= max(committed["right"], committed["wrong"])
    assert committed["both"] <= both["end"]
    assert store.manifest(plan["both"].key)["summary"]  # the take stage really ran


@pytest.mark.slow
def test_a_failing_side_does_not_stop_the_other_and_the_join_is_skipped(recipe_file, local_sky):
    jobs = local_sky(fail="right")
    path = recipe_file(DIAMOND, extras=[], gpu_extras=[])
    with pytest.raises(JobsFailed) as caught:
        api.apply(path, runner=SkyPilot(client=SkyClient(), price=lambda m: 1.0, poll=0.2))
    states = {r.job.label: r.state for r in caught.value.outcomes}
    assert states == {"rows": "succeeded", "right": "failed", "wrong": "succeeded", "both": "skipped"}
    plan = api.compile(api.load(path))
    store = Store(jobs.store)
    assert store.has(plan["wrong"].key) and not store.has(plan["right"].key) and not store.has(plan["both"].key)
