"""Artifact integrity: every file hashed at commit, inputs hashed by the stage that reads them, a corrupted
artifact marked broken and rebuilt with what was built from it, `recipe verify` and `recipe gc`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sdk import api
from sdk.errors import RecipeError, StageFailed, StoreError
from sdk.run.store import Store
from stages import inventory
from tests.sdk.test_store import DATA_ONLY

ROOT = Path(__file__).resolve().parents[2]

DATA = DATA_ONLY.replace("name: data-only", "name: big-rows")  # one dataset stage, one filter over it


def _big_rows(folder: Path, mib: float = 9.0) -> None:
    """A JSONL file over the quick check's hashing limit (8 MiB)."""
    row = {"prompt": "1+1?", "answer": "2", "response": "x" * 900 + "<answer>2</answer>"}
    line = json.dumps(row) + "\n"
    (folder / "rows.jsonl").write_text(line * int(mib * 2**20 / len(line) + 1))


def _flip(path: Path) -> None:
    """Change bytes in the middle of a file, keeping its size (`x` -> `y` inside a response)."""
    with path.open("r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        chunk = fh.read(64)
        at = chunk.index(b"x")
        fh.seek(path.stat().st_size // 2 + at)
        fh.write(b"y" * 16)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "sdk.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_every_file_is_hashed_at_commit_and_a_deep_check_sees_a_same_size_flip(tmp_path):
    store = Store(tmp_path)
    work, _ = store.begin("big")
    (work / "weights.bin").write_bytes(b"\0" * (inventory.HASH_LIMIT + 1))
    store.commit("big", {"artifact": "model"})
    files = store.manifest("big")["files"]
    assert len(files["weights.bin"]["sha256"]) == 64  # the big file too, not only those under the limit
    with (store.artifact_dir("big") / "weights.bin").open("r+b") as fh:
        fh.seek(inventory.HASH_LIMIT // 2)
        fh.write(b"\1")
    assert store.has("big")  # the quick check (plan) compares sizes and small files only
    assert "weights.bin differs from the manifest (sha256)" in store.verify("big")
    assert not store.has("big")
    assert "marked broken by recipe verify: weights.bin differs" in store.broken("big")


def test_what_was_built_from_an_input_is_stale_once_the_input_has_other_bytes(tmp_path):
    store = Store(tmp_path)

    def commit(key: str, text: str, built_from: dict[str, str] | None = None) -> None:
        work, _ = store.begin(key)
        (work / "data.jsonl").write_text(text)
        (work / "log.txt").write_text(f"a log that differs each run: {text}{built_from}")
        store.commit(key, {"artifact": "dataset", "stage": key, **({"input_content": built_from} or {})})

    commit("a", "one\n")
    commit("b", "from a\n", {"a": store.content_id("a")})
    assert store.has("b")
    commit("a", "one\n")  # rebuilt with the same result bytes (its log differs): b stays valid
    assert store.has("b")
    commit("a", "two\n")
    assert store.broken("b") == "built from an earlier 'a' (it was rebuilt with other bytes since)"
    commit("a", "one\n")
    assert store.has("b")
    inventory.mark_broken(store.artifact_dir("a"), "data.jsonl differs", "a test")
    store = Store(tmp_path)
    assert store.broken("b").startswith("built from 'a', which is not intact (marked broken by a test")


def test_a_corrupted_large_input_is_refused_by_its_stage_then_rebuilt(write, tmp_path):
    _big_rows(tmp_path)
    plan = api.compile(api.load(write(DATA)))
    api.apply(plan, store=tmp_path / "runs", until=("rows",))
    store = Store(tmp_path / "runs")
    rows = store.artifact_dir(plan["rows"].key)
    intact = store.content_id(plan["rows"].key)
    _flip(rows / "data.jsonl")
    assert [s.state for s in api.plan(plan, tmp_path / "runs")] == ["cached", "new"]  # plan stays quick
    with pytest.raises(StageFailed) as failed:
        api.apply(plan, store=tmp_path / "runs")
    reason = failed.value.outcomes[-1].reason
    assert "input 'data'" in reason and "is corrupt: data.jsonl differs from the manifest (sha256)" in reason
    assert (rows / "broken.json").is_file()
    states = {s.stage.id: s for s in api.plan(plan, tmp_path / "runs")}
    assert states["rows"].state != "cached" and "marked broken by stage 'keep'" in " ".join(states["rows"].changes)
    result = api.apply(plan, store=tmp_path / "runs")
    assert [o.state for o in result.outcomes] == ["ran", "ran"]
    assert Store(tmp_path / "runs").content_id(plan["rows"].key) == intact  # rebuilt bit-identical
    manifest = Store(tmp_path / "runs").manifest(plan["keep"].key)
    assert manifest["input_content"] == {plan["rows"].key: intact}


def test_recipe_verify_finds_and_marks_a_flip_then_passes_after_the_rebuild(write, tmp_path):
    _big_rows(tmp_path)
    recipe = write(DATA)
    api.apply(recipe, store=tmp_path / "runs")
    done = _cli("verify", str(recipe), "--store", "runs", cwd=tmp_path)
    assert done.returncode == 0 and "2 artifacts intact (" in done.stdout, done.stderr
    plan = api.compile(api.load(recipe))
    _flip(tmp_path / "runs" / "artifacts" / plan["rows"].key / "data.jsonl")
    done = _cli("verify", "--store", "runs", cwd=tmp_path)
    assert done.returncode == 1
    assert f"broken: rows ({plan['rows'].key[:12]}): data.jsonl differs from the manifest (sha256)" in done.stdout
    assert "1 of 2 artifacts broken" in done.stdout
    states = {s.stage.id: s.state for s in api.plan(plan, tmp_path / "runs")}
    assert states["rows"] != "cached" and states["keep"] != "cached"  # built from a broken input: stale too
    result = api.apply(plan, store=tmp_path / "runs")
    assert [o.state for o in result.outcomes] == ["ran", "cached"]  # the rebuild is identical: keep is valid
    assert _cli("verify", "--store", "runs", cwd=tmp_path).returncode == 0


def test_gc_keeps_what_the_given_recipes_make_and_removes_the_rest(write, tmp_path):
    _big_rows(tmp_path, mib=0.1)
    recipe = write(DATA)
    api.apply(recipe, store=tmp_path / "runs")
    other = write(DATA.replace("big-rows", "other").replace("shuffle: false", "shuffle: true"), "other.yaml")
    api.apply(other, store=tmp_path / "runs")
    store = Store(tmp_path / "runs")
    (store.work_dir("feedbeef") / "partial").mkdir(parents=True)  # a killed forced stage's leftovers
    (store.work_dir("feedbeef") / "partial" / "x").write_text("half")
    plan, gone = api.compile(api.load(recipe)), api.compile(api.load(other))
    dry = _cli("gc", str(recipe), "--store", "runs", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0 and "would free" in dry.stdout and "nothing removed" in dry.stdout
    assert store.has(gone["keep"].key)
    asked = _cli("gc", str(recipe), "--store", "runs", cwd=tmp_path)  # not a terminal, no --yes: refused
    assert asked.returncode == 2 and "pass --yes" in asked.stderr and store.has(gone["keep"].key)
    done = _cli("gc", str(recipe), "--store", "runs", "--yes", cwd=tmp_path)
    assert done.returncode == 0 and "freed " in done.stdout, done.stderr
    assert f"artifacts/{gone['keep'].key}  (no given recipe makes it)" in done.stdout
    assert "work/feedbeef  (unfinished work of a stage in no plan)" in done.stdout
    assert not store.artifact_dir(gone["keep"].key).exists() and not store.work_dir("feedbeef").exists()
    assert all(store.has(k) for s in plan.stages for k in s.keys)
    assert _cli("gc", str(recipe), "--store", "runs", cwd=tmp_path).stdout.strip() == "nothing to remove"


def test_gc_is_refused_while_an_apply_holds_a_lock_and_needs_recipes(write, tmp_path):
    _big_rows(tmp_path, mib=0.01)
    store = Store(tmp_path / "runs")
    with store.lock("k"), pytest.raises(StoreError, match="an apply is running on this store"):
        api.gc(write(DATA), store=store.root)
    with pytest.raises(RecipeError, match="give the recipe files"):
        api.gc([], store=store.root)
