"""Managed jobs: which jobs a plan's branches become, and the coordinator that launches them in order.

The coordinator is driven through a fake client at the module boundary (client.py's SkyClient:
`jobs_launch` is `sky.jobs.launch`, `jobs_queue` is `sky.jobs.queue_v2`) with a clock that ticks
once per call, so "at the same time" and "after" are exact; test_sky_jobs.py executes the jobs for
real through SkyPilot's own objects.
"""

from __future__ import annotations

import itertools

import pytest

from runners.skypilot import SkyPilot
from runners.skypilot.client import CloudError
from runners.skypilot.coordinate import QUEUE_TRIES, Coordinator, JobRun, job_state
from runners.skypilot.jobs import belongs, job_waves, label_of
from sdk import api
from sdk.errors import RecipeError
from tests.runners.conftest import FakeSky

SWEEP = """
recipe: pipeline
name: sweep
data:
  rows: {{source: jsonl, path: rows.jsonl}}
runner: {runner}
models:
  base: tiny:qwen2
stages:
  - id: sft
    kind: sft
    model: base
    data: rows
    max_steps: 2
    matrix: {{lr: [1.0e-5, 1.0e-4, 1.0e-3]}}
  - {{id: eval, kind: evaluate, models: [sft], data: rows}}
"""

DIAMOND = """
recipe: pipeline
name: diamond
data:
  rows: {{source: jsonl, path: rows.jsonl}}
runner: {runner}
stages:
  - {{id: right, kind: filter, data: rows, resources: {{accelerators: "L4:1"}}}}
  - {{id: wrong, kind: filter, data: rows, correct: false, resources: {{accelerators: "L4:1"}}}}
  - {{id: both, kind: take, data: right, like: wrong, resources: {{accelerators: "L4:1"}}}}
"""

SWEEP_LABELS = ["base-rows", "sft-lr-1e-05", "sft-lr-0-0001", "sft-lr-0-001", "eval"]


def launcher(path):
    return SkyPilot(price=lambda m: 1.0).launcher(api.job(api.load(path)))


def coordinate(path, fake, **kwargs) -> list[JobRun]:
    """Run the coordinator over the recipe's jobs with a clock that ticks once per call."""
    tick = itertools.count()
    jobs = launcher(path).jobs
    return Coordinator(fake, api.load(path).name, jobs, {}, poll=0, clock=lambda: next(tick), **kwargs).run()


def at_once(runs: list[JobRun]) -> int:
    """The most jobs that were running at one moment."""
    spans = [(r.launched_at, r.ended_at) for r in runs if r.launched_at is not None]
    return max(sum(a <= t < b for a, b in spans) for t, _ in spans)


def test_a_sweep_of_three_is_three_jobs_between_the_shared_sources_and_the_evaluation(recipe_file):
    jobs = launcher(recipe_file(SWEEP)).jobs
    assert [j.label for j in jobs] == SWEEP_LABELS
    assert [j.ids for j in jobs][:2] == [["base", "rows"], ["sft[lr=1e-05]"]]
    # every branch gets the runner's GPUs (a fanned-out spec once set every field, so None won over them)
    assert [j.tasks[0].config["resources"].get("accelerators") for j in jobs] == [None] + ["H100:8"] * 4
    assert all(j.name.startswith(f"recipe-sweep--{j.label}-") and len(j.name) == len(f"recipe-sweep--{j.label}-") + 6
               for j in jobs)
    by_label = {j.label: j for j in jobs}
    assert [by_label[label].needs for label in SWEEP_LABELS[1:4]] == [[jobs[0].name]] * 3
    assert by_label["eval"].needs == [j.name for j in jobs[1:4]]  # base-rows: needed anyway through them
    assert job_waves(jobs).waves == (("base-rows",), tuple(SWEEP_LABELS[1:4]), ("eval",))
    assert job_waves(jobs, max_parallel=2).waves == (("base-rows",), tuple(SWEEP_LABELS[1:3]), ("sft-lr-0-001",),
                                                     ("eval",))


def test_a_changed_parameter_changes_only_its_jobs_name(recipe_file):
    path = recipe_file(SWEEP)
    before = [j.name for j in launcher(path).jobs]
    changed = SkyPilot(price=lambda m: 1.0).launcher(api.job(api.load(path, ["stages.eval.max_new_tokens=7"]))).jobs
    assert [j.name for j in changed][:4] == before[:4] and changed[4].name != before[4]
    assert label_of(before[4], "sweep") == "eval" and belongs(before[4], "sweep")
    assert not belongs("recipe-sweep-two--eval-123456", "sweep") and belongs("recipe-sweep", "sweep")


