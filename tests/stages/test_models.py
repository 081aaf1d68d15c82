"""Tiny model builds are deterministic, and model references fail fast and clearly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from schemas import Artifact, ModelStage
from stages import model as model_stage
from stages._context import StageContext, StageError
from stages._models import build_tiny, load_model, load_tokenizer


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path: Path) -> None:
    a, b, c = (build_tiny("qwen2", seed, tmp_path / name) for name, seed in (("a", 3), ("b", 3), ("c", 4)))
    weights = [(folder / "model.safetensors").read_bytes() for folder in (a, b, c)]
    assert weights[0] == weights[1]
    assert weights[0] != weights[2]
    assert (a / "tokenizer.json").read_bytes() == (c / "tokenizer.json").read_bytes()


@pytest.mark.parametrize(("preset", "model_type", "head_dim"),
                         [("qwen2-hd64", "qwen2", 64), ("llama", "llama", 16)])
def test_presets(tmp_path: Path, preset: str, model_type: str, head_dim: int) -> None:
    folder = build_tiny(preset, 0, tmp_path / preset)
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["model_type"] == model_type
    assert cfg["hidden_size"] // cfg["num_attention_heads"] == head_dim


def test_tiny_tokenizer_has_chat_template_eos_and_pad(tiny_model) -> None:
    tok = load_tokenizer(tiny_model)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<pad>" and tok.padding_side == "left"
    assert "{% generation %}" in tok.chat_template
    chat = [{"role": "user", "content": "1+1?"}]
    text = tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
    assert type(load_model(tiny_model)).__name__ == "Qwen2ForCausalLM"


def test_model_stage_builds_tiny(ctx: StageContext) -> None:
    summary = model_stage.run(ModelStage(id="m", model="tiny:llama"), {}, ctx)
    assert (ctx.out / "model" / "model.safetensors").is_file()
    assert summary["params"] > 50_000 and "ref" not in summary


def test_model_stage_local_folder_is_a_reference(ctx: StageContext, tiny_model) -> None:
    folder = Path(tiny_model.path) / "model"
    assert model_stage.run(ModelStage(id="m", model=str(folder)), {}, ctx) == {"ref": str(folder.resolve())}
    with pytest.raises(StageError, match="no config.json"):
        model_stage.run(ModelStage(id="m", model=str(ctx.out)), {}, ctx)


def test_hub_model_offline_fails_fast_naming_it(ctx: StageContext) -> None:
    start = time.monotonic()
    with pytest.raises(StageError, match=r"no-such-org/no-such-model.*HF_HUB_OFFLINE"):
        model_stage.run(ModelStage(id="m", model="no-such-org/no-such-model"), {}, ctx)
    with pytest.raises(StageError, match="no-such-org/no-such-model"):
        load_model("no-such-org/no-such-model")
    assert time.monotonic() - start < 5


def test_model_dtype_from_the_recipe_travels_with_the_artifact(tmp_path):
    spec = ModelStage(id="m", model={"source": "tiny:qwen2", "dtype": "bfloat16"})
    summary = model_stage.run(spec, {}, StageContext(out=tmp_path))
    assert summary["dtype"] == "bfloat16"
    artifact = Artifact(type="model", path=str(tmp_path), dtype=summary["dtype"])
    assert str(load_model(artifact).dtype) == "torch.bfloat16"
    assert str(load_model(artifact, "float32").dtype) == "torch.float32"
