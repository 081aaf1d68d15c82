"""apply over real stage subprocesses (cheap torch-free stages): selection, force, failures, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sdk import api
from sdk.errors import RecipeError, StageFailed
from sdk.run.store import Store

ROOT = Path(__file__).resolve().parents[2]

CHAIN = """
recipe: pipeline
name: chain
data:
  rows: {source: jsonl, path: rows.jsonl}
stages:
  - {id: first, kind: filter, data: rows, correct: false, require_finished: false}
  - {id: second, kind: filter, data: first, max_rows: 2}
"""


@pytest.fixture
def chain(write, tmp_path) -> Path:
    rows = [{"prompt": f"{i}+1?", "answer": str(i + 1), "response": f"<answer>{i + (i % 2)}</answer>"}
            for i in range(1, 7)]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return write(CHAIN)


def states(result) -> dict[str, str]:
    return {o.id: o.state for o in result.outcomes}


def test_apply_runs_then_caches_and_records_lineage(chain, tmp_path):
    store = tmp_path / "store"
    assert states(api.apply(chain, store=store)) == {"rows": "ran", "first": "ran", "second": "ran"}
    assert states(api.apply(chain, store=store)) == {"rows": "cached", "first": "cached", "second": "cached"}
    plan = api.compile(api.load(chain))
    manifest = Store(store).manifest(plan["second"].key)
    assert manifest["inputs"] == {"data": plan["first"].fingerprint}
    assert manifest["summary"]["rows_out"] == 2
    assert manifest["versions"]["recipe"] == "0.1.0"
    assert "HOME" not in json.dumps(manifest)  # no environment is recorded
    rows = [json.loads(line) for line in (Store(store).artifact_dir(plan["second"].key) / "data.jsonl").open()]
    assert len(rows) == 2 and all(r["reward"] == 1.0 for r in rows)


def test_until_runs_a_stage_and_what_it_needs_only(chain, tmp_path):
    assert states(api.apply(chain, store=tmp_path / "s", until=("first",))) == {"rows": "ran", "first": "ran"}


def test_only_refuses_when_inputs_are_missing_then_runs_alone(chain, tmp_path):
    with pytest.raises(RecipeError, match=r"--only second: its input data \('first'\) is not in the store yet"):
        api.apply(chain, store=tmp_path / "s", only=("second",))
    api.apply(chain, store=tmp_path / "s", until=("first",))
    assert states(api.apply(chain, store=tmp_path / "s", only=("second",))) == {"second": "ran"}


def test_force_reruns_a_cached_stage_and_replaces_its_artifact(chain, tmp_path):
    api.apply(chain, store=tmp_path / "s")
    plan = api.compile(api.load(chain))
    before = Store(tmp_path / "s").manifest(plan["first"].key)["timings"]["started"]
    result = api.apply(chain, store=tmp_path / "s", force=("first",))
    assert states(result) == {"rows": "cached", "first": "ran", "second": "cached"}
    assert Store(tmp_path / "s").manifest(plan["first"].key)["timings"]["started"] > before


def test_plan_reports_changed_fields_after_an_apply(chain, tmp_path):
    api.apply(chain, store=tmp_path / "s")
    statuses = {s.stage.id: s for s in api.plan(api.load(chain, ["stages.second.max_rows=3"]), store=tmp_path / "s")}
    assert statuses["first"].state == "cached"
    assert statuses["second"].state == "changed" and statuses["second"].changes == ["max_rows: 2 -> 3"]


def test_failing_stage_keeps_earlier_artifacts_and_reports_its_log(write, tmp_path):
    (tmp_path / "rows.jsonl").write_text('{"prompt": "1+1?", "answer": "2"}\n')
    bad = write(CHAIN.replace("name: chain", "name: broken"))
    out = subprocess.run([sys.executable, "-m", "sdk.cli", "apply", str(bad), "--store", str(tmp_path / "s")],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 1
    assert "first (filter) failed. Last lines of its log:" in out.stderr
    assert "row 0 has no `response`" in out.stderr
    assert "Traceback" not in out.stderr
    log = out.stderr.rsplit("full log: ", 1)[1].split()[0]
    assert Path(log).is_file() and "/work/" in log
    plan = api.compile(api.load(bad))
    assert Store(tmp_path / "s").has(plan["rows"].key) and not Store(tmp_path / "s").has(plan["first"].key)
    with pytest.raises(StageFailed):
        api.apply(bad, store=tmp_path / "s")


def _terminal_sigint() -> None:
    """SIGINT as a terminal's shell gives it: a runner that started these tests in the background (SIGINT
    ignored, inherited by every child) would otherwise stop Python from turning Ctrl-C into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_the_stage_and_exits_130(tmp_path):
    recipe = ROOT / "recipes" / "pipeline-tiny.yaml"
    plan = api.compile(api.load(recipe))
    work = Store(tmp_path).work_dir(plan["sft"].key)  # a training stage: seconds long, never missed
    proc = subprocess.Popen([sys.executable, "-m", "sdk.cli", "apply", str(recipe), "--store", str(tmp_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_terminal_sigint)
    deadline = time.time() + 60
    while not (work / "job.json").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, "the apply ended before its sft stage could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; finished stages are kept" in err
    assert not Store(tmp_path).has(plan["sft"].key)
    assert "=== interrupted (Ctrl-C) ===" in (work / "log.txt").read_text()


def test_sdk_apply_is_silent_in_tests_and_shows_each_stage_with_progress_on(chain, tmp_path, capfd):
    api.apply(chain, store=tmp_path / "quiet")  # progress defaults to off outside an interactive session
    assert capfd.readouterr() == ("", "")
    api.apply(chain, store=tmp_path / "shown", progress=True)
    err = capfd.readouterr().err.splitlines()
    assert err[0].startswith("apply chain: 3 stage(s)")
    assert "[2/3] first (filter): running" in err
    assert any(line.strip().startswith("second: done in") for line in err)
    api.apply(chain, store=tmp_path / "shown", progress=False, force=("second",))
    assert capfd.readouterr() == ("", "")


@pytest.mark.slow
def test_sdk_apply_with_progress_writes_training_step_lines(tmp_path, capfd):
    plan = api.compile(api.load(ROOT / "recipes" / "pipeline-tiny.yaml", ["stages.sft.max_steps=2"]))
    api.apply(plan, store=tmp_path, until=("sft",), progress=True)
    err = capfd.readouterr().err
    assert "sft (sft): running" in err
    assert "sft: sft steps 2/2 loss=" in err, err