def test_the_three_branches_run_at_the_same_time_and_the_evaluation_after_all_of_them(recipe_file):
    runs = coordinate(recipe_file(SWEEP), FakeSky(runs_for=2))
    assert [r.state for r in runs] == ["succeeded"] * 5
    source, *branches, evaluation = runs
    assert all(b.launched_at > source.ended_at for b in branches)
    assert max(b.launched_at for b in branches) < min(b.ended_at for b in branches)  # all three ran together
    assert evaluation.launched_at > max(b.ended_at for b in branches)
    assert at_once(runs) == 3


def test_max_parallel_caps_the_jobs_running_at_once(recipe_file):
    runs = coordinate(recipe_file(SWEEP), FakeSky(runs_for=2), max_parallel=2)
    assert [r.state for r in runs] == ["succeeded"] * 5 and at_once(runs) == 2
    for fields, jobs in (({"max_parallel": 1}, 3), ({}, 1)):  # runner.max_parallel, and `apply --jobs`
        runner = SkyPilot(client=FakeSky(runs_for=2), price=lambda m: 1.0, poll=0)
        runs = api.apply(recipe_file(SWEEP, **fields), runner=runner, jobs=jobs).launched.jobs
        assert at_once(runs) == 1


def test_in_a_diamond_the_join_waits_for_both_sides(recipe_file):
    runs = coordinate(recipe_file(DIAMOND), FakeSky(runs_for=3))
    assert [r.job.label for r in runs] == ["rows", "right", "wrong", "both"]
    rows, right, wrong, both = runs
    assert right.launched_at == wrong.launched_at - 1  # launched one after the other, no look between
    assert both.launched_at > max(right.ended_at, wrong.ended_at)
    assert both.job.needs == [right.job.name, wrong.job.name]


def test_a_failed_side_skips_the_join_and_the_other_side_still_runs(recipe_file):
    runs = coordinate(recipe_file(DIAMOND), FakeSky(ends={"right": "FAILED"}))
    assert [(r.job.label, r.state) for r in runs] == [("rows", "succeeded"), ("right", "failed"),
                                                       ("wrong", "succeeded"), ("both", "skipped")]
    assert runs[3].reason.startswith("needs recipe-diamond--right-") and runs[3].job_id is None


def test_a_cancelled_job_stops_the_launching_of_the_rest(recipe_file):
    runs = coordinate(recipe_file(SWEEP), FakeSky(ends={"sft-lr-1e-05": "CANCELLED"}), max_parallel=1)
    states = {r.job.label: r.state for r in runs}
    assert states == {"base-rows": "succeeded", "sft-lr-1e-05": "cancelled", "sft-lr-0-0001": "skipped",
                      "sft-lr-0-001": "skipped", "eval": "skipped"}
    assert "was cancelled, so nothing more is launched" in runs[2].reason


def test_a_job_still_running_from_an_earlier_apply_is_followed_not_launched_twice(recipe_file):
    path = recipe_file(DIAMOND)
    jobs = launcher(path).jobs
    fake = FakeSky(queue=[{"job_id": 3, "job_name": jobs[0].name, "task_id": 0, "task_name": "rows",
                           "status": "RUNNING"}])
    fake.looks[3], fake.final[3] = 0, "SUCCEEDED"
    runs = coordinate(path, fake)
    assert runs[0].job_id == 3 and jobs[0].name not in fake.launched()
    assert [r.state for r in runs] == ["succeeded"] * 4


def test_an_earlier_version_of_a_job_still_running_is_refused(recipe_file):
    path = recipe_file(DIAMOND)
    fake = FakeSky(queue=[{"job_id": 3, "job_name": "recipe-diamond--wrong-000000", "task_id": 0,
                           "task_name": "wrong", "status": "RECOVERING"}])
    with pytest.raises(CloudError, match=r"recipe-diamond--wrong-000000 \(job 3\) still runs an earlier version "
                                         r"of stages wrong .*recipe cancel"):
        coordinate(path, fake)
    assert fake.launched() == []


