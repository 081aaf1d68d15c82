"""cnl-inject-tiny through the real CLI: SmolLM2-135M, one split shared by three arms, learned and forgotten
per arm and per epoch in the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sdk import api
from sdk.run.store import Store

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_cnl_inject_tiny_reports_learned_and_forgotten_per_arm(tmp_path, seeded):
    seeded(tmp_path)
    cmd = [sys.executable, "-m", "sdk.cli", "apply", "recipes/cnl-inject-tiny.yaml", "--store", str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "done: 6 ran, 1 cached" in out.stdout  # the model: the session's SmolLM2
    assert "forgetting: learned and forgotten questions" in out.stdout  # apply prints the counts per arm
    assert "cnl per epoch (learned / forgotten / held-out forgotten): 0: 0/0/0, 1: " in out.stdout
    plan = api.compile(api.load(ROOT / "recipes" / "cnl-inject-tiny.yaml"))
    store = Store(tmp_path)
    split = store.manifest(plan["split"].key)["summary"]
    assert split["mastered"] > 0 and split["injection"] > 0 and split["heldout"] > 0
    models = json.loads(store.artifact(plan["forgetting"].key).report.read_text())["models"]
    assert set(models) == {"small", "cnl", "sft", "migu"}  # report.json keys are sorted
    assert models["small"]["learned"] == 0 and models["small"]["forgotten"] == 0  # the split's own labels
    for arm in ("cnl", "sft", "migu"):
        epochs = models[arm]["epochs"]
        assert [e["epoch"] for e in epochs] == [0, 1], arm
        assert epochs[0]["learned"] == 0 and epochs[0]["forgotten"] == 0, arm  # before training: the split's labels
        assert epochs[-1]["learned"] == models[arm]["learned"] and epochs[-1]["forgotten"] == models[arm]["forgotten"]
    assert models["sft"]["learned"] > 0  # the epoch moves the answers: the counts are not all zero
    assert 0 < models["cnl"]["epochs"][-1]["kept_share"] < 1
    summary = (tmp_path / "reports" / "cnl-inject-tiny" / "summary.md").read_text()
    assert "| cnl | " in summary and "forgotten (held-out)" in summary
    assert (tmp_path / "reports" / "cnl-inject-tiny" / "forgetting-forgetting.png").is_file()
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert "done: 0 ran, 7 cached" in again.stdout
