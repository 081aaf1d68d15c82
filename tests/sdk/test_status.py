"""`recipe status` reads like a history: artifacts in plan order with stage names, applies with start,
duration and, for a failure, the stage and why; `recipe status FILE` shows that recipe only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sdk import api
from sdk.cli import main
from sdk.errors import StageFailed

CHAIN = """
recipe: pipeline
name: NAME
data:
  rows: {source: jsonl, path: ROWS}
stages:
  - {id: first, kind: filter, data: rows, correct: false, require_finished: false}
  - {id: second, kind: filter, data: first, max_rows: 1}
"""


@pytest.fixture
def store(write, tmp_path: Path) -> Path:
    """A store with one good apply, one cached re-apply, and one apply whose `first` stage failed."""
    (tmp_path / "good.jsonl").write_text('{"prompt": "1+1?", "answer": "2", "response": "<answer>2</answer>"}\n')
    (tmp_path / "bad.jsonl").write_text('{"prompt": "1+1?", "answer": "2"}\n')
    write(CHAIN.replace("NAME", "good").replace("ROWS", "good.jsonl"), "good.yaml")
    write(CHAIN.replace("NAME", "broken").replace("ROWS", "bad.jsonl"), "broken.yaml")
    store = tmp_path / "store"
    api.apply(tmp_path / "good.yaml", store=store)
    api.apply(tmp_path / "good.yaml", store=store)
    with pytest.raises(StageFailed):
        api.apply(tmp_path / "broken.yaml", store=store)
    return store


def _status(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main(["status", *args]) == 0
    return capsys.readouterr().out.splitlines()


def test_status_lists_artifacts_in_plan_order_and_applies_with_the_failing_stage_and_why(
        store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = _status(capsys, "--store", str(store))
    assert lines[0] == f"store {store}: 4 artifacts, 3 applies"
    good = lines.index("good")
    assert [line.split()[:3] for line in lines[good + 1:good + 5]] == [
        ["stage", "kind", "output"], ["rows", "dataset", "dataset"], ["first", "filter", "dataset"],
        ["second", "filter", "dataset"]]
    applies = lines[lines.index("applies") + 1:]
    assert re.match(r"  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  good    ok      \d+\.\ds  3 ran$", applies[0])
    assert applies[1].split()[2:] == ["good", "ok", applies[1].split()[4], "3", "cached"]
    assert applies[2].split()[2:4] == ["broken", "failed"] and applies[2].endswith("1 ran, 1 failed, 1 skipped")
    assert applies[3].lstrip().startswith("first (filter) failed after ")
    assert "exit 2: row 0 has no `response`; filter the output of a generate stage; log: " in applies[3]


def test_status_of_a_file_shows_that_recipes_stages_only(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = _status(capsys, str(store.parent / "broken.yaml"), "--store", str(store))
    assert lines[0] == f"broken: 1 of 3 stages built in {store}"
    assert [line.split()[0] for line in lines[2:5]] == ["rows", "first", "second"]
    assert lines[2].endswith("built") and lines[3].endswith("not built")
    assert not any("good" in line for line in lines)
    assert "first (filter) failed after" in "\n".join(lines)
    info = json.loads("\n".join(_status(capsys, str(store.parent / "good.yaml"), "--store", str(store), "--json")))
    assert {m["recipe"] for m in info["artifacts"]} == {"good"} and len(info["runs"]) == 2


def test_status_shows_a_running_apply_and_where_a_killed_one_stopped(write, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """After five applies, four of them killed, status said "1 applies"; while one ran, "0 applies"."""
    import subprocess
    import sys
    import time

    from sdk.run.apply import _Progress
    from sdk.run.store import Store

    (tmp_path / "good.jsonl").write_text('{"prompt": "1+1?", "answer": "2", "response": "<answer>2</answer>"}\n')
    path = write(CHAIN.replace("NAME", "good").replace("ROWS", "good.jsonl"), "good.yaml")
    store = tmp_path / "store"
    killed = ("import os, sys, time; from sdk import api; from sdk.run.apply import _Progress; "
              "from sdk.run.store import Store; plan = api.compile(api.load(sys.argv[1])); "
              "p = _Progress(Store(sys.argv[2]), plan, time.time()); p.running('rows'); "
              "os.kill(os.getpid(), 9)")
    out = subprocess.run([sys.executable, "-c", killed, str(path), str(store)], cwd=Path(__file__).parents[2])
    assert out.returncode == -9  # killed mid-stage: its record was never finished
    running = _Progress(Store(store), api.compile(api.load(path)), time.time() + 1)  # this process: alive
    running.running("second")
    lines = _status(capsys, "--store", str(store))
    assert lines[0] == f"store {store}: 0 artifacts, 2 applies (1 running, 1 interrupted)"
    text = "\n".join(lines)
    assert re.search(r"good +interrupted +\S+ +no stage ended yet\n +stopped in rows \(started ", text), text
    assert "apply again to go on" in text
    assert re.search(r"good +running +\S+ +no stage ended yet\n +running second since ", text), text
