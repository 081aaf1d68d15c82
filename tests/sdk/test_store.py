"""The store: atomic commits, a lock that makes a second apply wait and then reuse the result."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sdk import api
from sdk.store import Store

ROOT = Path(__file__).resolve().parents[2]

DATA_ONLY = """
recipe: pipeline
name: data-only
data:
  rows: {source: jsonl, path: rows.jsonl}
stages:
  - {id: keep, kind: filter, data: rows, correct: false, require_finished: false, dedupe: false, shuffle: false}
"""


def _rows(tmp_path: Path) -> None:
    rows = [{"prompt": f"{i}+1?", "answer": str(i + 1), "response": f"<answer>{i + 1}</answer>"} for i in range(5)]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_commit_publishes_only_after_manifest(tmp_path):
    store = Store(tmp_path)
    work, resumed = store.begin("k1")
    assert not resumed and not store.has("k1")
    (work / "data.jsonl").write_text("{}\n")
    assert not store.has("k1")  # a work folder never counts as finished
    store.commit("k1", {"artifact": "dataset", "key": "k1"})
    assert store.has("k1") and not store.work_dir("k1").exists()
    assert (store.artifact_dir("k1") / "data.jsonl").read_text() == "{}\n"


def test_work_left_by_an_earlier_attempt_is_reported_as_resume(tmp_path):
    store = Store(tmp_path)
    work, _ = store.begin("k2")
    (work / "checkpoints").mkdir()
    _, resumed = store.begin("k2")
    assert resumed


def test_second_apply_waits_for_the_lock_then_reuses_the_result(write, tmp_path):
    _rows(tmp_path)
    recipe_file = write(DATA_ONLY)
    plan = api.compile(api.load(recipe_file))
    # Produce the artifacts once in another store, to play "the other apply" finishing meanwhile.
    api.apply(plan, store=tmp_path / "other")
    store = Store(tmp_path / "store")
    key = plan["keep"].key
    with store.lock(key):
        api.apply(plan, store=store.root, until=("rows",))
        proc = subprocess.Popen([sys.executable, "-m", "sdk.cli", "apply", str(recipe_file), "--store",
                                 str(store.root)], cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        waiting = ""
        while "waiting" not in waiting and time.time() < deadline:
            waiting += proc.stderr.readline()
        assert "keep: another apply is running this stage; waiting for it" in waiting
        shutil.copytree(tmp_path / "other" / "artifacts" / key, store.artifact_dir(key))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "keep (filter): cached" in waiting + err
    last = store.runs()[-1]
    assert [s["state"] for s in last["stages"]] == ["cached", "cached"]
