"""coscale-rl-tiny through the real CLI: SmolLM2-135M, 2 iterations x 2 difficulty groups, the pools per
iteration in the report, a problem moving from unsolvable to solvable, the plain-GRPO arm paired against the
last merge at its rollout budget, and iteration 1 kept when only iteration 2 changes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sdk import api
from sdk.run.store import Store

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "coscale-rl-tiny.yaml"
PARTITIONS = ("pools1", "pools2")
pytestmark = pytest.mark.slow


def _cli(*args: str, timeout: int = 2400) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdk.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def moved_to_solvable(pools: list[dict[str, dict]]) -> set[str]:
    """Problems unsolvable in one partition and solvable in a later one."""
    moved = set()
    for i, earlier in enumerate(pools):
        for later in pools[i + 1:]:
            moved |= {p for p, v in earlier.items() if v["pool"] == "unsolvable" and later[p]["pool"] == "solvable"}
    return moved


def test_coscale_rl_tiny_reports_pools_per_iteration_and_keeps_iteration_1(tmp_path, seeded):
    seeded(tmp_path)
    out = _cli("apply", str(RECIPE), "--store", str(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "done: 20 ran, 1 cached" in out.stdout  # the model: the session's SmolLM2
    # The paper's comparison: a plain-GRPO arm on the same problems and RL rollouts, paired on the test set.
    # The base never writes <answer> tags, so plain GRPO's rewards are all 0 and it learns nothing: CoScale-RL's
    # data scaling is what makes these problems learnable (the paper's weak-base case).
    assert re.search(r"plain_grpo - merge2\W+-0\.\d{3}\W+0\.\d{3}\W.*yes", out.stdout), out.stdout[-3000:]
    budget = re.search(r"RL rollouts sampled: CoScale-RL (\d+) \(planned 24\), plain GRPO 12 \(planned 12\)",
                       out.stdout)
    assert budget and int(budget[1]) > 0, out.stdout[-3000:]
    plan, store = api.compile(api.load(RECIPE)), Store(tmp_path)
    pools = [json.loads(store.artifact(plan[p].key).report.read_text())["problems"] for p in PARTITIONS]
    assert all(len(p) == 16 for p in pools)
    assert moved_to_solvable(pools), "no problem moved from unsolvable to solvable"
    summary = (tmp_path / "reports" / "coscale-rl-tiny" / "summary.md").read_text()
    assert "## CoScale-RL: pools, accuracy and rollouts per iteration" in summary
    for partition in PARTITIONS:
        counts = store.manifest(plan[partition].key)["summary"]
        assert f"| {partition} | {counts['unsolvable']} | {counts['solvable']} | {counts['solved']} |" in summary
    assert (tmp_path / "reports" / "coscale-rl-tiny" / "pools.png").is_file()
    assert f"| CoScale-RL | 4 | 24 | {budget[1]} |" in summary and "| plain GRPO | 1 | 12 | 12 |" in summary
    # The base never answers in <answer> tags: iteration 1 has no solvable problem, so its RL groups and merge
    # pass the data-scaled policy on unchanged (the same files), and the report says so.
    assert store.manifest(plan["pools1"].key)["summary"]["unsolvable"] == 16
    for empty in ("rl1_1", "rl1_2", "merge1"):
        assert store.manifest(plan[empty].key)["summary"]["empty"] is True
        assert f"{empty} (" in summary.split("Empty at run time", 1)[1]
    weights = [store.artifact_dir(plan[s].key) / "model" / "model.safetensors" for s in ("scale1", "merge1")]
    assert weights[0].read_bytes() == weights[1].read_bytes()
    assert "| rl2_1 | pools2.group1 |" in summary and "| probe2 | merge1 |" in summary
    again = _cli("plan", "--json", str(RECIPE), "--store", str(tmp_path), "solutions.k.1=3", timeout=300)
    states = {s["id"]: s["state"] for s in json.loads(again.stdout)["stages"]}
    first = ["base", "train", "test", "probe1", "pools1", "solutions1", "scale1", "rl1_1", "rl1_2", "replay1",
             "merge1"]
    assert all(states[s] == "cached" for s in first), states
    assert states["solutions2"] == "changed" and states["probe2"] == "cached"
    assert states["plain_grpo"] == "cached"  # the baseline does not depend on the k schedule
