"""cnl-inject-tiny through the real CLI: SmolLM2-135M, one split shared by the cnl and plain-SFT arms, learned
and forgotten per arm and per epoch in the report, and the paper's claim: cnl forgets none of its in-set
questions where plain SFT forgets some."""

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


def test_cnl_inject_tiny_forgets_no_in_set_question_where_plain_sft_does(tmp_path, seeded):
    seeded(tmp_path)
    cmd = [sys.executable, "-m", "sdk.cli", "apply", "recipes/cnl-inject-tiny.yaml", "--store", str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "done: 5 ran, 1 cached" in out.stdout  # the model: the session's SmolLM2
    assert "forgetting: learned and forgotten questions" in out.stdout  # apply prints the counts per arm
    assert "cnl per epoch (learned / forgotten / held-out forgotten): 0: 0/0/0, 1: " in out.stdout
    plan = api.compile(api.load(ROOT / "recipes" / "cnl-inject-tiny.yaml"))
    store = Store(tmp_path)
    split = store.manifest(plan["split"].key)["summary"]
    assert split["mastered"] > 0 and split["injection"] > 0 and split["heldout"] > 0
    models = json.loads(store.artifact(plan["forgetting"].key).report.read_text())["models"]
    assert set(models) == {"small", "cnl", "sft"}  # report.json keys are sorted
    assert models["small"]["learned"] == 0 and models["small"]["forgotten"] == 0  # the split's own labels
    for arm in ("cnl", "sft"):
        epochs = models[arm]["epochs"]
        assert [e["epoch"] for e in epochs] == [0, 1, 2, 3, 4], arm
        assert epochs[0]["learned"] == 0 and epochs[0]["forgotten"] == 0, arm  # before training: the split's labels
        assert epochs[-1]["learned"] == models[arm]["learned"] and epochs[-1]["forgotten"] == models[arm]["forgotten"]
    assert models["sft"]["learned"] > 0  # the epochs move the answers: the counts are not all zero
    # the claim at a first-order step size: in-set forgotten cnl = 0 < sft, with cnl still learning something
    assert models["cnl"]["forgotten"] == 0 < models["sft"]["forgotten"], (models["cnl"], models["sft"])
    assert models["cnl"]["learned"] > 0
    assert f", 4: {models['cnl']['learned']}/0/" in out.stdout  # what apply prints for the last epoch
    assert 0 < models["cnl"]["epochs"][-1]["kept_share"] < 1
    summary = (tmp_path / "reports" / "cnl-inject-tiny" / "summary.md").read_text()
    assert "| cnl | " in summary and "forgotten (held-out)" in summary
    assert (tmp_path / "reports" / "cnl-inject-tiny" / "forgetting-forgetting.png").is_file()
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert "done: 0 ran, 6 cached" in again.stdout
