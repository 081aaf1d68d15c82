"""re-distill recipes through the real CLI: the tiny one on a random model, and a shortened quickstart
on the real SmolLM2-135M, whose RL policy and student must beat the base model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sdk import api
from sdk.report.write import _tensorboard
from sdk.run.store import Store
from tests.sdk._browser import check_report_page

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def apply(recipe: str, store: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdk.cli", "apply", recipe, "--store", str(store), *overrides],
                          capture_output=True, text=True, cwd=ROOT, timeout=1200)


def test_re_distill_tiny_runs_every_stage_and_reports_all_models(tmp_path):
    out = apply("recipes/re-distill-tiny.yaml", tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "done: 12 ran, 0 cached" in out.stdout
    plan = api.compile(api.load(ROOT / "recipes" / "re-distill-tiny.yaml"))
    store = Store(tmp_path)
    report = json.loads(store.artifact(plan["eval"].key).report.read_text())
    models = report["models"]
    assert set(models) == {"base", "cold_start", "rl", "student", "control"}
    # the control saw exactly as many examples as the student, counted at run time
    assert models["control"]["sft_examples"] == models["student"]["sft_examples"] > 0
    assert (models["cold_start"]["sft_examples"], models["rl"]["rl_responses"]) == (32, 3 * 2 * 2)
    assert models["rl"]["sft_examples"] == 32 and models["student"]["rl_responses"] == 0
    buffer = (store.artifact_dir(plan["rl"].key) / "replay.jsonl").read_text().splitlines()
    assert len(buffer) == 3 * 2 * 2  # steps x prompts x generations
    assert dict(plan["student"].inputs) == {"model": "base", "data": "correct"}  # a fresh base, not the policy
    assert (tmp_path / "reports" / "re-distill-tiny" / "summary.md").is_file()
    assert f"report: {tmp_path / 'reports' / 're-distill-tiny' / 'report.html'}" in out.stdout


def test_quickstart_shortened_improves_on_the_base_model(tmp_path, seeded):
    seeded(tmp_path)  # the cold start is the session's: the quickstart's own
    short = ["data.test.size=32", "rl.steps=4", "redistill.last_steps=4"]
    out = apply("recipes/quickstart.yaml", tmp_path, *short)
    assert out.returncode == 0, out.stderr[-3000:]
    plan = api.compile(api.load(ROOT / "recipes" / "quickstart.yaml", short))
    models = json.loads(Store(tmp_path).artifact(plan["eval"].key).report.read_text())["models"]
    assert models["base"]["accuracy"] < 0.2
    assert models["rl"]["accuracy"] > models["base"]["accuracy"] + 0.3
    assert models["student"]["accuracy"] > models["base"]["accuracy"] + 0.2
    assert "verifier score" in out.stdout and "not on the scale of the GRPO reward" in out.stdout
    assert "hockey stick" not in out.stdout and "length collapse" not in out.stdout  # no verdict on 8 steps
    report = tmp_path / "reports" / "quickstart"
    grpo = ("reward", "completion_length", "zero_std", "clip_ratio", "entropy")  # no KL: beta is 0
    assert {p.name for p in report.glob("*.png")} == {
        "eval-accuracy.png", *(f"{s}-{c}.png" for s in ("cold_start", "student", "control") for c in ("loss", "lr")),
        *(f"rl-{c}.png" for c in grpo)}
    series = _tensorboard(Store(tmp_path).artifact_dir(plan["rl"].key) / "tensorboard")
    for tag in ("train/reward", "train/rewards/correct/mean", "train/rewards/format/mean",
                "train/completions/mean_length", "train/frac_reward_zero_std", "train/clip_ratio/region_mean",
                "train/entropy"):
        assert [step for step, _ in series[tag]] == [1, 2, 3, 4], tag
    check_report_page(report, tmp_path / "report.png")

