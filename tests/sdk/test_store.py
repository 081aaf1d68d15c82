"""The store: atomic commits, a lock that makes a second apply wait and then reuse the result."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sdk import api
from sdk.errors import StoreError
from sdk.run.store import Store

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


def _committed(tmp_path: Path, write) -> tuple[object, Store, str]:
    """The data-only recipe applied once: (plan, store, key of its filter stage)."""
    _rows(tmp_path)
    plan = api.compile(api.load(write(DATA_ONLY)))
    api.apply(plan, store=tmp_path / "s")
    return plan, Store(tmp_path / "s"), plan["keep"].key


def test_manifest_lists_every_file_with_size_and_hash(tmp_path, write):
    _, store, key = _committed(tmp_path, write)
    files = store.manifest(key)["files"]
    assert {"data.jsonl", "log.txt", "job.json"} <= set(files) and "manifest.json" not in files
    data = store.artifact_dir(key) / "data.jsonl"
    assert files["data.jsonl"]["size"] == data.stat().st_size and len(files["data.jsonl"]["sha256"]) == 64


def test_artifact_with_a_truncated_file_is_not_committed_and_is_redone_with_a_line(tmp_path, write, capsys):
    plan, store, key = _committed(tmp_path, write)
    data = store.artifact_dir(key) / "data.jsonl"
    data.write_bytes(data.read_bytes()[:10])  # the manifest reached the bucket, the data only in part
    store = Store(store.root)
    assert not store.has(key) and "data.jsonl has 10 bytes" in store.broken(key)
    (status,) = [s for s in api.plan(plan, store.root) if s.stage.id == "keep"]
    assert status.state != "cached" and "does not verify (data.jsonl has 10 bytes" in status.changes[0]
    from sdk.run.display import Display

    result = api.apply(plan, store=store.root, display=Display(live=False))
    assert result["keep"].state == "ran" and Store(store.root).has(key)
    assert f"keep: the stored artifact {key} does not verify (data.jsonl has 10 bytes" in capsys.readouterr().err


def test_same_size_but_different_content_fails_the_hash(tmp_path, write):
    _, store, key = _committed(tmp_path, write)
    data = store.artifact_dir(key) / "data.jsonl"
    text = data.read_text()
    data.write_text(text.replace("1", "7"))
    assert "data.jsonl differs from the manifest (sha256)" in Store(store.root).broken(key)


def test_truncated_manifest_is_not_committed_and_apply_redoes_the_stage(tmp_path, write):
    plan, store, key = _committed(tmp_path, write)
    manifest = store.artifact_dir(key) / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    store = Store(store.root)
    assert not store.has(key) and "manifest.json: unreadable manifest (JSONDecodeError" in store.broken(key)
    assert [s.state for s in api.plan(plan, store.root)] == ["cached", "changed"]
    assert store.artifacts() == [store.manifest(plan["rows"].key)]  # the broken one is left out
    assert api.apply(plan, store=store.root)["keep"].state == "ran"
    assert Store(store.root).has(key)


def test_manifest_without_a_file_list_does_not_count(tmp_path):
    store = Store(tmp_path)
    store.artifact_dir("old").mkdir(parents=True)
    (store.artifact_dir("old") / "manifest.json").write_text('{"key": "old"}')
    assert not store.has("old") and "lists no files" in store.broken("old")


def test_checkpoints_are_deleted_only_after_the_commit_verifies(tmp_path, monkeypatch):
    store = Store(tmp_path)
    work, _ = store.begin("k")
    (work / "data.jsonl").write_text("{}\n")
    (store.checkpoint_dir("k") / "checkpoint-2").mkdir(parents=True)
    monkeypatch.setattr("stages._inventory.mismatch", lambda folder, files, deep=False: "data.jsonl is missing")
    with pytest.raises(StoreError, match="does not verify .*its checkpoints are kept"):
        store.commit("k", {"artifact": "dataset"})
    assert (store.checkpoint_dir("k") / "checkpoint-2").is_dir()
    monkeypatch.undo()
    assert store.has("k")
    store.begin("k")
    (store.work_dir("k") / "data.jsonl").write_text("{}\n")
    store.commit("k", {"artifact": "dataset"})
    assert store.has("k") and not store.checkpoint_dir("k").exists()


def test_a_worker_nodes_link_to_the_shared_checkpoints_is_unlinked_not_emptied(tmp_path):
    shared = tmp_path / "bucket" / "checkpoints" / "k"
    (shared / "checkpoint-1").mkdir(parents=True)
    store = Store(tmp_path / "worker")
    store.checkpoint_dir("k").parent.mkdir(parents=True)
    store.checkpoint_dir("k").symlink_to(shared)
    work, _ = store.begin("k")
    (work / "x").write_text("1")
    store.commit("k", {"artifact": "dataset"})
    assert not store.checkpoint_dir("k").exists() and (shared / "checkpoint-1").is_dir()


def test_the_next_apply_removes_what_a_killed_run_left_of_committed_stages(tmp_path, write) -> None:
    """A kill -9 during a forced re-run leaves `work/<key>` (gigabytes for a real model) beside the committed
    artifact; the next apply removes it and says so. A first run's unfinished work is kept (it resumes from
    it), and so is anything a live apply holds."""
    import io

    from sdk import api
    from sdk.run.display import Display
    from sdk.run.store import Store

    (tmp_path / "rows.jsonl").write_text('{"prompt": "1+1?", "answer": "2", "response": "<answer>2</answer>"}\n')
    path = write("""
recipe: pipeline
name: sweep
data:
  rows: {source: jsonl, path: rows.jsonl}
stages:
  - {id: first, kind: filter, data: rows}
""")
    store = Store(tmp_path / "runs")
    plan = api.compile(api.load(path))
    api.apply(plan, store=store.root)
    key = plan["first"].key
    (store.work_dir(key) / "model").mkdir(parents=True)  # what the killed forced run had written
    (store.work_dir(key) / "model" / "part.safetensors").write_bytes(b"x" * 3_000_000)
    (store.checkpoint_dir(key) / "checkpoint-1").mkdir(parents=True)
    (store.root / "work" / f"{key}.replaced.999").mkdir()
    (store.work_dir("f" * 16)).mkdir()  # an uncommitted stage's first run: resumable, kept
    with store.lock(key):  # a live apply on that stage: nothing of it is touched
        assert Store(store.root).sweep() == []
    out = io.StringIO()
    api.apply(plan, store=store.root, display=Display(stream=out, live=False))
    assert not store.work_dir(key).exists() and not store.checkpoint_dir(key).exists()
    assert store.work_dir("f" * 16).is_dir() and store.has(key)
    assert not (store.root / "work" / f"{key}.replaced.999").exists()
    assert (f"removed 3 stale folder(s) of killed runs, 3.0 MB: work/{key}, checkpoints/{key}, "
            f"work/{key}.replaced.999") in out.getvalue()
