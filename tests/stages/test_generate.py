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


FAKE_VLLM = '''
import json, os
from types import SimpleNamespace


class SamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


class LLM:
    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def generate(self, prompts, params, use_tqdm=True):
        folder = os.environ["FAKE_VLLM_LOG"]
        log = os.path.join(folder, f"{os.getpid()}-{len(os.listdir(folder))}.json")
        with open(log, "w") as f:
            json.dump({"devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "tensor": self.kwargs["tensor_parallel_size"],
                       "prompts": [p["prompt_token_ids"] for p in prompts], "seed": params.kwargs["seed"]}, f)
        return [SimpleNamespace(outputs=[SimpleNamespace(text=str(p["prompt_token_ids"][-3:]), finish_reason="stop",
                                                         token_ids=[1])] * params.kwargs["n"]) for p in prompts]
'''


def test_vllm_spreads_over_the_gpus_as_data_parallel_engines_in_row_order(
        monkeypatch: pytest.MonkeyPatch, tmp_path, tiny_model, arithmetic_data) -> None:
    """Four GPUs and a model that fits one: four engine processes, each pinned to its own GPU before vLLM
    starts, each on a contiguous share of the rows, the outputs back in row order (a fake `vllm` package
    on the path, so the spawned workers import it too)."""
    import json
    from types import SimpleNamespace

    import torch

    from stages import _generation

    (tmp_path / "fake" / "vllm").mkdir(parents=True)
    (tmp_path / "fake" / "vllm" / "__init__.py").write_text(FAKE_VLLM)
    (tmp_path / "log").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path / "fake"))
    monkeypatch.setenv("FAKE_VLLM_LOG", str(tmp_path / "log"))
    monkeypatch.setattr(_generation, "visible_gpus", lambda: ["4", "5", "6", "7"])
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda _: SimpleNamespace(total_memory=80e9))
    rows = read_rows(arithmetic_data.rows)
    out = _generate_vllm(tiny_model, rows, Sampling(n=1, temperature=1.0, max_new_tokens=4, seed=7), None)
    logs = [json.loads(p.read_text()) for p in (tmp_path / "log").iterdir()]
    assert sorted(log["devices"] for log in logs) == ["4", "5", "6", "7"]  # one engine per GPU, pinned
    assert {log["tensor"] for log in logs} == {1} and {log["seed"] for log in logs} == {7}
    by_device = {log["devices"]: log["prompts"] for log in sorted(logs, key=lambda log: log["devices"])}
    assert sum(len(p) for p in by_device.values()) == len(rows)
    served = [prompt for device in ("4", "5", "6", "7") for prompt in by_device[device]]
    assert [row["response"] for row in out] == [str(p[-3:]) for p in served]  # back in row order
    assert [row["id"] for row in out] == [row["id"] for row in rows]


def test_the_sampling_layout_splits_a_big_model_and_copies_a_small_one() -> None:
    from stages._parallel import Layout, sampling_layout, tensor_sizes

    h100 = 80e9
    assert sampling_layout(8, 40, 8, 2 * 32.8e9, h100) == Layout(2, 4)  # QwQ-32B: 65.5 GB of weights
    assert sampling_layout(8, 14, 2, 2 * 0.49e9, h100) == Layout(1, 8)  # Qwen2.5-0.5B
    assert sampling_layout(1, 40, 8, 2 * 32.8e9, h100) == Layout(1, 1)  # one GPU: one engine, whatever fits
    assert sampling_layout(8, 64, 8, 2 * 70e9, h100) == Layout(4, 2)  # 70B: 35 GB per GPU over 4
    assert tensor_sizes(8, 14, 2) == [1, 2]  # 14 heads: 4 and 8 do not divide them; 7 does not divide 2 kv heads
    assert sampling_layout(8, 14, 2, 200e9, h100) == Layout(2, 4)  # too big even so: the widest vLLM accepts
