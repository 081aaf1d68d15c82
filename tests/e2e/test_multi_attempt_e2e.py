"""multi-attempt-tiny through the real CLI: the quickstart's cold-started SmolLM2 trained with up to two
attempts per question (feedback turns out of the loss) and with one, both evaluated told 1 and 2 attempts,
accuracy by attempts and the paired differences printed by apply and written to the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sdk import api
from sdk.run.store import Store
from stages._data import read_rows

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "recipes" / "multi-attempt-tiny.yaml"
pytestmark = pytest.mark.slow


def test_multi_attempt_tiny_trains_episodes_and_reports_accuracy_by_attempts(tmp_path, seeded):
    seeded(tmp_path)
    cmd = [sys.executable, "-m", "sdk.cli", "apply", str(TINY), "--store", str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "done: 5 ran, 3 cached" in out.stdout  # the quickstart's base, warmup and cold start come chained
    assert "right in 1 attempts" in out.stdout and "right in 2 attempts" in out.stdout
    assert "single_turn - multi_attempt" in out.stdout  # the paired difference of the two arms, at 2 attempts
    plan = api.compile(api.load(TINY))
    store = Store(tmp_path)
    buffer = read_rows(Path(store.artifact(plan["multi_attempt"].key).path) / "replay.jsonl")
    assert {r["allowed"] for r in buffer} <= {1, 2} and all(1 <= r["attempts"] <= r["allowed"] for r in buffer)
    retried = [r for r in buffer if r["attempts"] == 2]
    assert retried, "no episode got a second attempt"  # the cold start is wrong often enough on 1-digit sums
    for row in retried:
        assert [t["by"] for t in row["turns"]] == ["model", "task", "model"]
        assert "Your answer is incorrect. You have 1 attempts left." in row["turns"][1]["text"]
        assert row["turns"][0]["right"] is False and row["correct"] == row["turns"][2]["right"]
    assert {r["reward"] for r in buffer} <= {1.0, -0.5, -1.0}  # the episode's reward, nothing else
    single = read_rows(Path(store.artifact(plan["single_turn"].key).path) / "replay.jsonl")
    assert all(r["attempts"] == 1 and len(r["turns"]) == 1 for r in single)
    report = json.loads(store.artifact(plan["eval"].key).report.read_text())
    for name in ("cold_start", "single_turn", "multi_attempt"):
        result = report["models"][name]
        assert 0 <= result["attempts@1"] <= 1 and result["accuracy"] == result["attempts@2"]
    summary = (tmp_path / "reports" / "multi-attempt-tiny" / "summary.md").read_text()
    assert "right in 2 attempts" in summary
