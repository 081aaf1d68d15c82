"""Evaluation: pass@k math and the report layout for several models."""

from __future__ import annotations

import json
import math

import pytest

from schemas import EvaluateStage
from stages import evaluate
from stages._context import StageContext
from stages._data import read_rows
from stages.evaluate import metrics, pass_at_k


def test_pass_at_k_unbiased_estimator() -> None:
    assert pass_at_k(4, 0, 1) == 0.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 4) == 1.0
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - math.comb(3, 2) / math.comb(5, 2))  # 0.7
    assert pass_at_k(3, 3, 2) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_metrics_from_scored_samples() -> None:
    def sample(correct: bool) -> dict:
        return {"correct": correct, "reward": float(correct), "response_tokens": 4, "finished": correct}

    scored = [sample(True), sample(False), sample(False), sample(False)]  # problem 1: 1/2, problem 2: 0/2
    result = metrics(scored, 2)
    assert result["accuracy"] == 0.25 and result["pass@1"] == 0.25 and result["pass@2"] == 0.5
    assert result["n_problems"] == 2 and result["finished_rate"] == 0.25
    assert result["mean_response_tokens"] == 4


def test_report_has_every_model(ctx: StageContext, tiny_model, arithmetic_data) -> None:
    spec = EvaluateStage(id="e", kind="evaluate", models=["base", "again"], data="test", samples=2,
                         temperature=1.0, max_new_tokens=8, backend="transformers")
    inputs = {"models.base": tiny_model, "models.again": tiny_model, "data": arithmetic_data}
    summary = evaluate.run(spec, inputs, ctx)
    report = json.loads((ctx.out / "report.json").read_text())
    assert report["data"] == "test" and set(report["models"]) == {"base", "again"} == set(summary)
    for name, result in report["models"].items():
        keys = {"accuracy", "pass@1", "pass@2", "mean_response_tokens", "finished_rate", "n_problems"}
        assert keys <= set(result)
        assert result["n_problems"] == 6 and 0 <= result["accuracy"] <= result["pass@2"] <= 1
        assert summary[name] == round(result["accuracy"], 4)
    samples = read_rows(ctx.out / "samples.jsonl")
    assert len(samples) == 2 * 6 * 2 and {"model", "reward", "correct"} <= set(samples[0])


def test_a_multi_attempt_task_reports_accuracy_by_attempts(ctx: StageContext, tiny_model, arithmetic_data) -> None:
    """Each N from min to max attempts is its own run (the model told N); a random model is never right, so at
    N = 2 every episode has its feedback turn and a second attempt, and at N = 1 none has."""
    task = {"kind": "multi_attempt", "min_attempts": 1, "max_attempts": 2, "attempt_tokens": 6}
    spec = EvaluateStage(id="e", kind="evaluate", models=["base"], data="test", max_new_tokens=64,
                         backend="transformers", task=task)
    summary = evaluate.run(spec, {"models.base": tiny_model, "data": arithmetic_data}, ctx)
    result = json.loads((ctx.out / "report.json").read_text())["models"]["base"]
    assert result["attempts@1"] == result["attempts@2"] == 0.0 and summary["base"] == result["accuracy"] == 0.0
    samples = read_rows(ctx.out / "samples.jsonl")  # the episodes at max_attempts
    assert len(samples) == 6 and all(s["attempts"] == 2 and s["first_right"] is None for s in samples)
    assert all([t["by"] for t in s["turns"]] == ["model", "task", "model"] for s in samples)
    assert all("1 attempts left" in s["turns"][1]["text"] for s in samples)
    assert all(s["response"] == s["turns"][-1]["text"] and s["response_tokens"] <= 12 for s in samples)
