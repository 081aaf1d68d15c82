"""pipeline-tiny through the real CLI: a full run, a cached re-run, and a kill -9 in the middle of a stage."""

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
from sdk.run.store import Store

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "pipeline-tiny.yaml"
pytestmark = pytest.mark.slow


def apply(store: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdk.cli", "apply", str(RECIPE), "--store", str(store), *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_pipeline_tiny_runs_end_to_end_then_is_fully_cached(tmp_path):
    first = apply(tmp_path)
    assert first.returncode == 0, first.stderr + first.stdout
    assert "done: 7 ran, 0 cached" in first.stdout
    plan = api.compile(api.load(RECIPE))
    store = Store(tmp_path)
    report = json.loads(store.artifact(plan["eval"].key).report.read_text())
    assert set(report["models"]) == {"base", "sft"}
    assert report["models"]["sft"]["n_problems"] == 16
    sft = store.manifest(plan["sft"].key)
    assert sft["summary"]["steps"] == 8 and sft["inputs"] == {
        "model": plan["base"].fingerprint, "data": plan["train"].fingerprint}
    assert (store.artifact_dir(plan["sft"].key) / "model" / "model.safetensors").is_file()

    start = time.perf_counter()
    again = apply(tmp_path)
    assert again.returncode == 0 and "done: 0 ran, 7 cached" in again.stdout
    assert time.perf_counter() - start < 10


def test_kill_9_mid_stage_then_reapply_finishes_without_redoing_finished_stages(tmp_path):
    plan = api.compile(api.load(RECIPE))
    store = Store(tmp_path)
    sft_work = store.work_dir(plan["sft"].key)
    proc = subprocess.Popen([sys.executable, "-m", "sdk.cli", "apply", str(RECIPE), "--store", str(tmp_path)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while not (sft_work / "job.json").exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(2.0)  # the sft process is importing / training now
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)

    assert not store.has(plan["sft"].key), "sft finished before the kill; the test did not interrupt it"
    assert sft_work.is_dir() and not (sft_work / "manifest.json").exists()
    assert all(store.has(plan[s].key) for s in ("base", "train", "test"))
    orphans = subprocess.run(["pgrep", "-f", str(sft_work)], capture_output=True, text=True).stdout.split()
    assert orphans == [], "the stage process outlived the killed apply"

    second = apply(tmp_path)
    assert second.returncode == 0, second.stderr
    assert "done: 4 ran, 3 cached" in second.stdout
    assert "sft (sft): running (resuming an interrupted attempt)" in second.stderr
    for stage in plan.stages:
        manifest = store.manifest(stage.key)
        assert manifest["fingerprint"] == stage.fingerprint
    assert not list((tmp_path / "work").iterdir())

    # A forced re-run killed mid-stage leaves its work folder beside the committed artifact; the next
    # apply removes it (no live apply holds it) and says so, and redoes nothing.
    proc = subprocess.Popen([sys.executable, "-m", "sdk.cli", "apply", str(RECIPE), "--store", str(tmp_path),
                             "--force", "sft"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while not (sft_work / "job.json").exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(2.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert sft_work.is_dir() and store.has(plan["sft"].key)
    third = apply(tmp_path)
    assert third.returncode == 0 and "done: 0 ran, 7 cached" in third.stdout, third.stderr
    assert "removed 1 stale folder(s) of killed runs" in third.stderr and f"work/{plan['sft'].key}" in third.stderr
    assert not sft_work.exists()
