"""cognition-attribution-tiny through the real CLI: SmolLM2-135M and a tiny random model answer 36 questions
fast and slow; the report has the decomposition per domain, the correction / overthinking bars and the CKA
curve; a second apply is all cached, and a model added to `compare` runs only its own stages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sdk import api
from sdk.run.store import Store

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "recipes" / "cognition-attribution-tiny.yaml"
pytestmark = pytest.mark.slow


def _apply(store: Path, *overrides: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "sdk.cli", "apply", str(TINY), "--store", str(store), *overrides]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800)


def test_cognition_attribution_tiny_decomposes_each_model_per_domain(tmp_path, seeded):
    seeded(tmp_path)
    out = _apply(tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "done: 4 ran, 1 cached" in out.stdout  # the model: the session's SmolLM2
    assert "attribute[model=smol,data=quiz]: done in" in out.stderr  # progress goes to stderr, results to stdout
    assert "cognition attribution" in out.stdout and "│ smol " in out.stdout
    plan = api.compile(api.load(TINY))
    store = Store(tmp_path)
    smol = json.loads(store.artifact(plan["attribute[model=smol,data=quiz]"].key).report.read_text())
    o = smol["overall"]
    assert o["n"] == 36 and set(smol["domains"]) == {"geography", "math", "science"}
    assert o["delta"] == pytest.approx(o["A_slow"] - o["A_fast"]) == pytest.approx(o["delta_c"] - o["delta_o"])
    assert o["A_fast"] > 0 and smol["unanswered"]["fast"] < 36  # SmolLM2 does answer with letters
    assert len(smol["cka"]) == 31 and smol["cka"][0] is None  # embeddings + 30 layers
    assert all(v is not None and 0 < v <= 1.01 for v in smol["cka"][1:])
    assert smol["params"] == 134_515_008
    report = tmp_path / "reports" / "cognition-attribution-tiny"
    summary = (report / "summary.md").read_text()
    assert "## Cognition attribution" in summary and "### Per domain" in summary
    assert "| smol | geography | 12 |" in summary and "| random | 107,072 | 36 |" in summary
    for png in ("attribution-domains.png", "attribution-cka.png", "attribution-scaling.png"):
        assert (report / png).stat().st_size > 5000, png
    again = _apply(tmp_path)
    assert again.returncode == 0 and "done: 0 ran, 5 cached" in again.stdout
    more = _apply(tmp_path, "compare=[smol,random,extra]", "models.extra=tiny:llama")
    assert more.returncode == 0, more.stderr[-3000:]
    assert "done: 2 ran, 5 cached" in more.stdout  # the new model and its one stage
    assert "extra (model): running" in more.stderr
    assert "attribute[model=extra,data=quiz] (attribute): running" in more.stderr
    assert "attribute[model=smol,data=quiz] (attribute): cached" in more.stderr
    assert "│ extra " in more.stdout
