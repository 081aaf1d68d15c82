"""A LoRA-vs-full sweep on a tiny model, through the CLI, in a store that is moved and copied between applies.

The unmerged LoRA branch keeps an adapter that names its base by store key, so the moved store and a
copy of it (the original gone) re-plan as cached and run the evaluation downstream without error;
the evaluation table, its report and `recipe report` name both branches.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

SWEEP = """\
recipe: pipeline
name: lora-vs-full
models:
  base: tiny:qwen2
data:
  train: {source: reasoning_gym, task: basic_arithmetic, size: 8, seed: 1, config: {max_digits: 1, max_terms: 2}}
  test: {source: reasoning_gym, task: basic_arithmetic, size: 4, seed: 2, config: {max_digits: 1, max_terms: 2}}
stages:
  - id: sft
    kind: sft
    model: base
    data: train
    target: answer
    max_steps: 2
    batch_size: 4
    lr: 1.0e-3
    max_length: 64
    matrix: {lora: [null, {r: 4, merge: false}]}
  - {id: eval, kind: evaluate, models: [base, sft], data: test, max_new_tokens: 4}
"""
FULL, LORA = "sft[lora=null]", "sft[lora=merge-false-r-4-"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdk.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


def test_lora_vs_full_sweep_survives_a_moved_and_copied_store(tmp_path):
    recipe = tmp_path / "sweep.yaml"
    recipe.write_text(SWEEP)
    first = tmp_path / "first"
    out = cli("apply", str(recipe), "--store", str(first), "--until", "sft")
    assert out.returncode == 0, out.stderr + out.stdout
    assert "done: 4 ran" in out.stdout  # base, train and both branches; no eval yet
    lora_key = next(p for p in (first / "artifacts").iterdir() if (p / "model" / "adapter_config.json").is_file())
    assert str(first) not in (lora_key / "model" / "base.json").read_text()  # a key, not a path

    moved = tmp_path / "moved"
    first.rename(moved)
    plan = json.loads(cli("plan", str(recipe), "--store", str(moved), "--json").stdout)
    states = {s["id"]: s["state"] for s in plan["stages"]}
    assert [k for k, v in states.items() if v != "cached"] == ["test", "eval"], states
    out = cli("apply", str(recipe), "--store", str(moved))
    assert out.returncode == 0, out.stderr + out.stdout
    assert FULL in out.stdout and LORA in out.stdout  # the evaluate table names both branches
    eval_dir = next(p for p in (moved / "artifacts").iterdir() if (p / "report.json").is_file())
    models = json.loads((eval_dir / "report.json").read_text())["models"]
    assert len(models) == 3 and FULL in models and any(m.startswith(LORA) for m in models)
    summary = cli("report", "--store", str(moved))
    assert summary.returncode == 0, summary.stderr
    text = (Path(summary.stdout.split("report: ", 1)[1].splitlines()[0].split(" (", 1)[0])).read_text()
    assert FULL in text and LORA in text

    copy = tmp_path / "copy"
    shutil.copytree(moved, copy, symlinks=True)
    shutil.rmtree(moved)
    out = cli("apply", str(recipe), "--store", str(copy), "--force", "eval")
    assert out.returncode == 0, out.stderr + out.stdout
    assert "done: 1 ran" in out.stdout
