"""bai-merge-tiny through the real CLI: a chained reasoning model, two merges, one RL branch per alpha
(alpha 0, the unbalanced actor, among them), evaluation, and a report with every alpha on one plot per
curve and the two verdicts per branch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sdk import api
from sdk.run.store import Store

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "bai-merge-tiny.yaml"
pytestmark = pytest.mark.slow


def apply(store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdk.cli", "apply", str(RECIPE), "--store", str(store)],
                          capture_output=True, text=True, cwd=ROOT, timeout=1800)


def _tensor(folder: Path, name: str):
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "np") as handle:
        return handle.get_tensor(name)


def test_bai_merge_tiny_merges_branches_per_alpha_and_reports_both(tmp_path, seeded):
    out = apply(seeded(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    plan = api.compile(api.load(RECIPE))
    store = Store(tmp_path)
    # base and instruct (one artifact, the session's SmolLM2) and the chained cold start with its data
    assert "done: 10 ran, 4 cached" in out.stdout
    # The actor is alpha * base + (1 - alpha) * stage 1, for each alpha.
    name = "model.layers.0.mlp.up_proj.weight"
    base, merged = (_tensor(Path(store.artifact(plan[s].key).model), name) for s in ("base", "sft_merge"))
    for alpha in (0.0, 0.2, 0.6):  # at alpha 0 the actor is stage 1 itself
        actor = _tensor(Path(store.artifact(plan[f"actor[alpha={alpha}]"].key).model), name)
        assert abs(actor - (alpha * base + (1 - alpha) * merged)).max() <= 1e-6
    assert abs(merged - base).max() > 1e-4  # the reasoning SFT really moved the weights
    models = json.loads(store.artifact(plan["eval"].key).report.read_text())["models"]
    branches = [f"rl[alpha={alpha}]" for alpha in (0.0, 0.2, 0.6)]
    assert {"actor[alpha=0.0]", "actor[alpha=0.2]", "actor[alpha=0.6]", *branches, "sft_merge"} <= set(models)
    report = tmp_path / "reports" / "bai-merge-tiny"
    for curve in ("completion_length", "reward", "kl"):  # one plot per curve, a line per alpha
        assert (report / f"rl-{curve}.png").is_file(), curve
    summary = (report / "summary.md").read_text()
    assert "rl (grpo, 3 branches)" in summary and "length collapse" in summary
    for branch in branches:
        assert f"{branch}: length collapse: " in out.stdout and f"{branch}: reward hockey stick: " in out.stdout
    again = apply(tmp_path)
    assert again.returncode == 0 and "done: 0 ran, 14 cached" in again.stdout
