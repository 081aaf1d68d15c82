"""Generation: n samples per row with the bookkeeping fields, greedy copies, backend choice."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from schemas import GenerateStage
from stages import generate
from stages._context import StageContext, StageError
from stages._data import read_rows
from stages._generation import Sampling, _generate_vllm, pick_backend
from stages._generation import generate as sample_rows


def test_generate_n2_writes_two_rows_per_prompt(ctx: StageContext, tiny_model, arithmetic_data) -> None:
    spec = GenerateStage(id="g", kind="generate", model="m", data="d", n=2, max_new_tokens=8, batch_size=4,
                         backend="transformers")
    summary = generate.run(spec, {"model": tiny_model, "data": arithmetic_data}, ctx)
    rows = read_rows(ctx.out / "data.jsonl")
    source = read_rows(arithmetic_data.rows)
    assert summary["rows"] == len(rows) == 2 * len(source)
    assert [(r["id"], r["sample"]) for r in rows] == [(s["id"], k) for s in source for k in (0, 1)]
    for row in rows:
        assert {"prompt", "answer", "meta", "response", "sample", "finished", "response_tokens"} <= set(row)
        assert 1 <= row["response_tokens"] <= 8
        assert row["finished"] or row["response_tokens"] == 8


def test_greedy_samples_are_identical_and_seeded_sampling_repeats(tiny_model, arithmetic_data) -> None:
    rows = read_rows(arithmetic_data.rows)[:2]
    greedy_2 = Sampling(n=2, temperature=0, max_new_tokens=6, backend="transformers")
    greedy = sample_rows(tiny_model, rows, greedy_2)
    assert greedy[0]["response"] == greedy[1]["response"]
    sampled = Sampling(n=2, temperature=1.0, max_new_tokens=6, seed=3, backend="transformers")
    first, second = sample_rows(tiny_model, rows, sampled), sample_rows(tiny_model, rows, sampled)
    assert [r["response"] for r in first] == [r["response"] for r in second]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_backend_choice(tiny_model) -> None:
    assert pick_backend("auto", tiny_model) == "transformers"  # no vLLM, no GPU here
    assert pick_backend("transformers", tiny_model) == "transformers"
    with pytest.raises(StageError, match="vllm"):
        pick_backend("vllm", tiny_model)


def test_vllm_path_with_a_stand_in_engine(monkeypatch: pytest.MonkeyPatch, tiny_model, arithmetic_data) -> None:
    """The vLLM code path, run against a fake `vllm` module (the real one needs a GPU)."""
    from types import SimpleNamespace

    seen: dict = {}

    class SamplingParams:
        def __init__(self, **kwargs):
            seen["params"] = kwargs

    class LLM:
        def __init__(self, **kwargs):
            seen["llm"] = kwargs

        def generate(self, prompts, params, use_tqdm=True):
            assert all(isinstance(p["prompt_token_ids"], list) for p in prompts)
            done = SimpleNamespace(text="<answer>1</answer>", finish_reason="stop", token_ids=[1, 2, 3])
            cut = SimpleNamespace(text="<answer>", finish_reason="length", token_ids=[1] * 8)
            return [SimpleNamespace(outputs=[done, cut][: seen["params"]["n"]]) for _ in prompts]

    monkeypatch.setitem(sys.modules, "vllm", SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    rows = read_rows(arithmetic_data.rows)
    out = _generate_vllm(tiny_model, rows, Sampling(n=2, temperature=1.0, max_new_tokens=8, seed=5), None)
    assert seen["llm"]["model"] == tiny_model.model and seen["params"]["max_tokens"] == 8
    assert len(out) == 2 * len(rows)
    assert [(r["sample"], r["finished"], r["response_tokens"]) for r in out[:2]] == [(0, True, 3), (1, False, 8)]
    greedy = _generate_vllm(tiny_model, rows, Sampling(n=2, temperature=0, max_new_tokens=8), None)
    assert seen["params"]["n"] == 1 and [r["sample"] for r in greedy[:2]] == [0, 1]
    assert greedy[0]["response"] == greedy[1]["response"]
