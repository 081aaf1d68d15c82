"""Generation: n samples per row with the bookkeeping fields, greedy copies, backend choice."""

from __future__ import annotations

import importlib.util

import pytest

from schemas import GenerateStage
from stages import generate
from stages._context import StageContext, StageError
from stages._data import read_rows
from stages._generation import Sampling, pick_backend
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
