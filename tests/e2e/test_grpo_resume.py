"""GRPO through the real runner: kill -9 the apply after a checkpoint, re-apply, and it resumes from it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sdk import api
from sdk.run.store import Store
from stages._data import read_rows

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

RECIPE = """
recipe: pipeline
name: grpo-resume
models:
  base: tiny:qwen2
data:
  train: {source: reasoning_gym, task: basic_arithmetic, size: 8, seed: 1,
          config: {min_terms: 2, max_terms: 2, min_digits: 1, max_digits: 1, operators: ["+"]}}
stages:
  - id: rl
    kind: grpo
    model: base
    data: train
    steps: 6
    save_steps: 2
    prompts_per_step: 2
    generations: 2
    max_completion_tokens: 8
    lr: 1.0e-3
    backend: transformers
    reward: {format: 0.5, custom: ["tests.e2e.slow_reward:slow"]}
"""


def test_killed_grpo_resumes_from_its_checkpoint_with_a_clean_buffer(tmp_path: Path) -> None:
    recipe = tmp_path / "grpo.yaml"
    recipe.write_text(textwrap.dedent(RECIPE).lstrip())
    store_dir = tmp_path / "store"
    plan = api.compile(api.load(recipe))
    store = Store(store_dir)
    checkpoints = store.checkpoint_dir(plan["rl"].key)
    script = f"from sdk import api; api.apply({str(recipe)!r}, store={str(store_dir)!r})"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not list(checkpoints.glob("checkpoint-*/recipe-checkpoint.json")) and time.time() < deadline:
        assert proc.poll() is None, "apply ended before any checkpoint was written"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)  # the stage process dies with its parent (PR_SET_PDEATHSIG)
    assert not store.has(plan["rl"].key), "grpo finished before the kill; the test did not interrupt it"
    partial = read_rows(store.work_dir(plan["rl"].key) / "replay.jsonl")
    assert partial and max(r["step"] for r in partial) < 6

    result = api.apply(recipe, store=store_dir)
    summary = result["rl"].summary
    assert result["rl"].state == "ran" and summary["steps"] == 6
    resumed = summary["resumed_from_step"]
    assert resumed in (2, 4)
    folder = store.artifact_dir(plan["rl"].key)
    assert f"resuming from checkpoint step {resumed}" in (folder / "log.txt").read_text()
    rows = read_rows(folder / "replay.jsonl")
    per_step = {step: sum(r["step"] == step for r in rows) for step in range(1, 7)}
    assert per_step == dict.fromkeys(range(1, 7), 4), per_step  # 2 prompts x 2 generations, no step twice
    assert (folder / "model" / "model.safetensors").is_file() and not (folder / "checkpoints").exists()
    assert not checkpoints.exists(), "the checkpoints outlived a verified commit"
    assert json.loads((folder / "manifest.json").read_text())["timings"]["resumed"] is True
