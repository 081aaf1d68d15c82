"""Stop tokens: a chat model whose EOS is `<|endoftext|>` but whose turns end with `<|im_end|>` (Qwen2.5
base) must stop at `<|im_end|>` in every backend, and carry it in its saved generation config."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from schemas import Artifact, GrpoStage, SftStage
from stages import grpo, sft
from stages._chat import end_of_turn_id, stop_ids
from stages._context import StageContext
from stages._data import read_rows
from stages._generation import Sampling, _generate_transformers, _generate_vllm


@pytest.fixture(scope="module")
def base_like(tmp_path_factory: pytest.TempPathFactory, tiny_model: Artifact) -> Artifact:
    """The tiny model with EOS = `<|endoftext|>` everywhere (tokenizer, config, generation config)."""
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("base-like")
    shutil.copytree(tiny_model.model, folder / "model")
    tok = AutoTokenizer.from_pretrained(folder / "model")
    tok.eos_token = "<|endoftext|>"
    tok.save_pretrained(folder / "model")
    for name in ("config.json", "generation_config.json"):
        path = folder / "model" / name
        path.write_text(json.dumps({**json.loads(path.read_text()), "eos_token_id": tok.eos_token_id}))
    return Artifact(type="model", path=str(folder))


def _ids(folder: str) -> tuple[int, int]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    return tok.convert_tokens_to_ids("<|endoftext|>"), tok.convert_tokens_to_ids("<|im_end|>")


def test_end_of_turn_is_found_from_the_template_when_it_differs_from_eos(base_like: Artifact) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base_like.model)
    eos, eot = _ids(base_like.model)
    assert tok.eos_token_id == eos != eot
    assert end_of_turn_id(tok) == eot
    assert stop_ids(tok, eos) == [eos, eot]
    tok.chat_template = None
    assert end_of_turn_id(tok) is None and stop_ids(tok, None) == [eos]


def test_transformers_generation_stops_at_the_end_of_turn(monkeypatch, base_like, arithmetic_data) -> None:
    import stages._generation as generation

    seen = {}
    real_load = generation.load_model

    def spy_load(*args, **kwargs):
        model = real_load(*args, **kwargs)
        real_generate = model.generate

        def generate(**kw):
            seen["eos"] = kw["generation_config"].eos_token_id
            return real_generate(**kw)

        model.generate = generate
        return model

    monkeypatch.setattr(generation, "load_model", spy_load)
    rows = read_rows(arithmetic_data.rows)[:2]
    _generate_transformers(base_like, rows, Sampling(max_new_tokens=4, temperature=0), None)
    eos, eot = _ids(base_like.model)
    assert set(seen["eos"]) == {eos, eot}


def test_vllm_gets_the_stop_ids_a_model_length_and_is_shut_down(monkeypatch, base_like, arithmetic_data) -> None:
    seen: dict = {"shutdown": 0}

    class LLM:
        def __init__(self, **kwargs):
            seen["llm"] = kwargs
            self.llm_engine = SimpleNamespace(engine_core=SimpleNamespace(shutdown=self.down))

        def down(self):
            seen["shutdown"] += 1

        def generate(self, prompts, params, use_tqdm=True):
            done = SimpleNamespace(text="<answer>1</answer>", finish_reason="stop", token_ids=[1, 2])
            return [SimpleNamespace(outputs=[done]) for _ in prompts]

    monkeypatch.setitem(sys.modules, "vllm", SimpleNamespace(LLM=LLM, SamplingParams=lambda **kw: kw))
    rows = read_rows(arithmetic_data.rows)
    out = _generate_vllm(base_like, rows, Sampling(max_new_tokens=8, temperature=0), None)
    eos, eot = _ids(base_like.model)
    assert len(out) == len(rows) and seen["shutdown"] == 1
    assert 8 < seen["llm"]["max_model_len"] <= 8 + 128


def test_vllm_sampling_params_carry_the_end_of_turn(monkeypatch, base_like, arithmetic_data) -> None:
    params = {}

    class LLM:
        def __init__(self, **kwargs):
            pass

        def generate(self, prompts, sampling, use_tqdm=True):
            params.update(sampling)
            return [SimpleNamespace(outputs=[SimpleNamespace(text="", finish_reason="stop", token_ids=[])])
                    for _ in prompts]

    monkeypatch.setitem(sys.modules, "vllm", SimpleNamespace(LLM=LLM, SamplingParams=lambda **kw: kw))
    _generate_vllm(base_like, read_rows(arithmetic_data.rows)[:1], Sampling(max_new_tokens=4, temperature=0), None)
    eos, eot = _ids(base_like.model)
    assert eot in params["stop_token_ids"] and eos in params["stop_token_ids"]


def test_grpo_rollouts_stop_at_the_end_of_turn_and_the_saved_model_keeps_it(tmp_path: Path, monkeypatch,
                                                                            base_like, arithmetic_data) -> None:
    import trl

    seen = {}
    real_init = trl.GRPOTrainer.__init__

    def spy_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        seen["eos"] = list(self.eos_token_ids)

    monkeypatch.setattr(trl.GRPOTrainer, "__init__", spy_init)
    spec = GrpoStage(id="g", kind="grpo", model="m", data="d", steps=1, prompts_per_step=2, generations=2,
                     max_completion_tokens=4, backend="transformers")
    grpo.run(spec, {"model": base_like, "data": arithmetic_data}, StageContext(out=tmp_path))
    eos, eot = _ids(base_like.model)
    assert eot in seen["eos"] and eos in seen["eos"]
    saved = json.loads((tmp_path / "model" / "generation_config.json").read_text())["eos_token_id"]
    assert saved == [eos, eot]


def test_sft_saves_the_end_of_turn_into_the_generation_config(tmp_path: Path, base_like, arithmetic_data) -> None:
    spec = SftStage(id="s", kind="sft", model="m", data="d", target="answer", max_steps=1, batch_size=2,
                    max_length=64)
    sft.run(spec, {"model": base_like, "data": arithmetic_data}, StageContext(out=tmp_path))
    eos, eot = _ids(base_like.model)
    saved = json.loads((tmp_path / "model" / "generation_config.json").read_text())["eos_token_id"]
    assert saved == [eos, eot]