class FlakyQueue(FakeSky):
    """A queue that fails `fails` looks in a row (after the first) before answering again."""

    def __init__(self, fails: int, **kwargs):
        super().__init__(**kwargs)
        self.fails, self.seen = fails, 0

    def jobs_queue(self, name):
        self.seen += 1
        if self.seen > 1 and self.fails:
            self.fails -= 1
            raise CloudError("sky jobs queue: cannot reach the SkyPilot API server")
        return super().jobs_queue(name)


def test_a_queue_that_fails_a_few_times_is_retried_and_one_that_stays_down_says_what_runs(recipe_file):
    path = recipe_file(DIAMOND)
    assert [r.state for r in coordinate(path, FlakyQueue(QUEUE_TRIES - 1))] == ["succeeded"] * 4
    with pytest.raises(CloudError) as caught:
        coordinate(path, FlakyQueue(QUEUE_TRIES))
    note = "\n".join(caught.value.__notes__)
    assert "still running on SkyPilot: recipe-diamond--rows-" in note and "not launched yet: " in note


def test_detach_returns_once_every_job_is_launched(recipe_file):
    runs = coordinate(recipe_file(SWEEP), FakeSky(), detach=True)
    assert [r.state for r in runs] == ["succeeded"] * 4 + ["launched"]


def test_the_state_of_a_pipeline_job_is_its_worst_task_once_every_task_ended():
    rows = [{"status": "SUCCEEDED"}, {"status": "RUNNING"}]
    assert job_state(rows) is None and job_state([]) is None
    assert job_state([{"status": "SUCCEEDED"}, {"status": "FAILED_SETUP", "failure_reason": "pip"}]) == (
        "failed", "FAILED_SETUP", "pip")
    assert job_state([{"status": "SUCCEEDED"}, {"status": "CANCELLED"}])[0] == "cancelled"
    assert job_state([{"status": "CANCELLING"}]) is None


def test_detach_is_refused_locally_and_local_logs_take_a_task(workdir, capsys):
    path = workdir / "local.yaml"
    path.write_text("recipe: pipeline\nname: x\ndata: {rows: {source: jsonl, path: rows.jsonl}}\n"
                    "stages: [{id: keep, kind: filter, data: rows}, {id: drop, kind: filter, data: rows, "
                    "correct: false}]\n")
    with pytest.raises(RecipeError, match="detach: not for the local runner"):
        api.apply(path, detach=True, store=workdir / "runs")
    api.apply(path, store=workdir / "runs")
    capsys.readouterr()
    assert api.logs(path, store=workdir / "runs", task="keep") == 0
    out = capsys.readouterr().out
    assert "# ---- keep (ran)" in out and "# ---- drop" not in out


def test_dry_run_prints_the_launch_order_under_max_parallel(recipe_file, tmp_path, cli):
    code, out = cli(SkyPilot(price=lambda m: 1.0), "apply", recipe_file(SWEEP, max_parallel=2), "--dry-run",
                    "--out", tmp_path / "out")
    assert code == 0
    assert "managed jobs: 5; each starts once the jobs it needs have succeeded, up to 2 at once:" in out
    assert "  3. recipe-sweep--sft-lr-0-001-" in out and ": sft[lr=0.001] (after base-rows)" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"{i:02d}-{label}.yaml" for i, label in enumerate(SWEEP_LABELS)]


def test_a_chain_recipe_is_one_job_with_its_shared_model_source_in_the_first_task(monkeypatch):
    from tests.runners.conftest import ROOT

    monkeypatch.chdir(ROOT)  # re-distill: base feeds rl, student and eval, each after the one before
    (job,) = SkyPilot(price=lambda m: 1.0).launcher(api.job(api.load("recipes/re-distill.yaml"))).jobs
    assert [t.group.ids for t in job.tasks] == [["base", "train", "rl", "samples", "correct", "student"],
                                                ["test", "eval"]]


def test_plan_shows_the_jobs_and_their_order(recipe_file, cli):
    import json

    runner = SkyPilot(price=lambda m: 1.0)
    code, out = cli(runner, "plan", recipe_file(SWEEP))
    assert code == 0 and "managed jobs: 5; each starts once the jobs it needs have succeeded, up to 3 at once:" in out
    assert "  3. recipe-sweep--eval-" in out
    code, out = cli(runner, "plan", recipe_file(SWEEP), "--json")
    jobs = json.loads(out)["jobs"]
    assert [j["stages"] for j in jobs][-1] == ["eval"] and len(jobs[-1]["after"]) == 3
