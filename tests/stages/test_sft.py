"""SFT on the tiny model: steps change the weights, log to TensorBoard, LoRA merges or stays an adapter."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from schemas import Artifact, SftStage
from stages import sft
from stages._context import StageContext, StageError
from stages._data import read_rows
from stages._models import load_model, load_tokenizer


def _weights(folder: str | Path) -> dict:
    return {k: v.clone() for k, v in load_model(folder).state_dict().items()}


def _spec(**options) -> SftStage:
    base = {"id": "sft", "kind": "sft", "model": "m", "data": "d", "target": "answer", "max_steps": 3,
            "lr": 1e-2, "batch_size": 2, "max_length": 96, "save_steps": 50}
    return SftStage(**{**base, **options})


def _changed(before: dict, after: dict) -> bool:
    return any(not before[k].equal(after[k]) for k in before)


def test_full_sft_trains_saves_and_logs(tmp_path: Path, tiny_model: Artifact,
                                        arithmetic_data: Artifact) -> None:
    ctx = StageContext(out=tmp_path, tracking={"backend": "tensorboard"})
    summary = sft.run(_spec(), {"model": tiny_model, "data": arithmetic_data}, ctx)
    assert summary["steps"] == 3 and summary["rows"] == 6 and summary["train_loss"] > 0
    assert _changed(_weights(tiny_model.model), _weights(tmp_path / "model"))
    assert (tmp_path / "model" / "chat_template.jinja").is_file()
    assert list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))


def test_lora_merged_is_a_full_model(ctx: StageContext, tiny_model: Artifact,
                                     arithmetic_data: Artifact) -> None:
    sft.run(_spec(lora={"r": 4, "target_modules": ["q_proj", "v_proj"]}),
            {"model": tiny_model, "data": arithmetic_data}, ctx)
    files = {p.name for p in (ctx.out / "model").iterdir()}
    assert "model.safetensors" in files and "adapter_config.json" not in files
    after = _weights(ctx.out / "model")
    assert not any("lora" in k for k in after)
    assert _changed(_weights(tiny_model.model), after)


def test_lora_unmerged_keeps_adapter_and_base(ctx: StageContext, tiny_model: Artifact,
                                               arithmetic_data: Artifact) -> None:
    sft.run(_spec(lora={"r": 4, "merge": False}), {"model": tiny_model, "data": arithmetic_data}, ctx)
    files = {p.name for p in (ctx.out / "model").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "base.json", "tokenizer.json"} <= files
    assert _changed(_weights(tiny_model.model), _weights(ctx.out / "model"))  # loads base + merges adapter


def test_resumes_from_a_checkpoint(ctx: StageContext, tiny_model: Artifact, arithmetic_data: Artifact) -> None:
    inputs = {"model": tiny_model, "data": arithmetic_data}
    assert not sft.run(_spec(max_steps=2, save_steps=1), inputs, ctx)["resumed"]  # killed before the commit
    summary = sft.run(_spec(max_steps=3, save_steps=1), inputs, ctx)
    assert summary["resumed"] and summary["resumed_from_step"] == 2 and summary["steps"] == 3


def test_rows_without_response_need_target_answer(ctx: StageContext, tiny_model, arithmetic_data) -> None:
    with pytest.raises(StageError, match="target: answer"):
        sft.run(_spec(target="response"), {"model": tiny_model, "data": arithmetic_data}, ctx)


@pytest.mark.parametrize("template", ["no-markers", "none"])
def test_templates_without_generation_markers_train_on_completions(
    tmp_path: Path, tiny_model: Artifact, arithmetic_data: Artifact, template: str
) -> None:
    folder = tmp_path / "base"
    shutil.copytree(tiny_model.path, folder)
    jinja = folder / "model" / "chat_template.jinja"
    if template == "none":
        jinja.unlink()
    else:
        jinja.write_text(jinja.read_text().replace("{% generation %}", "").replace("{% endgeneration %}", ""))
    base = Artifact(type="model", path=str(folder))
    tok = load_tokenizer(base)
    rows, assistant_only = sft.training_rows(_spec(), read_rows(arithmetic_data.rows), tok)
    assert not assistant_only and {"prompt", "completion"} == set(rows[0])
    assert isinstance(rows[0]["prompt"], str) == (template == "none")
    ctx = StageContext(out=tmp_path / "out")
    summary = sft.run(_spec(max_steps=2), {"model": base, "data": arithmetic_data}, ctx)
    assert summary["steps"] == 2
    assert _changed(_weights(base.model), _weights(ctx.out / "model"))
