"""Independent stages at once: real stage processes overlapping with `jobs=2`, disjoint GPUs with faked
device counts, and a failing branch that stops only what depends on it."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from runners.local.devices import visible_devices
from runners.local.process import ProcessLauncher
from sdk import api
from sdk.cli import main
from sdk.errors import StageFailed
from sdk.plan import Plan, Stage
from sdk.run.parallel import run_all
from sdk.run.store import Store

BRANCHES = """
recipe: pipeline
name: branches
data:
  good: {source: jsonl, path: good.jsonl}
  bad: {source: jsonl, path: bad.jsonl}
stages:
  - {id: left, kind: filter, data: good, correct: false, require_finished: false}
  - {id: right, kind: filter, data: good, max_rows: 2, correct: false, require_finished: false}
  - {id: broken, kind: filter, data: bad}
  - {id: after, kind: filter, data: broken}
"""


@pytest.fixture
def branches(write, tmp_path) -> Path:
    rows = [{"prompt": f"{i}+1?", "answer": str(i + 1), "response": f"<answer>{i + 1}</answer>"} for i in range(4)]
    (tmp_path / "good.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "bad.jsonl").write_text('{"prompt": "1+1?", "answer": "2"}\n')  # no response: filter fails
    return write(BRANCHES)


def _span(store: Path, plan: Plan, sid: str) -> tuple[float, float]:
    timings = Store(store).manifest(plan[sid].key)["timings"]
    return timings["started"], timings["started"] + timings["seconds"]


def test_two_cpu_stages_run_at_the_same_time_with_jobs_2(branches, tmp_path) -> None:
    store = tmp_path / "s"
    result = api.apply(branches, store=store, until=("left", "right"), jobs=2)
    assert {o.id: o.state for o in result.outcomes} == {"good": "ran", "left": "ran", "right": "ran"}
    plan = api.compile(api.load(branches))
    (l0, l1), (r0, r1), (_, g1) = (_span(store, plan, s) for s in ("left", "right", "good"))
    assert l0 < r1 and r0 < l1, f"left {l0:.2f}-{l1:.2f} and right {r0:.2f}-{r1:.2f} did not overlap"
    assert min(l0, r0) >= g1 - 0.01  # both waited for their input


def test_a_failing_branch_stops_only_what_depends_on_it_and_a_reapply_runs_only_that(branches, tmp_path,
                                                                                        capsys) -> None:
    store = tmp_path / "s"
    with pytest.raises(StageFailed) as err:
        api.apply(branches, store=store, jobs=2)
    assert err.value.stage_id == "broken"
    assert {o.id: o.state for o in err.value.outcomes} == {
        "good": "ran", "bad": "ran", "left": "ran", "right": "ran", "broken": "failed", "after": "skipped"}
    record = Store(store).runs()[-1]
    assert [s["state"] for s in record["stages"]].count("ran") == 4
    (tmp_path / "bad.jsonl").write_text('{"prompt": "1+1?", "answer": "2", "response": "<answer>2</answer>"}\n')
    assert main(["apply", str(branches), "--store", str(store), "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "3 ran, 3 cached" in out  # bad (new data), broken, after; good, left, right stay cached


def test_the_cli_prints_every_branchs_outcome_when_one_fails(branches, tmp_path, capsys) -> None:
    assert main(["apply", str(branches), "--store", str(tmp_path / "s"), "-j", "2"]) == 1
    err = capsys.readouterr().err
    assert "  left: ran" in err and "  right: ran" in err and "  after: skipped" in err
    assert "  broken: failed: exit " in err
    assert main(["apply", str(branches), "--jobs", "0"]) == 2


def _fan(n: int) -> list[Stage]:
    return [Stage(f"s{i}", None, (), f"s{i}", {}) for i in range(n)]  # type: ignore[arg-type]


def test_faked_gpus_are_held_disjointly_and_never_oversubscribed() -> None:
    stages = _fan(6)
    need = {"s0": 2, "s1": 2, "s2": 1, "s3": 3, "s4": 1, "s5": 5}  # s5 needs more than the machine: all 4
    lock = threading.Lock()
    holding: dict[str, list[str]] = {}
    seen: list[list[str]] = []
    most = [0]

    def start(stage: Stage, held: list[str]) -> str:
        with lock:
            assert len(held) == min(need[stage.id], 4)
            in_use = [d for ds in holding.values() for d in ds]
            assert not set(in_use) & set(held), f"{stage.id} got {held} while {holding} were held"
            holding[stage.id] = held
            seen.append(held)
            most[0] = max(most[0], len(holding))
        time.sleep(0.05)
        with lock:
            del holding[stage.id]
        return "ok"

    run_all(stages, start, lambda s, o: True, jobs=4, devices=["0", "1", "2", "3"], need=lambda s: need[s.id])
    assert len(seen) == 6 and most[0] >= 2  # some ran together, none shared a GPU


def test_a_stage_is_pinned_to_the_gpus_it_holds(branches, tmp_path, monkeypatch) -> None:
    """With two faked GPUs and jobs=2 the two branches see CUDA_VISIBLE_DEVICES 0 and 1, one each."""
    monkeypatch.setattr("runners.local.place.visible_devices", lambda: ["0", "1"])
    show = ("import os, subprocess, sys; print('pinned=' + os.environ.get('CUDA_VISIBLE_DEVICES', 'none'), "
            "flush=True); sys.exit(subprocess.call([sys.executable, '-m', 'stages', sys.argv[1]]))")
    monkeypatch.setattr("runners.local.process.launch_command",
                        lambda resources, job: [sys.executable, "-c", show, str(job)])
    store = tmp_path / "s"
    api.apply(branches, store=store, until=("left", "right"), jobs=2)
    plan = api.compile(api.load(branches))
    pins = {sid: [line for line in (Store(store).artifact_dir(plan[sid].key) / "log.txt").read_text().splitlines()
                  if line.startswith("pinned=")] for sid in ("left", "right")}
    assert all(len(lines) == 1 and lines[0] in ("pinned=0", "pinned=1") for lines in pins.values()), pins
    (l0, l1), (r0, r1) = _span(store, plan, "left"), _span(store, plan, "right")
    if l0 < r1 and r0 < l1:  # they ran together: on different GPUs
        assert pins["left"] != pins["right"]


def test_visible_devices_reads_the_environment_then_the_driver(tmp_path) -> None:
    assert visible_devices({"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert visible_devices({"CUDA_VISIBLE_DEVICES": ""}) == []
    (tmp_path / "0000:01:00.0").mkdir()
    (tmp_path / "0000:02:00.0").mkdir()
    assert visible_devices({}, tmp_path) == ["0", "1"]
    assert visible_devices({}, tmp_path / "none") == []
    assert ProcessLauncher({"A": "1"}).on_devices(["1"]).env == {"A": "1", "CUDA_VISIBLE_DEVICES": "1"}


def test_plan_shows_which_stages_run_together_under_max_parallel(branches, write, capsys) -> None:
    assert main(["plan", str(branches), "--store", str(branches.parent / "s")]) == 0
    out = capsys.readouterr().out
    assert "schedule: 3 steps, up to 3 stages at once" in out
    assert "  1. good, bad\n  2. left, right, broken\n  3. after\n" in out
    capped = write(BRANCHES.replace("stages:", "runner: {kind: local, max_parallel: 2}\nstages:"), "capped.yaml")
    assert main(["plan", str(capped), "--store", str(branches.parent / "s")]) == 0
    assert "  1. good, bad\n  2. left, right\n  3. broken\n  4. after\n" in capsys.readouterr().out


def test_a_sampling_stage_holds_the_gpus_its_accelerators_name() -> None:
    """A 32B teacher's generate stage with `accelerators: H100:8` gets every GPU for its vLLM engines (tensor x
    data parallel), capped by what the machine has; training holds one per process; a CPU machine, none."""
    from runners.local.devices import gpus_needed
    from schemas import GenerateStage, SftStage
    from sdk.plan import Stage

    def stage(spec):
        return Stage(spec.id, spec, (), "f" * 64, {})

    teacher = stage(GenerateStage(id="t", kind="generate", model="m", data="d", resources={"accelerators": "H100:8"}))
    plain = stage(GenerateStage(id="g", kind="generate", model="m", data="d"))
    train = stage(SftStage(id="s", kind="sft", model="m", data="d", resources={"processes": 2}))
    eight, four = [str(i) for i in range(8)], ["0", "1", "2", "3"]
    assert (gpus_needed(teacher, eight), gpus_needed(teacher, four), gpus_needed(teacher, [])) == (8, 4, 0)
    assert (gpus_needed(plain, eight), gpus_needed(train, eight)) == (1, 2)
